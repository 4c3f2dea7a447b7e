import { DoconvError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Checkpoint } from './checkpoint.js';

/**
 * Work and output are bounded by what the input's bytes can justify. The input's bytes are its
 * distinct storages (a storage viewed by many tensors counts once), or the file size if larger.
 * A conversion step (fusing DO-Conv layers, casting dtypes, writing a format that stores every
 * reference separately) may produce at most EXPANSION_FACTOR times the distinct bytes it reads,
 * plus EXPANSION_ALLOWANCE; beyond that it is refused with LIMIT_EXCEEDED before the work is done.
 * An honest checkpoint never comes near: fusion reads each layer's W, D and d_diag once (1x), a
 * float16 -> float64 cast is 4x, tied weights written twice are 2x.
 */
export const EXPANSION_FACTOR = 4;
export const EXPANSION_ALLOWANCE = 16 * 1024 * 1024;

/** Where a tensor's bytes live in its file: torch tensors are views of storages that others may share. */
export interface TensorOrigin {
  /** The storage object, the same for every tensor that views it. */
  storage: object;
  storageNumel: number;
  storageByteLength: number;
  /** The storage's bytes, exactly storageByteLength of them. */
  readStorage: () => Uint8Array;
  /** The tensor's view: first element and strides, in elements of the storage. */
  offset: number;
  stride: readonly number[];
}

const origins = new WeakMap<Tensor, TensorOrigin>();

/** Readers call this for tensors that view a storage, so aliasing can be seen and written once. */
export function recordTensorOrigin(t: Tensor, origin: TensorOrigin): void {
  origins.set(t, origin);
}

export function tensorOrigin(t: Tensor): TensorOrigin | undefined {
  return origins.get(t);
}

/** The object a tensor's bytes belong to: its storage, or the tensor itself when it owns them. */
export function storageOf(t: Tensor): object {
  return origins.get(t)?.storage ?? t;
}

const ids = new WeakMap<object, number>();
let nextId = 0;

function identity(o: object): number {
  let id = ids.get(o);
  if (id === undefined) {
    id = nextId++;
    ids.set(o, id);
  }
  return id;
}

/** A key equal for tensors with the same bytes by construction: the same storage, view and dtype. */
export function viewKey(t: Tensor | undefined): string {
  if (t === undefined) return '-';
  const o = origins.get(t);
  if (o === undefined) return `t${identity(t)}`;
  return `s${identity(o.storage)}:${t.dtype}:${o.offset}:${t.shape.join('x')}:${o.stride.join('x')}`;
}

/** Bytes of the distinct storages the tensors view (each storage once). */
export function distinctStorageBytes(tensors: Iterable<Tensor>): number {
  const seen = new Set<object>();
  let total = 0;
  for (const t of tensors) {
    const s = storageOf(t);
    if (seen.has(s)) continue;
    seen.add(s);
    total += origins.get(t)?.storageByteLength ?? t.byteLength;
  }
  return total;
}

/** The most a step may produce from `sourceBytes` of distinct input. */
export function expansionLimit(sourceBytes: number): number {
  return EXPANSION_FACTOR * sourceBytes + EXPANSION_ALLOWANCE;
}

/** Refuses `what` when it would produce more than expansionLimit(sourceBytes). */
export function checkExpansion(what: string, producedBytes: number, sourceBytes: number, key?: string): void {
  const limit = expansionLimit(sourceBytes);
  if (producedBytes <= limit) return;
  throw new DoconvError(
    'LIMIT_EXCEEDED',
    `${what} would produce ${producedBytes} bytes from ${sourceBytes} bytes of distinct tensor data (limit ${EXPANSION_FACTOR}x + ${EXPANSION_ALLOWANCE >> 20} MiB = ${limit}); the file aliases one storage many times`,
    key !== undefined ? { key } : {},
  );
}

/**
 * For writers that store every reference separately (safetensors, npz): refuses when the bytes
 * written would exceed the limit for the distinct storages they come from, e.g. one 1 MiB tensor
 * named 1000 times. Call it with the tensors about to be written, before opening the output.
 */
export function checkWrittenTensors(tensors: readonly { name: string; tensor: Tensor }[], format: string): void {
  let written = 0;
  for (const { tensor } of tensors) written += tensor.byteLength;
  checkExpansion(`writing ${tensors.length} tensors as ${format}`, written, distinctStorageBytes(tensors.map((t) => t.tensor)));
}

/** The input's bytes (distinct storages, or the file if larger), for an output limit of 4x + 16 MiB. */
export function inputBytes(ckpt: Pick<Checkpoint, 'byteSize' | 'tensors'>): number {
  return Math.max(ckpt.byteSize, distinctStorageBytes(ckpt.tensors.map((t) => t.tensor)));
}

/** The largest output a conversion of `ckpt` may write: EXPANSION_FACTOR x inputBytes + EXPANSION_ALLOWANCE. */
export function outputLimit(ckpt: Pick<Checkpoint, 'byteSize' | 'tensors'>): number {
  return expansionLimit(inputBytes(ckpt));
}
