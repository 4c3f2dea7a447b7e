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
