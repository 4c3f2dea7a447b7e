import { Tensor, toFloat32 } from './tensor.js';

/** NCHW -> NHWC for a 4-D float32 batch (TensorFlow.js and Keras take channels last). */
export function nchwToNhwc(x: Float32Array, shape: readonly number[]): { data: Float32Array; shape: number[] } {
  const [n, c, h, w] = shape as [number, number, number, number];
  const y = new Float32Array(x.length);
  for (let a = 0; a < n; a++) for (let b = 0; b < c; b++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) y[((a * h + i) * w + j) * c + b] = x[((a * c + b) * h + i) * w + j]!;
  return { data: y, shape: [n, h, w, c] };
}

/** NHWC -> NCHW for a 4-D float32 batch. */
export function nhwcToNchw(x: Float32Array, shape: readonly number[]): { data: Float32Array; shape: number[] } {
  const [n, h, w, c] = shape as [number, number, number, number];
  const y = new Float32Array(x.length);
  for (let a = 0; a < n; a++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) for (let b = 0; b < c; b++) y[((a * c + b) * h + i) * w + j] = x[((a * h + i) * w + j) * c + b]!;
  return { data: y, shape: [n, c, h, w] };
}

/** A tensor with its axes reordered (`perm[i]` is the source axis of output axis i), same dtype. */
export function permute(t: Tensor, perm: readonly number[]): Tensor {
  const shape = t.shape;
  const out = perm.map((p) => shape[p]!);
  const x = toFloat32(t);
  const y = new Float32Array(x.length);
  const inStride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const idx = new Array<number>(out.length).fill(0);
  for (let i = 0; i < y.length; i++) {
    let src = 0;
    for (let d = 0; d < out.length; d++) src += idx[d]! * inStride[perm[d]!]!;
    y[i] = x[src]!;
    for (let d = out.length - 1; d >= 0; d--) {
      if (++idx[d]! < out[d]!) break;
      idx[d] = 0;
    }
  }
  return Tensor.fromFloat32(y, out, t.dtype === 'float64' ? 'float32' : t.dtype);
}

/** A Keras/TensorFlow kernel (H, W, C_in/g, C_out) as (C_out, C_in/g, H, W), and back. */
export const hwioToOihw = (t: Tensor): Tensor => permute(t, [3, 2, 0, 1]);
export const oihwToHwio = (t: Tensor): Tensor => permute(t, [2, 3, 1, 0]);
/** A dense kernel (in, out) as (out, in), and back. */
export const transpose2d = (t: Tensor): Tensor => permute(t, [1, 0]);
