import { Tensor } from '../tensor/tensor.js';
import { hwioToOihw, transpose2d } from '../tensor/layout.js';
import { kerasLeaf, kerasWeightGroups, type KerasLayerConfig } from '../readers/keras-weights.js';
import { PARAM_NAMES, type NamingScheme, type ParamSource } from './naming.js';
import type { ResNetSpec } from './spec.js';

/**
 * Keras applications' ResNet names (keras/applications/resnet.py, stack1/block1): conv1_conv,
 * conv1_bn, conv{s+2}_block{b+1}_{0..3}_{conv,bn}, predictions. Keras weights are addressed here as
 * `<layer>/<role>` through kerasParamSource, which also turns kernels into the neutral layouts.
 */
/**
 * keras.applications block names: conv{s+2}_block{b+1}_<part>, with `part` from the structural
 * name by `parts`; stem and head names shared by both ResNet generations.
 */
function applicationsNaming(name: string, parts: Record<string, string>, head: Record<string, string>): NamingScheme {
  return {
    name,
    epsilon: 1.001e-5,
    key(struct, role) {
      const fixed = head[struct];
      if (fixed !== undefined) return `${fixed}/${role}`;
      const m = /^s(\d+)\.b(\d+)\.(.+)$/.exec(struct);
      const part = m ? parts[m[3]!] : undefined;
      if (m === null || part === undefined) throw new Error(`no ${name} name for ${struct}`);
      return `conv${Number(m[1]) + 2}_block${Number(m[2]) + 1}_${part}/${role}`;
    },
  };
}

/** keras.applications ResNet (stack1/block1): conv1_conv, conv1_bn, conv2_block1_{0..3}_{conv,bn}, predictions. */
export const kerasApplicationsNaming = applicationsNaming(
  'keras-applications',
  { 'down.conv': '0_conv', 'down.bn': '0_bn', conv1: '1_conv', bn1: '1_bn', conv2: '2_conv', bn2: '2_bn', conv3: '3_conv', bn3: '3_bn' },
  { 'stem.conv': 'conv1_conv', 'stem.bn': 'conv1_bn', 'head.fc': 'predictions' },
);

/** keras.applications ResNetV2 (stack2/block2): `_preact_bn`, `_1_conv`, `_1_bn`, ..., `post_bn`. */
export const kerasApplicationsV2Naming = applicationsNaming(
  'keras-applications-v2',
  { bn1: 'preact_bn', 'down.conv': '0_conv', conv1: '1_conv', bn2: '1_bn', conv2: '2_conv', bn3: '2_bn', conv3: '3_conv' },
  { 'stem.conv': 'conv1_conv', 'head.bn': 'post_bn', 'head.fc': 'predictions' },
);

/** Keras 2 weight names back to roles: kernel -> weight, moving_mean -> mean, ... */
const KERAS2_ROLE: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(PARAM_NAMES.keras).map(([role, name]) => [name, role]));

/**
 * Keras weights as `<layer>/<role>` with neutral layouts: plain Conv2D kernels HWIO -> OIHW, Dense
 * (in, out) -> (out, in), turned on first read; fused DO-Conv kernels (`fused`) already are OIHW.
 * Roles come from readers/keras-weights.ts (Keras 2 names; Keras 3 `vars/<i>` by the layer's class
 * and config in `configs`, else by position and shape). Weights of no known role keep their own
 * name (`<layer>/depthwise_kernel`, `<layer>/7`); optimizer variables are left out.
 */
export function kerasParamSource(source: ParamSource, fused: ReadonlySet<string>, configs: ReadonlyMap<string, KerasLayerConfig> = new Map()): ParamSource {
  const map = new Map<string, Tensor>();
  const entries = source.keys().map((k): [string, Tensor] => [k, source.get(k)!]);
  for (const g of kerasWeightGroups(entries, configs)) {
    for (const { key, role: kerasRole, tensor: t } of g.weights) {
      const role = kerasRole !== undefined && Object.hasOwn(KERAS2_ROLE, kerasRole) ? KERAS2_ROLE[kerasRole]! : undefined;
      if (role === undefined) {
        map.set(`${g.layer}/${kerasRole ?? kerasLeaf(key)}`, t);
        continue;
      }
      const turn = role === 'weight' && !fused.has(key) ? (t.shape.length === 4 ? hwioToOihw : t.shape.length === 2 ? transpose2d : undefined) : undefined;
      const shape = turn === hwioToOihw ? [t.shape[3]!, t.shape[2]!, t.shape[0]!, t.shape[1]!] : turn === transpose2d ? [t.shape[1]!, t.shape[0]!] : t.shape;
      map.set(`${g.layer}/${role}`, turn === undefined ? t : new Tensor(t.dtype, shape, () => turn(t).bytes()));
    }
  }
  return { get: (k) => map.get(k), keys: () => [...map.keys()] };
}

/** Keras applications ResNet (v1) from its layer names; ResNetV2's different structure is named and refused. */
export function detectKerasApplicationsResNet(source: ParamSource): { spec: ResNetSpec; assumptions: string[] } | undefined {
  const keys = source.keys();
  if (!keys.includes('conv1_conv/weight') || !keys.includes('predictions/weight')) return undefined;
  const v2 = keys.some((k) => /_preact_bn\//.test(k));
  const layers: number[] = [];
  for (const k of keys) {
    const m = /^conv(\d)_block(\d+)_1_conv\//.exec(k);
    if (m) layers[Number(m[1]) - 2] = Math.max(layers[Number(m[1]) - 2] ?? 0, Number(m[2]));
  }
  if (layers.length !== 4 || layers.some((n) => n === undefined)) return undefined;
  const numClasses = source.get('predictions/weight')!.shape[0]!;
  return {
    spec: { family: v2 ? 'resnet_v2_keras' : 'resnet_v1', block: 'bottleneck', layers, groups: 1, widthPerGroup: 64, numClasses, stem: 'imagenet' },
    assumptions: [`Keras applications ${v2 ? 'ResNetV2' : 'ResNet'} names (conv1_conv, conv2_block1_1_conv, ..., predictions); logits before the softmax Keras applies`],
  };
}
