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

/** The canonical name, as GluonCV spells the zoo: resnet50_v1b, resnext50_32x4d, plain18, cifar_resnet20_v1b. */
export function archName(spec: ResNetSpec): string {
  const depth = depthOf(spec);
  if (spec.stem === 'cifar') {
    const gray = (spec.inChannels ?? 3) === 1 ? 'gray_' : '';
    const grouped = spec.block === 'basic' && spec.groups > 1 ? `_g${spec.groups}` : '';
    return `cifar_${gray}${spec.family === 'plain' ? 'plain' : 'resnet'}${depth}${grouped}${spec.family === 'plain' ? '' : `_${spec.family.slice(7)}`}`;
  }
  if (spec.family === 'plain') return `plain${depth}`;
  if (spec.family === 'resnet_v2_keras') return `keras_resnet${depth}_v2`;
  if (spec.groups > 1) return `resnext${depth}_${spec.groups}x${spec.widthPerGroup}d`;
  return `resnet${depth}_${spec.family.slice('resnet_'.length)}`;
}

const DEPTHS: Record<number, { block: 'basic' | 'bottleneck'; layers: number[] }> = {
  18: { block: 'basic', layers: [2, 2, 2, 2] },
  34: { block: 'basic', layers: [3, 4, 6, 3] },
  50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
};

/** Parses a zoo name (resnet50_v1b, resnext50_32x4d, plain18, cifar_resnet20_v1b) into a spec. */
export function specFromName(name: string, numClasses = 1000): ResNetSpec {
  let m = /^resnet(\d+)_(v1|v1b|v2)$/.exec(name);
  if (m) {
    const d = DEPTHS[Number(m[1])];
    if (d) return { family: `resnet_${m[2]}` as ResNetFamily, ...d, groups: 1, widthPerGroup: 64, numClasses, stem: 'imagenet' };
  }
  m = /^resnext(\d+)_(\d+)x(\d+)d$/.exec(name);
  if (m) {
    const d = DEPTHS[Number(m[1])];
    if (d && d.block === 'bottleneck') return { family: 'resnet_v1b', ...d, groups: Number(m[2]), widthPerGroup: Number(m[3]), numClasses, stem: 'imagenet' };
  }
  m = /^keras_resnet(\d+)_v2$/.exec(name);
  if (m) {
    const d = DEPTHS[Number(m[1])];
    if (d && d.block === 'bottleneck') return { family: 'resnet_v2_keras', ...d, groups: 1, widthPerGroup: 64, numClasses, stem: 'imagenet' };
  }
  m = /^plain(\d+)$/.exec(name);
  if (m) {
    const d = DEPTHS[Number(m[1])];
    if (d && d.block === 'basic') return { family: 'plain', ...d, groups: 1, widthPerGroup: 64, numClasses, stem: 'imagenet' };
  }
  m = /^cifar_resnet(\d+)_(v1|v1b|v2)$/.exec(name);
  if (m && (Number(m[1]) - 2) % 6 === 0 && Number(m[1]) >= 8) {
    const n = (Number(m[1]) - 2) / 6;
    return { family: `resnet_${m[2]}` as ResNetFamily, block: 'basic', layers: [n, n, n], groups: 1, widthPerGroup: 64, numClasses: numClasses === 1000 ? 10 : numClasses, stem: 'cifar' };
  }
  throw new DoconvError('BAD_ARGUMENT', `unknown architecture '${name}'; zoo names are resnet{18,34,50,101,152}_{v1,v1b,v2}, resnext50_32x4d, plain18, keras_resnet{50,101,152}_v2, cifar_resnet{20,32,44,56,110}_v1b`);
}
