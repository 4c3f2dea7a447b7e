import { DoconvError } from '../errors.js';
import type { DType } from '../tensor/dtype.js';
import { encodeFloat32, encodeFloat64, Tensor, toFloat32, toFloat64 } from '../tensor/tensor.js';
import { fuseTorchKernel, totalD } from './fuse-pytorch.js';
import type { DoConvLayer } from './layer.js';

export interface FuseOptions {
  /** Output element type; default: the dtype of the layer's W. */
  dtype?: DType;
}

/**
 * The ordinary conv kernel a DO-Conv layer is equivalent to, in the framework's own layout
 * (PyTorch: (C_out, C_in/g, M, N)). Fuses in float32 arithmetic with float64 accumulation
 * (float64 throughout for float64 checkpoints), then casts once to the output dtype.
 */
export function fuseLayer(layer: DoConvLayer, options: FuseOptions = {}): Tensor {
  const dtype = options.dtype ?? layer.W.dtype;
  if (layer.pairing !== 'pytorch') throw new DoconvError('BAD_ARGUMENT', `no fusion rule for ${layer.pairing} layers yet`, { key: layer.name });
  const { outChannels, inChannelsPerGroup } = layer;
  if (layer.D === undefined) {
    // 1x1: D_mul is forced to 1 and the layer has no D; the kernel is W reshaped.
    const shape = [outChannels, inChannelsPerGroup, 1, 1];
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
  const dims = { outChannels, inChannelsPerGroup, groups: layer.groups!, kernelArea: layer.kernelArea, dMul: layer.dMul };
  const shape = [outChannels, inChannelsPerGroup, layer.kernel[0], layer.kernel[1]];
  const n = outChannels * inChannelsPerGroup * layer.kernelArea;
  const wide = layer.W.dtype === 'float64' || layer.D.dtype === 'float64';
  if (wide) {
    const Dt = totalD(toFloat64(layer.D), layer.dDiag && toFloat64(layer.dDiag), dims);
    const K = fuseTorchKernel(toFloat64(layer.W), Dt, dims, new Float64Array(n));
    return new Tensor(dtype, shape, dtype === 'float64' ? encodeFloat64(K) : encodeFloat32(Float32Array.from(K), dtype));
  }
  const Dt = totalD(toFloat32(layer.D), layer.dDiag && toFloat32(layer.dDiag), dims);
  const K = fuseTorchKernel(toFloat32(layer.W), Dt, dims, new Float32Array(n));
  return Tensor.fromFloat32(K, shape, dtype);
}
