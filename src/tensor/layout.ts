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
