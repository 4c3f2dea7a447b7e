import { DoconvError } from '../errors.js';

/**
 * The ResNet family of the DO-Conv paper's table, as structure only (no parameter names):
 * - resnet_v1  (GluonCV ResNetV1): post-activation, bottleneck stride on the first 1x1 conv;
 * - resnet_v1b (torchvision ResNet, GluonCV ResNetV1b): post-activation, stride on the 3x3 conv;
 * - resnet_v2  (GluonCV ResNetV2): pre-activation; input BatchNorm without scale/shift, BN-ReLU
 *   before each conv, 1x1 projection shortcuts without BN, a final BN-ReLU before pooling;
 * - plain: the v1b network with every identity shortcut and downsample branch removed (each block
 *   is conv-BN-ReLU-conv-BN-ReLU; the first block of a stage changes width and stride itself).
 * - resnet_v2_keras (keras.applications ResNetV2, stack2/block2): pre-activation too, but a stage's
 *   first block has a 1x1 conv shortcut at stride 1 and its last block strides (shortcut: a 1x1
 *   max-pool), the stem zero-pads before max-pooling and has no BN-ReLU.
 * ResNeXt is resnet_v1b with groups > 1. `stem: 'cifar'` is the 3x3 stride-1 stem without max-pool
 * of CIFAR ResNets (He et al. 2016, section 4.2), with stage widths 16/32/64.
 */
export type ResNetFamily = 'resnet_v1' | 'resnet_v1b' | 'resnet_v2' | 'plain' | 'resnet_v2_keras';

export interface ResNetSpec {
  family: ResNetFamily;
  block: 'basic' | 'bottleneck';
  /** Blocks per stage. */
  layers: number[];
  groups: number;
  widthPerGroup: number;
  numClasses: number;
  stem: 'imagenet' | 'cifar';
  /** Image channels (default 3; 1 for grayscale digits). */
  inChannels?: number;
}

export interface Preprocessing {
  inputSize: [number, number];
  layout: 'NCHW' | 'NHWC';
  mean: [number, number, number];
  std: [number, number, number];
  resize: number;
  crop: number;
}

const IMAGENET: Preprocessing = { inputSize: [224, 224], layout: 'NCHW', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 256, crop: 224 };
const CIFAR: Preprocessing = { inputSize: [32, 32], layout: 'NCHW', mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616], resize: 32, crop: 32 };

export function preprocessingOf(spec: ResNetSpec): Preprocessing {
  if ((spec.inChannels ?? 3) === 1) return { ...CIFAR, inputSize: [28, 28], resize: 28, crop: 28, mean: [0, 0, 0], std: [1, 1, 1] };
  return spec.stem === 'cifar' ? CIFAR : IMAGENET;
}

/** Channels per stage before expansion: 64..512 (ImageNet) or 16..64 (CIFAR). */
export function stagePlanes(spec: ResNetSpec): number[] {
  const base = spec.stem === 'cifar' ? 16 : 64;
  return spec.layers.map((_, i) => base * 2 ** i);
}

export function depthOf(spec: ResNetSpec): number {
  const blocks = spec.layers.reduce((a, b) => a + b, 0);
  return (spec.block === 'basic' ? 2 : 3) * blocks + 2;
}

/**
 * Blocks per stage of the standard ImageNet depths (He et al. 2016, table 1), and the small ones
 * timm and the test fixtures use (10 and 14: one block per stage; 26: two bottlenecks per stage).
 */
const DEPTHS: Record<number, { block: 'basic' | 'bottleneck'; layers: number[] }> = {
  10: { block: 'basic', layers: [1, 1, 1, 1] },
  14: { block: 'bottleneck', layers: [1, 1, 1, 1] },
  26: { block: 'bottleneck', layers: [2, 2, 2, 2] },
  18: { block: 'basic', layers: [2, 2, 2, 2] },
  34: { block: 'basic', layers: [3, 4, 6, 3] },
  50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
};

/** The block and layers a depth means without an `_l` suffix: the table above, or CIFAR's 6n+2 basic nets. */
function defaultLayers(stem: ResNetSpec['stem'], depth: number): { block: 'basic' | 'bottleneck'; layers: number[] } | undefined {
  if (stem === 'imagenet') return DEPTHS[depth];
  if (depth >= 8 && (depth - 2) % 6 === 0) {
    const n = (depth - 2) / 6;
    return { block: 'basic', layers: [n, n, n] };
  }
  return undefined;
}

const sameLayers = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The name of a spec, which specFromName turns back into the same spec (numClasses apart: it comes
 * from the checkpoint). The zoo's names as GluonCV spells them (resnet50_v1b, resnext50_32x4d,
 * plain18, cifar_resnet20_v1b, keras_resnet50_v2), with modifiers for what they cannot say:
 *   cifar_            the CIFAR stem (3x3 stride 1, no max-pool, widths 16/32/64...)
 *   gray_ | cN_       1 (or N) input channels instead of 3
 *   _GxWd             bottleneck groups x width per group other than 1x64 (resnext names it first)
 *   _lA-B-C...        blocks per stage, where the depth alone does not give them
 *   _gG               basic blocks whose second 3x3 conv has G groups
 *   _v1 | _v1b | _v2  the version (plain has none; resnext is v1b unless it says otherwise)
 * e.g. cifar_gray_resnet8_g4_v1b, cifar_plain20, resnet20_l3-3-3_v1b, resnext50_1x128d.
 */
export function archName(spec: ResNetSpec): string {
  const depth = depthOf(spec);
  const cifar = spec.stem === 'cifar' ? 'cifar_' : '';
  const cin = spec.inChannels ?? 3;
  const channels = cin === 3 ? '' : cin === 1 ? 'gray_' : `c${cin}_`;
  const wide = spec.block === 'bottleneck' && (spec.groups !== 1 || spec.widthPerGroup !== 64) ? `_${spec.groups}x${spec.widthPerGroup}d` : '';
  const std = defaultLayers(spec.stem, depth);
  const layers = std !== undefined && std.block === spec.block && sameLayers(std.layers, spec.layers) ? '' : `_l${spec.layers.join('-')}`;
  const grouped = spec.block === 'basic' && spec.groups > 1 ? `_g${spec.groups}` : '';
  const rest = `${layers}${grouped}`;
  switch (spec.family) {
    case 'plain':
      return `${cifar}${channels}plain${depth}${wide}${rest}`;
    case 'resnet_v2_keras':
      return `${cifar}${channels}keras_resnet${depth}${wide}${rest}_v2`;
    default: {
      const version = spec.family.slice('resnet_'.length);
      if (wide !== '' && spec.family === 'resnet_v1b') return `${cifar}${channels}resnext${depth}${wide}${rest}`;
      return `${cifar}${channels}${wide !== '' ? 'resnext' : 'resnet'}${depth}${wide}${rest}_${version}`;
    }
  }
}

/** Bounds on what a name may ask for: a name is user input, and the builder allocates per stage and block. */
const MAX_NAME_STAGES = 64;
const MAX_NAME_BLOCKS = 10_000;
const MAX_NAME_WIDTH = 1 << 16;

const NAME = /^(cifar_)?(?:(gray_)|c(\d+)_)?(keras_)?(resnet|resnext|plain)(\d+)(?:_(\d+)x(\d+)d)?(?:_l(\d+(?:-\d+)*))?(?:_g(\d+))?(?:_(v1b|v1|v2))?$/;

const NAMES_HELP =
  'zoo names are resnet{18,34,50,101,152}_{v1,v1b,v2}, resnext50_32x4d, plain18, keras_resnet{50,101,152}_v2, cifar_resnet{20,32,44,56,110}_v1b, ' +
  'with the modifiers `doconv-zoo inspect` prints: cifar_ and gray_ (or cN_) prefixes, _GxWd, _lA-B-C (blocks per stage), _gG (grouped basic blocks)';

/**
 * Parses a name archName writes (or the zoo's: resnet50_v1b, resnext50_32x4d, plain18,
 * cifar_resnet20_v1b) into a spec. `numClasses` comes from the checkpoint; CIFAR names default to 10.
 */
export function specFromName(name: string, numClasses = 1000): ResNetSpec {
  const bad = (why: string): never => {
    throw new DoconvError('BAD_ARGUMENT', `unknown architecture '${name}' (${why}); ${NAMES_HELP}`);
  };
  const m = NAME.exec(name);
  if (m === null) return bad('not of the form the zoo names take');
  const [, cifar, gray, cinText, keras, kind, depthText, groupsText, widthText, layersText, basicGroupsText, version] = m;
  const stem = cifar !== undefined ? 'cifar' : 'imagenet';
  const depth = Number(depthText);
  const inChannels = gray !== undefined ? 1 : cinText !== undefined ? Number(cinText) : 3;
  let block: 'basic' | 'bottleneck';
  let layers: number[];
  if (layersText !== undefined) {
    layers = layersText.split('-').map(Number);
    if (layers.length > MAX_NAME_STAGES || layers.some((n) => n < 1 || n > MAX_NAME_BLOCKS)) return bad(`at most ${MAX_NAME_STAGES} stages of 1..${MAX_NAME_BLOCKS} blocks`);
    const blocks = layers.reduce((a, b) => a + b, 0);
    if (depth === 2 * blocks + 2) block = 'basic';
    else if (depth === 3 * blocks + 2) block = 'bottleneck';
    else return bad(`depth ${depth} is neither 2 x ${blocks} + 2 (basic blocks) nor 3 x ${blocks} + 2 (bottleneck blocks)`);
  } else {
    const d = defaultLayers(stem, depth);
    if (d === undefined) return bad(stem === 'cifar' ? `a CIFAR depth is 6n+2 (n >= 1) unless _lA-B-C gives the blocks` : `depth ${depth} is not one of ${Object.keys(DEPTHS).join(', ')} unless _lA-B-C gives the blocks`);
    ({ block, layers } = { block: d.block, layers: [...d.layers] });
  }
  if (kind === 'resnext' && groupsText === undefined) return bad('resnext names say groups x width, e.g. resnext50_32x4d');
  if (groupsText !== undefined && block !== 'bottleneck') return bad('groups x width is for bottleneck blocks; basic blocks take _gG');
  if (basicGroupsText !== undefined && block !== 'basic') return bad('_gG is for basic blocks; bottleneck blocks take _GxWd');
  let family: ResNetFamily;
  if (keras !== undefined) {
    if (kind !== 'resnet' || version !== 'v2') return bad('Keras names are keras_resnetNN_v2');
    family = 'resnet_v2_keras';
  } else if (kind === 'plain') {
    if (version !== undefined) return bad('plain networks have no version');
    family = 'plain';
  } else if (version !== undefined) family = `resnet_${version}` as ResNetFamily;
  else if (kind === 'resnext') family = 'resnet_v1b';
  else return bad('a version is needed: _v1, _v1b or _v2');
  const groups = groupsText !== undefined ? Number(groupsText) : basicGroupsText !== undefined ? Number(basicGroupsText) : 1;
  const widthPerGroup = widthText !== undefined ? Number(widthText) : 64;
  for (const [what, v] of [['groups', groups], ['width per group', widthPerGroup], ['input channels', inChannels]] as const) {
    if (v < 1 || v > MAX_NAME_WIDTH) return bad(`${what} must be 1..${MAX_NAME_WIDTH}`);
  }
  if (groupsText !== undefined && groups === 1 && widthPerGroup === 64) return bad('1x64d is the plain bottleneck width; leave it out');
  if (basicGroupsText !== undefined && groups === 1) return bad('_g1 is the default; leave it out');
  if (cinText !== undefined && (inChannels === 1 || inChannels === 3)) return bad(inChannels === 1 ? 'one input channel is written gray_' : 'three input channels are the default; leave c3_ out');
  const classes = stem === 'cifar' && numClasses === 1000 ? 10 : numClasses;
  return { family, block, layers, groups, widthPerGroup, numClasses: classes, stem, ...(inChannels !== 3 ? { inChannels } : {}) };
}
