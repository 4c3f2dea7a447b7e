import fs from 'node:fs';
import { DoconvError } from '../errors.js';
import type { DType } from '../tensor/dtype.js';

// HDF5 through h5wasm (the HDF5 C library compiled to WebAssembly). Its start is asynchronous and
// costs ~100 ms, so it is started only for files that sniff as HDF5; after hdf5Ready() every call
// here is synchronous. h5wasm's node build reads real files, so in-memory bytes go through a
// temporary file.

type H5 = typeof import('h5wasm/node').default;
type H5Module = Awaited<H5['ready']>;

let h5: H5 | undefined;
let module: H5Module | undefined;
let starting: Promise<void> | undefined;

export async function hdf5Ready(): Promise<void> {
  starting ??= (async () => {
    const m = (await import('h5wasm/node')).default;
    module = await m.ready;
    h5 = m;
  })();
  return starting;
}

export function hdf5(): { h5: H5; module: H5Module } {
  if (h5 === undefined || module === undefined) throw new Error('hdf5Ready() was not awaited');
  return { h5, module };
}

/** h5wasm dtype strings to ours ('<f4' etc.; float16 is read as raw bytes). */
export function hdf5DType(meta: { type: number; size: number; signed: boolean; littleEndian: boolean }, where: string): DType {
  // h5wasm metadata.type: 0 integer, 1 float (H5T_class_t)
  if (!meta.littleEndian && meta.size > 1) throw new DoconvError('DTYPE_UNSUPPORTED', 'big-endian HDF5 datasets are not supported', { key: where });
  if (meta.type === 1) {
    if (meta.size === 4) return 'float32';
    if (meta.size === 2) return 'float16';
    if (meta.size === 8) return 'float64';
  }
  if (meta.type === 0) {
    const ints: Record<string, DType> = { '1s': 'int8', '1u': 'uint8', '2s': 'int16', '4s': 'int32', '8s': 'int64' };
    const t = ints[`${meta.size}${meta.signed ? 's' : 'u'}`];
    if (t !== undefined) return t;
  }
  throw new DoconvError('DTYPE_UNSUPPORTED', `HDF5 dataset of class ${meta.type}, ${meta.size} bytes is not supported`, { key: where });
}

/**
 * Runs synchronous HDF5 work with the library's diagnostics (HDF5-DIAG stacks that it writes to fd 2
 * through fs.writeSync) captured instead of printed: a damaged file must give one line, not forty.
 * The capture spans exactly this synchronous call. Returns the result and the captured text.
 */
export function quietHdf5<T>(fn: () => T): { value: T; diagnostics: string } {
  const original = fs.writeSync;
  const captured: string[] = [];
  const patched = function (this: unknown, fd: number, data: unknown, ...rest: unknown[]): number {
    if (fd !== 2) return (original as (...a: unknown[]) => number).call(fs, fd, data, ...rest);
    if (typeof data === 'string') {
      captured.push(data);
      return Buffer.byteLength(data);
    }
    const bytes = data as Uint8Array;
    const offset = (rest[0] as number | undefined) ?? 0;
    const length = (rest[1] as number | undefined) ?? bytes.byteLength - offset;
    if (captured.length < 200) captured.push(Buffer.from(bytes.buffer, bytes.byteOffset + offset, length).toString('utf8'));
    return length;
  };
  fs.writeSync = patched as typeof fs.writeSync;
  try {
    return { value: fn(), diagnostics: captured.join('') };
  } finally {
    fs.writeSync = original;
  }
}

/** The most specific reason in an HDF5-DIAG stack (its last 'minor:' line), for one-line errors. */
export function hdf5Reason(diagnostics: string): string {
  const minors = [...diagnostics.matchAll(/#\d+: .*? in (\w+)\(\): ([^\n]+)/g)];
  const last = minors[minors.length - 1];
  return last ? `${last[2]!.trim()} (${last[1]})` : 'the HDF5 library could not read it';
}
