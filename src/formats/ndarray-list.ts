import { DoconvError } from '../errors.js';
import { DTYPE_SIZE, type DType } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import { writeAll } from '../emit/atomic.js';

// MXNet's NDArray list (mx.nd.save, Gluon save_parameters/save_params, Module checkpoints):
// u64 magic 0x112, u64 reserved, u64 count, the records, u64 count of names, each u64 length + UTF-8.
// Records (src/ndarray/ndarray.cc, NDArray::Save/Load):
//   V2 0xF993FAC9 and V3 0xF993FACA: u32 magic, i32 storage type, shape (u32/i32 ndim + i64 dims),
//     then (when the shape is known) i32 dev type, i32 dev id, i32 dtype flag, raw data;
//   V1 0xF993FAC8: the same without the storage type;
//   the oldest: no magic (the first u32 is ndim), u32 dims.

const LIST_MAGIC = 0x112n;
const V1 = 0xf993fac8;
const V2 = 0xf993fac9;
const V3 = 0xf993faca;
const FLAG_DTYPE: Readonly<Record<number, DType>> = { 0: 'float32', 1: 'float64', 2: 'float16', 3: 'uint8', 4: 'int32', 5: 'int8', 6: 'int64', 7: 'bool', 12: 'bfloat16' };
const DTYPE_FLAG: Partial<Record<DType, number>> = Object.fromEntries(Object.entries(FLAG_DTYPE).map(([k, v]) => [v, Number(k)]));
const MAX_NDIM = 32;

export interface NamedArray {
  name: string;
  tensor: Tensor;
}

export function looksLikeNdarrayList(head: Uint8Array): boolean {
  return head.length >= 16 && new DataView(head.buffer, head.byteOffset, 16).getBigUint64(0, true) === LIST_MAGIC && new DataView(head.buffer, head.byteOffset, 16).getBigUint64(8, true) === 0n;
}

class Cursor {
  pos = 0;
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.bytes.byteLength) {
      throw new DoconvError('TRUNCATED', `${what} needs ${n} bytes, ${this.bytes.byteLength - this.pos} left`, { offset: this.pos });
    }
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  i32(what: string): number {
    this.need(4, what);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(what: string): number {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new DoconvError('CORRUPT', `${what} ${v} is out of range`, { offset: this.pos });
    this.pos += 8;
    return Number(v);
  }
  i64(what: string): number {
    this.need(8, what);
    const v = this.view.getBigInt64(this.pos, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -1n) throw new DoconvError('CORRUPT', `${what} ${v} is out of range`, { offset: this.pos });
    this.pos += 8;
    return Number(v);
  }
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

function readRecord(c: Cursor, index: number): Tensor | undefined {
  const at = c.pos;
  const first = c.u32(`record ${index} header`);
  let dims: number[];
  let knownWhenNdimZero = false;
  if (first === V1 || first === V2 || first === V3) {
    if (first !== V1) {
      const stype = c.i32(`record ${index} storage type`);
      if (stype !== 0) throw new DoconvError('DTYPE_UNSUPPORTED', `record ${index} is a sparse NDArray (storage type ${stype}); only dense arrays are supported`, { offset: at });
    }
    const ndim = c.i32(`record ${index} ndim`);
    if (first === V3 && ndim === -1) return undefined; // unknown shape: an empty array
    if (ndim < 0 || ndim > MAX_NDIM) throw new DoconvError('CORRUPT', `record ${index} has ${ndim} dimensions`, { offset: at });
    dims = [];
    for (let i = 0; i < ndim; i++) {
      const d = c.i64(`record ${index} dim`);
      if (d < 0) throw new DoconvError('CORRUPT', `record ${index} has an unknown dimension`, { offset: c.pos - 8 });
      dims.push(d);
    }
    knownWhenNdimZero = first === V3; // numpy semantics: ndim 0 is a scalar
  } else {
    // The oldest layout: the u32 just read is ndim, dims are u32.
    if (first > MAX_NDIM) throw new DoconvError('CORRUPT', `record ${index}: not an NDArray record (header 0x${first.toString(16)})`, { offset: at });
    dims = [];
    for (let i = 0; i < first; i++) dims.push(c.u32(`record ${index} dim`));
  }
  if (dims.length === 0 && !knownWhenNdimZero) return undefined;
  c.i32(`record ${index} device type`);
  c.i32(`record ${index} device id`);
  const flagAt = c.pos;
  const flag = c.i32(`record ${index} dtype`);
  const dtype = FLAG_DTYPE[flag];
  if (dtype === undefined) throw new DoconvError('DTYPE_UNSUPPORTED', `record ${index} has dtype flag ${flag}`, { offset: flagAt });
  let n = 1;
  for (const d of dims) {
    n *= d;
    if (!Number.isSafeInteger(n)) throw new DoconvError('CORRUPT', `record ${index} shape [${dims.join(', ')}] is too large`, { offset: at });
  }
  const bytes = c.take(n * DTYPE_SIZE[dtype], `record ${index} data ([${dims.join(', ')}] ${dtype})`);
  return new Tensor(dtype, dims, bytes);
}

/** Parses an NDArray list; tensors are views of `bytes`. Unnamed lists get their indices as names. */
export function readNdarrayList(bytes: Uint8Array): NamedArray[] {
  const c = new Cursor(bytes);
  c.need(24, 'NDArray list header');
  if (!looksLikeNdarrayList(bytes)) throw new DoconvError('WRONG_FORMAT', 'not an MXNet NDArray list (bad magic)', { offset: 0 });
  c.pos = 16;
  const count = c.u64('record count');
  // Every record takes at least 8 bytes: a count the file cannot hold is refused before any allocation.
  if (count * 8 > bytes.byteLength - c.pos) throw new DoconvError('CORRUPT', `the header claims ${count} records, more than a ${bytes.byteLength}-byte file can hold`, { offset: 16 });
  const arrays: (Tensor | undefined)[] = [];
  for (let i = 0; i < count; i++) arrays.push(readRecord(c, i));
  const nameCount = c.u64('name count');
  if (nameCount !== 0 && nameCount !== count) throw new DoconvError('CORRUPT', `${count} records but ${nameCount} names`, { offset: c.pos - 8 });
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const names: string[] = [];
  for (let i = 0; i < nameCount; i++) {
    const len = c.u64(`name ${i} length`);
    const at = c.pos;
    try {
      names.push(decoder.decode(c.take(len, `name ${i}`)));
    } catch (err) {
      if (err instanceof DoconvError) throw err;
      throw new DoconvError('CORRUPT', `name ${i} is not UTF-8`, { offset: at });
    }
  }
  const out: NamedArray[] = [];
  arrays.forEach((t, i) => {
    if (t !== undefined) out.push({ name: names[i] ?? String(i), tensor: t });
  });
  return out;
}

/** Writes NDArray V2 records with names, as Gluon's save_parameters does (CPU context). */
export function writeNdarrayList(fd: number, arrays: readonly NamedArray[]): void {
  const head = Buffer.alloc(24);
  head.writeBigUInt64LE(LIST_MAGIC, 0);
  head.writeBigUInt64LE(BigInt(arrays.length), 16);
  writeAll(fd, head);
  for (const { name, tensor } of arrays) {
    const flag = DTYPE_FLAG[tensor.dtype];
    if (flag === undefined) throw new DoconvError('DTYPE_UNSUPPORTED', `MXNet has no dtype for ${tensor.dtype}`, { key: name });
    const h = Buffer.alloc(12 + 8 * tensor.shape.length + 12);
    h.writeUInt32LE(V2, 0);
    h.writeInt32LE(0, 4);
    h.writeUInt32LE(tensor.shape.length, 8);
    tensor.shape.forEach((d, i) => h.writeBigInt64LE(BigInt(d), 12 + 8 * i));
    const at = 12 + 8 * tensor.shape.length;
    h.writeInt32LE(1, at); // cpu
    h.writeInt32LE(0, at + 4);
    h.writeInt32LE(flag, at + 8);
    writeAll(fd, h);
    writeAll(fd, tensor.bytes());
  }
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(BigInt(arrays.length));
  writeAll(fd, n);
  for (const { name } of arrays) {
    const b = Buffer.from(name, 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(b.length));
    writeAll(fd, len);
    writeAll(fd, b);
  }
}
