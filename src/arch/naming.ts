import type { Framework } from '../checkpoint/checkpoint.js';
import type { Tensor } from '../tensor/tensor.js';

/** What a parameter is for, independent of how a framework names it. */
export type ParamRole = 'weight' | 'bias' | 'gamma' | 'beta' | 'mean' | 'var';

/** How each framework names a layer's parameters (conv/dense kernel and bias, BatchNorm's four). */
export const PARAM_NAMES: Readonly<Record<Framework, Readonly<Record<ParamRole, string>>>> = {
  pytorch: { weight: 'weight', bias: 'bias', gamma: 'weight', beta: 'bias', mean: 'running_mean', var: 'running_var' },
  gluon: { weight: 'weight', bias: 'bias', gamma: 'gamma', beta: 'beta', mean: 'running_mean', var: 'running_var' },
  keras: { weight: 'kernel', bias: 'bias', gamma: 'gamma', beta: 'beta', mean: 'moving_mean', var: 'moving_variance' },
};

/**
 * A framework's parameter naming: structural names (stem.conv, s0.b1.conv2, s2.b0.down.bn, head.fc)
 * and roles map to checkpoint keys. Structure (src/arch/resnet.ts) never spells a key itself.
 */
export interface NamingScheme {
  readonly name: string;
  /** BatchNorm epsilon of this framework's layers (default 1e-5, as torch and Gluon use). */
  readonly epsilon?: number;
  key(struct: string, role: ParamRole): string;
}

/** Named tensors the builder draws from; it records which it used, so leftovers can be reported. */
export interface ParamSource {
  get(key: string): Tensor | undefined;
  keys(): string[];
  /** Optional: supply a tensor the checkpoint lacks (used to enumerate what a structure needs). */
  supply?(key: string, shape: number[]): Tensor | undefined;
}
