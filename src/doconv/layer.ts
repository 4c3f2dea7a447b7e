import type { PyDict } from '../formats/pickle-values.js';
import type { Tensor } from '../tensor/tensor.js';

/** How a framework pairs D's channel rows with W for grouped convolutions (docs/doconv-layouts.md). */
export type PairingRule = 'pytorch' | 'keras' | 'gluon';

/** One DO-Conv layer recognised in a checkpoint: its tensors and the hyper-parameters they imply. */
export interface DoConvLayer {
  /** Full dotted name, e.g. `state_dict.layer1.0.conv1`. */
  name: string;
  pairing: PairingRule;
  /** Channels in; undefined for a 1x1 layer stored without D (groups cannot be read off W alone). */
  inChannels: number | undefined;
  outChannels: number;
  inChannelsPerGroup: number;
  groups: number | undefined;
  /** M x N; undefined when M*N is not a perfect square and no --kernel override names it. */
  kernel: [number, number] | undefined;
  /** M * N, always known from D's shape. */
  kernelArea: number;
  dMul: number;
  bias: boolean;
  W: Tensor;
  D: Tensor | undefined;
  /** PyTorch stores d_diag; undefined when absent (then it is rebuilt, as Keras and Gluon do). */
  dDiag: Tensor | undefined;
  /** Where the layer's tensors live, and their keys there, so fusion can rewrite them in place. */
  container: PyDict;
  keys: { W: string; D?: string; dDiag?: string; bias?: string; fused: string };
}

/** JSON form for `inspect --json` (a contract other tools rely on: add fields, never rename). */
export function layerSummary(l: DoConvLayer): Record<string, unknown> {
  return {
    name: l.name,
    inChannels: l.inChannels ?? null,
    outChannels: l.outChannels,
    groups: l.groups ?? null,
    kernel: l.kernel ?? null,
    dMul: l.dMul,
    bias: l.bias,
    dtype: l.W.dtype,
    pairing: l.pairing,
  };
}
