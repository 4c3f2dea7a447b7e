import { DoconvError } from '../errors.js';
import { DTYPE_SIZE, type DType } from './dtype.js';
import { bfloat16ToFloat32, float32ToBfloat16, float32ToHalf, halfToFloat32 } from './half.js';

/**
 * A dense row-major tensor. Its bytes are little-endian and materialised on first use, so listing
 * a checkpoint never touches tensor data; for memory-backed files contiguous tensors are views.
 */
export class Tensor {
  readonly dtype: DType;
  readonly shape: readonly number[];
  private cached: Uint8Array | undefined;
  private readonly load: (() => Uint8Array) | undefined;

  constructor(dtype: DType, shape: readonly number[], bytes: Uint8Array | (() => Uint8Array)) {
    this.dtype = dtype;
    this.shape = shape;
    if (typeof bytes === 'function') this.load = bytes;
    else {
      this.cached = bytes;
      this.load = undefined;
    }
  }

  get size(): number {
    return numel(this.shape);
  }

  get byteLength(): number {
    return this.size * DTYPE_SIZE[this.dtype];
  }

  /** The tensor's contiguous little-endian bytes. */
  bytes(): Uint8Array {
    if (this.cached === undefined) {
      const b = this.load!();
      if (b.byteLength !== this.byteLength) {
        throw new DoconvError('TENSOR_INVALID', `tensor data is ${b.byteLength} bytes, expected ${this.byteLength}`);
      }
      this.cached = b;
    }
    return this.cached;
  }

  /** Drop materialised bytes that came from a loader (file-backed sources), keeping memory bounded. */
  release(): void {
    if (this.load !== undefined) this.cached = undefined;
  }

  static fromFloat32(values: Float32Array, shape: readonly number[], dtype: DType = 'float32'): Tensor {
    return new Tensor(dtype, shape, encodeFloat32(values, dtype));
  }
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Typed-array view when the bytes are aligned, a copy otherwise (views must start on the element size). */
function view<T>(bytes: Uint8Array, size: number, make: (buf: ArrayBufferLike, off: number, len: number) => T): T {
  const len = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) return make(bytes.buffer, bytes.byteOffset, len);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return make(copy.buffer, 0, len);
}

/** The tensor's values as float32 (a zero-copy view for aligned float32 data). */
export function toFloat32(t: Tensor): Float32Array {
  const b = t.bytes();
  switch (t.dtype) {
    case 'float32':
      return view(b, 4, (buf, off, len) => new Float32Array(buf, off, len));
    case 'float16':
      return halfToFloat32(view(b, 2, (buf, off, len) => new Uint16Array(buf, off, len)));
    case 'bfloat16':
      return bfloat16ToFloat32(view(b, 2, (buf, off, len) => new Uint16Array(buf, off, len)));
    case 'float64':
      return Float32Array.from(view(b, 8, (buf, off, len) => new Float64Array(buf, off, len)));
    default:
      throw new DoconvError('DTYPE_UNSUPPORTED', `expected a floating-point tensor, got ${t.dtype}`);
  }
}

/** The tensor's values as float64 (used to fuse float64 checkpoints without losing precision). */
export function toFloat64(t: Tensor): Float64Array {
  if (t.dtype === 'float64') return view(t.bytes(), 8, (buf, off, len) => new Float64Array(buf, off, len));
  return Float64Array.from(toFloat32(t));
}

/** Encode float32 values as `dtype` bytes (rounding to nearest even for the 16-bit types). */
export function encodeFloat32(values: Float32Array, dtype: DType): Uint8Array {
  switch (dtype) {
    case 'float32':
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case 'float16': {
      const h = float32ToHalf(values);
      return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
    }
    case 'bfloat16': {
      const h = float32ToBfloat16(values);
      return new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
    }
    case 'float64': {
      const d = Float64Array.from(values);
      return new Uint8Array(d.buffer);
    }
    default:
      throw new DoconvError('DTYPE_UNSUPPORTED', `cannot encode floating-point values as ${dtype}`);
  }
}

export function encodeFloat64(values: Float64Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
