import { DoconvError } from '../errors.js';

export interface StridedLayout {
  shape: number[];
  stride: number[];
  /** Offset of the first element, in elements. */
  offset: number;
}

/**
 * Checks a (shape, stride, offset) view against a storage of `storageNumel` elements without
 * allocating: every element the view addresses must lie inside the storage, and a view may not
 * address more elements than its storage holds (overlapping strides would let a few bytes of
 * file claim gigabytes of tensor).
 */
export function checkStridedLayout(layout: StridedLayout, storageNumel: number): void {
  const { shape, stride, offset } = layout;
  if (shape.length !== stride.length) throw new DoconvError('TENSOR_INVALID', `shape has ${shape.length} dims but stride has ${stride.length}`);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new DoconvError('TENSOR_INVALID', `invalid storage offset ${offset}`);
  let numel = 1;
  let last = offset;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    const s = stride[i]!;
    if (!Number.isSafeInteger(d) || d < 0) throw new DoconvError('TENSOR_INVALID', `invalid dimension ${d}`);
    if (!Number.isSafeInteger(s) || s < 0) throw new DoconvError('TENSOR_INVALID', `invalid stride ${s}`);
    numel *= d;
    if (!Number.isSafeInteger(numel)) throw new DoconvError('TENSOR_OUT_OF_BOUNDS', `shape [${shape.join(', ')}] is too large`);
    if (d > 0) last += (d - 1) * s;
  }
  if (numel === 0) return;
  if (last >= storageNumel) {
    throw new DoconvError('TENSOR_OUT_OF_BOUNDS', `shape [${shape.join(', ')}] with stride [${stride.join(', ')}] at offset ${offset} needs ${last + 1} elements but its storage holds ${storageNumel}`);
  }
  if (numel > storageNumel) {
    throw new DoconvError('TENSOR_OUT_OF_BOUNDS', `shape [${shape.join(', ')}] claims ${numel} elements from a storage of ${storageNumel} (overlapping strides)`);
  }
}

export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i]!;
  }
  return true;
}

/** Copies a strided view into contiguous row-major bytes. */
export function gatherStrided(storage: Uint8Array, layout: StridedLayout, elementSize: number): Uint8Array {
  const { shape, stride, offset } = layout;
  let numel = 1;
  for (const d of shape) numel *= d;
  const out = new Uint8Array(numel * elementSize);
  if (numel === 0) return out;
  const nd = shape.length;
  const index = new Array<number>(nd).fill(0);
  let src = offset;
  for (let i = 0; i < numel; i++) {
    out.set(storage.subarray(src * elementSize, (src + 1) * elementSize), i * elementSize);
    for (let d = nd - 1; d >= 0; d--) {
      index[d]!++;
      src += stride[d]!;
      if (index[d]! < shape[d]!) break;
      src -= stride[d]! * shape[d]!;
      index[d] = 0;
    }
  }
  return out;
}
