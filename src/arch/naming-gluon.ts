import { PARAM_NAMES, type NamingScheme } from './naming.js';
import { gluonV1bNaming } from './naming-torchvision.js';
import type { ResNetSpec } from './spec.js';

/**
 * A Gluon parameter's name as the network knows it: MXNet Module checkpoints (`save_checkpoint`,
 * `HybridBlock.export`) prefix arguments with `arg:` and auxiliary states (BatchNorm statistics)
 * with `aux:`; save_parameters files have neither.
 */
export function gluonParamName(key: string): string {
  return key.replace(/^(arg|aux):/, '');
}


/** Body positions of GluonCV's V1 blocks (and ResNeXt's): conv, BN, ReLU, conv, BN, ReLU, conv, BN. */
const V1_BODY: Record<string, number> = { conv1: 0, bn1: 1, conv2: 3, bn2: 4, conv3: 6, bn3: 7 };

/**
 * GluonCV model-zoo parameter names as `save_parameters` writes them (gluoncv/model_zoo/resnet.py,
 * resnetv1b.py, resnext.py):
 * - ResNetV1 and ResNeXt: features.0 (conv), features.1 (BN), features.{4+s}.{b}.body.{0,1,3,4,6,7},
 *   features.{4+s}.{b}.downsample.{0,1}, output;
 * - ResNetV2: features.0 (input BN), .1 (conv), .2 (BN), features.{5+s}.{b}.{bn1,conv1,...,downsample},
 *   features.{5+stages} (final BN), output;
 * - ResNetV1b: torchvision's names (conv1, bn1, layer{s+1}.{b}.*, downsample.{0,1}, fc) with
 *   gamma/beta/running_mean/running_var.
 */
export function gluonNaming(spec: ResNetSpec): NamingScheme {
  const stages = spec.layers.length;
  if (spec.family === 'resnet_v1b' && spec.groups === 1) return gluonV1bNaming;
  const v2 = spec.family === 'resnet_v2';
  const stageBase = v2 ? 5 : 4;
  return {
    name: v2 ? 'gluoncv-v2' : 'gluoncv-v1',
    key(struct, role) {
      const r = PARAM_NAMES.gluon[role];
      if (struct === 'head.fc') return `output.${r}`;
      if (struct === 'stem.bn_data') return `features.0.${r}`;
      if (struct === 'stem.conv') return `features.${v2 ? 1 : 0}.${r}`;
      if (struct === 'stem.bn') return `features.${v2 ? 2 : 1}.${r}`;
      if (struct === 'head.bn') return `features.${stageBase + stages}.${r}`;
      const m = /^s(\d+)\.b(\d+)\.(.+)$/.exec(struct);
      if (m === null) throw new Error(`no GluonCV name for ${struct}`);
      const block = `features.${stageBase + Number(m[1])}.${m[2]}`;
      const part = m[3]!;
      if (v2) return part === 'down.conv' ? `${block}.downsample.${r}` : `${block}.${part}.${r}`;
      if (part === 'down.conv') return `${block}.downsample.0.${r}`;
      if (part === 'down.bn') return `${block}.downsample.1.${r}`;
      return `${block}.body.${V1_BODY[part]}.${r}`;
    },
  };
}
