import { DoconvError } from '../errors.js';
import type { DType } from '../tensor/dtype.js';
import { encodeFloat32, encodeFloat64, Tensor, toFloat32, toFloat64 } from '../tensor/tensor.js';
import { fuseKernel, identityDiag, totalD, type FuseDims } from './fuse-kernel.js';
import type { DoConvLayer } from './layer.js';

export interface FuseOptions {
  /** Output element type; default: the dtype of the layer's W. */
  dtype?: DType;
  /**
   * 'native' (default): the framework's own kernel layout -- PyTorch and Gluon (C_out, C_in/g, M, N),
   * Keras (M, N, C_in/g, C_out). 'oihw': always (C_out, C_in/g, M, N), what graphs use.
   */
  layout?: 'native' | 'oihw';
}

type Floats = Float32Array | Float64Array;

/** Keras/Gluon D (MN, D_mul, C_in) plus the identity part, as rows (C_in, MN, D_mul) for fuseKernel. */
function kerasDRows<T extends Floats>(D: T, area: number, dMul: number, inChannels: number): T {
  const diag = identityDiag(area, dMul);
  const out = (D instanceof Float64Array ? new Float64Array(D.length) : new Float32Array(D.length)) as T;
  for (let m = 0; m < area; m++)
    for (let s = 0; s < dMul; s++) {
      const src = (m * dMul + s) * inChannels;
      const d = diag[m * dMul + s]!;
      for (let i = 0; i < inChannels; i++) out[(i * area + m) * dMul + s] = D[src + i]! + d;
    }
  return out;
}

/** (A, B, C) -> (C, B, A) for the Keras kernel layouts (W: (D_mul, ipg, C_out); K: (MN, ipg, C_out)). */
function swapOuterAxes<T extends Floats>(x: T, a: number, b: number, c: number): T {
  const out = (x instanceof Float64Array ? new Float64Array(x.length) : new Float32Array(x.length)) as T;
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) for (let k = 0; k < c; k++) out[(k * b + j) * a + i] = x[(i * b + j) * c + k]!;
  return out;
}

function encode(values: Floats, dtype: DType): Uint8Array {
  if (values instanceof Float64Array) return dtype === 'float64' ? encodeFloat64(values) : encodeFloat32(Float32Array.from(values), dtype);
  return encodeFloat32(values, dtype);
}

/**
 * The ordinary conv kernel a DO-Conv layer is equivalent to. Fuses in float32 arithmetic with
 * float64 accumulation (float64 throughout for float64 checkpoints), then casts once.
 */
export function fuseLayer(layer: DoConvLayer, options: FuseOptions = {}): Tensor {
  const dtype = options.dtype ?? layer.W.dtype;
  const keras = layer.pairing === 'keras';
  const oihw = options.layout === 'oihw' || !keras;
  const { outChannels: cOut, inChannelsPerGroup: ipg } = layer;
  if (layer.D === undefined) {
    // 1x1: D_mul is forced to 1 and the layer has no D; the kernel is W reshaped. Keras' W
    // (1, ipg, C_out) is already (1, 1, ipg, C_out); in OIHW it is that transposed.
    if (keras) {
      const nhwc = new Tensor(layer.W.dtype, [1, 1, ipg, cOut], layer.W.bytes());
      if (!oihw && dtype === layer.W.dtype) return nhwc;
      const w = toFloat32(layer.W);
      const values = oihw ? swapOuterAxes(w, 1, ipg, cOut) : w;
      return Tensor.fromFloat32(values, oihw ? [cOut, ipg, 1, 1] : [1, 1, ipg, cOut], dtype);
    }
    const shape = [cOut, ipg, 1, 1];
    if (dtype === layer.W.dtype) return new Tensor(dtype, shape, layer.W.bytes());
    return Tensor.fromFloat32(toFloat32(layer.W), shape, dtype);
  }
  if (layer.kernel === undefined) {
    throw new DoconvError(
      'KERNEL_SHAPE_AMBIGUOUS',
      `D has M*N = ${layer.kernelArea}, which is not a square, and a state_dict does not record M x N; pass --kernel '${layer.name}=MxN' (e.g. ${layer.kernelArea}x1 or 1x${layer.kernelArea})`,
      { key: layer.name },
    );
  }
  const [M, N] = layer.kernel;
  const dims: FuseDims = { outChannels: cOut, inChannelsPerGroup: ipg, groups: layer.groups!, kernelArea: layer.kernelArea, dMul: layer.dMul };
  const wide = layer.W.dtype === 'float64' || layer.D.dtype === 'float64';
  const read = (t: Tensor): Floats => (wide ? toFloat64(t) : toFloat32(t));
  const alloc = (n: number): Floats => (wide ? new Float64Array(n) : new Float32Array(n));
  let W = read(layer.W);
  let rows: Floats;
  if (layer.pairing === 'pytorch') rows = totalD(read(layer.D), layer.dDiag && read(layer.dDiag), dims);
  else rows = kerasDRows(read(layer.D), layer.kernelArea, layer.dMul, layer.inChannels!);
  if (keras) W = swapOuterAxes(W, layer.dMul, ipg, cOut); // (D_mul, ipg, C_out) -> (C_out, ipg, D_mul)
  let K = fuseKernel(W, rows, dims, alloc(cOut * ipg * layer.kernelArea), layer.pairing);
  if (!oihw) K = swapOuterAxes(K, cOut, ipg, layer.kernelArea); // -> (M, N, ipg, C_out)
  return new Tensor(dtype, oihw ? [cOut, ipg, M, N] : [M, N, ipg, cOut], encode(K, dtype));
}
