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
    if (s < 0) continue;
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
