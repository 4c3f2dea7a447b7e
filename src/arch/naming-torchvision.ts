import { PARAM_NAMES, type NamingScheme, type ParamRole } from './naming.js';

/**
 * torchvision.models.resnet's layout of names (conv1/bn1, layer{i}.{j}.conv{k}/bn{k},
 * layer{i}.{j}.downsample.{0,1}, fc), spelled with the given parameter suffixes; extended in the
 * same style for the families torchvision lacks: bn0 (v2's input BatchNorm), bn_final (v2's last BN).
 */
function layerNaming(name: string, suffixes: Readonly<Record<ParamRole, string>>): NamingScheme {
  return {
    name,
    key(struct, role) {
      const suffix = suffixes[role];
      if (struct === 'stem.conv') return `conv1.${suffix}`;
      if (struct === 'stem.bn') return `bn1.${suffix}`;
      if (struct === 'stem.bn_data') return `bn0.${suffix}`;
      if (struct === 'head.bn') return `bn_final.${suffix}`;
      if (struct === 'head.fc') return `fc.${suffix}`;
      const m = /^s(\d+)\.b(\d+)\.(.+)$/.exec(struct);
      if (m === null) throw new Error(`no ${name} name for ${struct}`);
      const layer = `layer${Number(m[1]) + 1}.${m[2]}`;
      const part = m[3]!;
      if (part === 'down.conv') return `${layer}.downsample.0.${suffix}`;
      if (part === 'down.bn') return `${layer}.downsample.1.${suffix}`;
      return `${layer}.${part}.${suffix}`;
    },
  };
}

export const torchvisionNaming: NamingScheme = layerNaming('torchvision', PARAM_NAMES.pytorch);

/** GluonCV's ResNetV1b: torchvision's names with Gluon's BatchNorm parameters (gamma, beta). */
export const gluonV1bNaming: NamingScheme = layerNaming('gluoncv-v1b', PARAM_NAMES.gluon);
