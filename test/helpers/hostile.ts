import { closeSync, openSync } from 'node:fs';
import { ZipWriter } from '../../src/formats/zip-writer.js';

/** Bytes from numbers (single bytes) and latin-1 strings, for hand-made pickles. */
export function bytes(...parts: (number | string | Uint8Array)[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => (typeof p === 'number' ? [p] : typeof p === 'string' ? [...Buffer.from(p, 'latin1')] : [...p])));
}

/** BINUNICODE: a pickled str. */
export function binunicode(s: string): Uint8Array {
  const b = Buffer.from(s, 'utf8');
  const h = Buffer.alloc(5);
  h[0] = 0x58;
  h.writeUInt32LE(b.length, 1);
  return bytes(h, b);
}

/** A pickle of {'x': os.system(command)}: what a malicious checkpoint runs under plain pickle.load. */
export function osSystemPickle(command: string): Uint8Array {
  return bytes(0x80, 2, 0x7d, binunicode('x'), 'c', 'posix\nsystem\n', binunicode(command), 0x85, 0x52, 0x73, 0x2e);
}

/** {'w': tensor over a storage of `storageNumel` floats, viewed with `shape`} as torch's zip pickle. */
export function tensorPickle(storageNumel: number, shape: number[], stride: number[], legacy = false): Uint8Array {
  const int = (v: number) => {
    const b = Buffer.alloc(5);
    b[0] = 0x4a;
    b.writeInt32LE(v, 1);
    return b;
  };
  const tuple = (xs: number[]) => bytes(0x28, ...xs.map(int), 0x74);
  return bytes(
    0x80, 2, 0x7d, binunicode('w'),
    'c', 'torch._utils\n_rebuild_tensor_v2\n',
    0x28, // args
    0x28, binunicode('storage'), 'c', 'torch\nFloatStorage\n', binunicode('0'), binunicode('cpu'), int(storageNumel), ...(legacy ? [0x4e] : []), 0x74, 0x51,
    int(0), tuple(shape), tuple(stride), 0x89, 0x4e,
    0x74, 0x52, 0x73, 0x2e,
  );
}

/** A torch zip archive holding `pickle` as data.pkl and the given storages. */
export function writeTorchZip(path: string, pickle: Uint8Array, storages: Record<string, Uint8Array> = {}): void {
  const fd = openSync(path, 'w');
  const zip = new ZipWriter(fd);
  zip.add('archive/data.pkl', pickle);
  for (const [k, v] of Object.entries(storages)) zip.add(`archive/data/${k}`, v);
  zip.add('archive/version', bytes('3\n'));
  zip.finish();
  closeSync(fd);
}

/** A legacy torch.save stream: magic, protocol 1001, sys_info, the object pickle, storage keys. */
export function legacyStream(objectPickle: Uint8Array, keysPickle = bytes(0x80, 2, 0x5d, 0x2e)): Uint8Array {
  const magic = bytes(0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e);
  const protocol = bytes(0x80, 2, 0x4d, 0xe9, 0x03, 0x2e);
  const sysInfo = bytes(0x80, 2, 0x7d, binunicode('little_endian'), 0x88, 0x73, 0x2e);
  return bytes(magic, protocol, sysInfo, objectPickle, keysPickle);
}

/** mulberry32, the fuzz tier's generator: one implementation for the in-process and child-process fuzzers. */
export { prng } from '../fuzz/mutators.mjs';
