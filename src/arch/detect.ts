import { DoconvError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ParamSource } from './naming.js';
import type { ResNetFamily, ResNetSpec } from './spec.js';

/** Stages a ResNet may have; stage numbers in key names beyond it are refused, not allocated. */
const MAX_STAGES = 64;

export interface Detection {
  spec: ResNetSpec;
  naming: 'torchvision';
  /** What the keys could not tell and was assumed (shown by `inspect`). */
  assumptions: string[];
}

function shapeOf(source: ParamSource, key: string): readonly number[] {
  const t: Tensor | undefined = source.get(key);
  if (t === undefined) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `expected '${key}' for a ResNet-family network`, { key });
  return t.shape;
}

/**
 * Recognises a ResNet-family network from torchvision-style keys (conv1, bn1, layer{i}.{j}.*, fc) and
 * their shapes: block type, blocks per stage, groups and width, stem, classes, and whether it has
 * shortcuts. Returns undefined when the keys are not of this naming at all; throws, naming the key,
 * when they are but something does not fit.
 */
export function detectTorchvisionResNet(source: ParamSource): Detection | undefined {
  const keys = source.keys();
  if (!keys.includes('conv1.weight') || !keys.includes('fc.weight') || !keys.some((k) => k.startsWith('layer1.0.'))) return undefined;
  const blocks: number[] = [];
  for (const k of keys) {
    const m = /^layer(\d+)\.(\d+)\./.exec(k);
    if (m === null) continue;
    const s = Number(m[1]) - 1;
    // Stage numbers come from key names: bounded, so `layer99999999` cannot make a huge sparse array.
    if (s < 0 || s >= MAX_STAGES) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `stage number ${m[1]} is outside 1..${MAX_STAGES}`, { key: k });
    blocks[s] = Math.max(blocks[s] ?? 0, Number(m[2]) + 1);
  }
  for (let s = 0; s < blocks.length; s++) {
    if (blocks[s] === undefined) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `the checkpoint has layer${blocks.length} but no layer${s + 1}`, { key: `layer${s + 1}` });
  }
  const bottleneck = keys.includes('layer1.0.conv3.weight');
  const stemShape = shapeOf(source, 'conv1.weight');
  const stem = stemShape[2] === 7 ? 'imagenet' : stemShape[2] === 3 ? 'cifar' : undefined;
  if (stem === undefined) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `stem kernel ${stemShape[2]}x${stemShape[3]} is neither 7x7 (ImageNet) nor 3x3 (CIFAR)`, { key: 'conv1.weight' });
  const base = stem === 'imagenet' ? 64 : 16;
  let groups = 1;
  let widthPerGroup = 64;
  if (!bottleneck) {
    const c2 = shapeOf(source, 'layer1.0.conv2.weight');
    groups = c2[0]! / c2[1]!;
    if (!Number.isInteger(groups)) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `layer1.0.conv2 has ${c2[0]} outputs and ${c2[1]} inputs per group`, { key: 'layer1.0.conv2.weight' });
  } else {
    const c2 = shapeOf(source, 'layer1.0.conv2.weight');
    const width = c2[0]!;
    groups = width / c2[1]!;
    if (!Number.isInteger(groups)) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `layer1.0.conv2 has ${width} outputs and ${c2[1]} inputs per group`, { key: 'layer1.0.conv2.weight' });
    widthPerGroup = (width * 64) / (base * groups);
  }
  const hasShortcuts = keys.some((k) => k.includes('.downsample.'));
  const numClasses = shapeOf(source, 'fc.weight')[0]!;
  const inChannels = stemShape[1]!;
  const spec: ResNetSpec = { family: hasShortcuts ? 'resnet_v1b' : 'plain', block: bottleneck ? 'bottleneck' : 'basic', layers: blocks, groups, widthPerGroup, numClasses, stem, ...(inChannels !== 3 ? { inChannels } : {}) };
  const assumptions: string[] = [];
  if (hasShortcuts && bottleneck && groups === 1) {
    assumptions.push('torchvision names cannot tell ResNet v1 from v1b; assumed v1b (stride on the 3x3 conv, as torchvision builds it); --arch resnetNN_v1 overrides');
  }
  if (!hasShortcuts) assumptions.push('no downsample branches: taken as a Plain network (no shortcuts)');
  return { spec, naming: 'torchvision', assumptions };
}

/**
 * Recognises GluonCV model-zoo names (see naming-gluon.ts): ResNetV1 / ResNeXt (`features.4.0.body.0`),
 * ResNetV2 (`features.5.0.conv1`, an input BatchNorm at features.0) and ResNetV1b (torchvision-like
 * names with gamma/beta). Returns undefined when the keys are not GluonCV's.
 */
export function detectGluonResNet(source: ParamSource): { spec: ResNetSpec; assumptions: string[] } | undefined {
  const keys = source.keys();
  if (keys.includes('conv1.weight') && keys.includes('bn1.gamma')) {
    // ResNetV1b: torchvision's layout under Gluon's BatchNorm names.
    const renamed = new Map<string, Tensor>();
    for (const k of keys) renamed.set(k.replace(/\.gamma$/, '.weight').replace(/\.beta$/, '.bias'), source.get(k)!);
    const d = detectTorchvisionResNet({ get: (k) => renamed.get(k), keys: () => [...renamed.keys()] });
    return d === undefined ? undefined : { spec: d.spec, assumptions: d.spec.groups > 1 ? [] : ['GluonCV ResNetV1b names (conv1, layer1..., fc)'] };
  }
  if (!keys.includes('output.weight') || (!keys.includes('features.0.weight') && !keys.includes('features.0.running_mean'))) return undefined;
  const v2 = keys.includes('features.0.running_mean') && !keys.includes('features.0.weight');
  const base = v2 ? 5 : 4;
  const blocks: number[] = [];
  for (const k of keys) {
    const m = /^features\.(\d+)\.(\d+)\./.exec(k);
    if (m === null) continue;
    const s = Number(m[1]) - base;
    // Blocks before features.4 (v1) / features.5 (v2), where the ImageNet stem's ReLU and max-pool
    // sit: another naming (GluonCV's CIFAR ResNets start their blocks at features.2).
    if (s < 0) return undefined;
    if (s >= MAX_STAGES) return undefined;
    blocks[s] = Math.max(blocks[s] ?? 0, Number(m[2]) + 1);
  }
  if (blocks.length === 0 || blocks.some((b) => b === undefined)) return undefined;
  const first = (name: string) => source.get(`features.${base}.0.${name}`);
  const bottleneck = v2 ? first('conv3.weight') !== undefined : first('body.6.weight') !== undefined;
  const c2 = (v2 ? first('conv2.weight') : first('body.3.weight'))?.shape;
  if (c2 === undefined) throw new DoconvError('DOCONV_SHAPE_MISMATCH', 'GluonCV names without the first block\'s 3x3 convolution', { key: `features.${base}.0` });
  const groups = bottleneck ? c2[0]! / c2[1]! : 1;
  const widthPerGroup = bottleneck ? (c2[0]! * 64) / (64 * groups) : 64;
  const numClasses = source.get('output.weight')!.shape[0]!;
  const family: ResNetFamily = v2 ? 'resnet_v2' : groups > 1 ? 'resnet_v1b' : 'resnet_v1';
  const spec: ResNetSpec = { family, block: bottleneck ? 'bottleneck' : 'basic', layers: blocks, groups, widthPerGroup, numClasses, stem: 'imagenet' };
  return { spec, assumptions: [`GluonCV ${v2 ? 'ResNetV2' : groups > 1 ? 'ResNeXt' : 'ResNetV1'} names (features.N..., output)`] };
}

/** The families graph outputs are built for, as one clause of the unrecognised-network message. */
const SUPPORTED_FOR_GRAPHS =
  'ONNX and TensorFlow.js are built only for ResNet v1/v1b/v2, ResNeXt and Plain networks (ImageNet or CIFAR stems) ' +
  'in torchvision names (conv1, layer1.0.conv1, ..., fc), Keras applications names (conv1_conv, conv2_block1_1_conv, ..., predictions) ' +
  'or GluonCV ImageNet names (features.0, features.4.0.body.0, ..., output), for Keras Sequential models and the DO-Conv MNIST sample (conv1..convN)';

const FUSED_ANY = 'A fused checkpoint works for any network (pth, safetensors and npz outputs, and .h5/.params across frameworks): convert with -o x.pth instead';

/** The parameter names of a checkpoint, summarised by module: `conv1, bn1, layer1 (18 tensors), linear`. */
function keySummary(keys: readonly string[], separator: '.' | '/'): string {
  const group = (depth: number): Map<string, number> => {
    const m = new Map<string, number>();
    for (const k of keys) {
      const parts = k.split(separator);
      const name = parts.slice(0, Math.min(depth, parts.length - 1) || 1).join(separator);
      m.set(name, (m.get(name) ?? 0) + 1);
    }
    return m;
  };
  if (!keys.some((k) => k.includes(separator))) {
    // flat names (MXNet symbol names such as res_2_block0_conv_sep_conv2d_weight): a few examples
    return `${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ', ...' : ''} (names without module paths)`;
  }
  let groups = group(1);
  if (groups.size < 3) groups = group(2);
  const shown = [...groups].slice(0, 10).map(([name, n]) => (n > 1 ? `${name} (${n})` : name));
  const more = groups.size - shown.length;
  return `${shown.join(', ')}${more > 0 ? `, and ${more} more` : ''}`;
}

/** Why the keys are not the torchvision naming, when they come close to it. */
function torchvisionMiss(keys: readonly string[]): string | undefined {
  const need: [boolean, string][] = [
    [keys.includes('conv1.weight'), 'conv1.weight'],
    [keys.some((k) => k.startsWith('layer1.0.')), 'layer1.0.*'],
    [keys.includes('fc.weight'), 'fc.weight'],
  ];
  const missing = need.filter(([has]) => !has).map(([, name]) => name);
  if (missing.length === need.length) return undefined;
  const classifier = keys.filter((k) => /\.weight$/.test(k)).pop();
  const head = missing.includes('fc.weight') && classifier !== undefined ? ` (the last weight is '${classifier}')` : '';
  return `torchvision-like names without ${missing.join(' or ')}${head}`;
}

/** Why GluonCV names are not the ImageNet zoo's: its CIFAR ResNets put blocks at features.2. */
function gluonMiss(source: ParamSource): string | undefined {
  const keys = source.keys();
  if (!keys.some((k) => k.startsWith('features.'))) return undefined;
  const stem = source.get('features.0.weight') ?? source.get('features.1.weight');
  const firstBlock = keys.map((k) => /^features\.(\d+)\.\d+\./.exec(k)?.[1]).find((m) => m !== undefined);
  if (stem !== undefined && stem.shape.length === 4 && stem.shape[2] === 3 && firstBlock !== undefined && Number(firstBlock) < 4) {
    return `GluonCV CIFAR ResNet names (a ${stem.shape[2]}x${stem.shape[3]} stem of ${stem.shape[0]} channels, blocks from features.${firstBlock}), not the GluonCV ImageNet ResNets the zoo builds`;
  }
  return undefined;
}

/** What kind of Keras model the config describes, by its layer classes. */
function kerasConfigSummary(config: unknown): string | undefined {
  const c = config as { class_name?: unknown; config?: { layers?: unknown } } | undefined;
  if (c === undefined || c === null || typeof c.class_name !== 'string') return undefined;
  const counts = new Map<string, number>();
  const visit = (layers: unknown, depth: number): void => {
    if (!Array.isArray(layers) || depth > 64) return;
    for (const l of layers as { class_name?: unknown; config?: { layers?: unknown } }[]) {
      if (typeof l?.class_name !== 'string') continue;
      if (Array.isArray(l.config?.layers)) visit(l.config.layers, depth + 1);
      else counts.set(l.class_name, (counts.get(l.class_name) ?? 0) + 1);
    }
  };
  visit(c.config?.layers, 0);
  const classes = [...counts].map(([name, n]) => (n > 1 ? `${name} x${n}` : name)).join(', ');
  const kind = c.class_name === 'Model' || c.class_name === 'Functional' ? 'functional' : c.class_name;
  return `a Keras ${kind} model${classes ? ` of ${classes}` : ''}, neither a Sequential model nor keras.applications ResNet names`;
}

/**
 * The one-line reason a checkpoint's network is not one graphs are built for: the parameter names
 * found (by module), how they miss the closest supported naming, what is supported, and what the
 * user can do now.
 */
export function unrecognisedNetwork(source: ParamSource, framework: 'pytorch' | 'keras' | 'gluon', config?: unknown): string {
  const keys = source.keys();
  const found = `found ${keys.length} parameters: ${keySummary(keys, framework === 'keras' ? '/' : '.')}`;
  const miss = framework === 'keras' ? kerasConfigSummary(config) : framework === 'gluon' ? (gluonMiss(source) ?? torchvisionMiss(keys.map((k) => k.replace(/\.gamma$/, '.weight')))) : torchvisionMiss(keys);
  return `not a network of the zoo: ${found}${miss !== undefined ? `; ${miss}` : ''}. ${SUPPORTED_FOR_GRAPHS}. ${FUSED_ANY}`;
}
