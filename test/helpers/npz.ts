import { readFileSync } from 'node:fs';
import { MemorySource } from '../../src/formats/byte-source.js';
import { readNpy } from '../../src/formats/npy.js';
import { ZipReader } from '../../src/formats/zip.js';
import { toFloat32, type Tensor } from '../../src/tensor/tensor.js';

export function readNpz(path: string): Map<string, Tensor> {
  const zip = new ZipReader(new MemorySource(readFileSync(path)));
  const out = new Map<string, Tensor>();
  for (const name of zip.entries.keys()) out.set(name.replace(/\.npy$/, ''), readNpy(zip.read(name)));
  return out;
}

export function readNpyFile(path: string): Tensor {
  return readNpy(new Uint8Array(readFileSync(path)));
}

/** max |a - b| / max |b|: the relative error measure the fixtures' README states tolerances in. */
export function relativeError(a: Tensor | Float32Array, b: Tensor | Float32Array): number {
  const x = a instanceof Float32Array ? a : toFloat32(a);
  const y = b instanceof Float32Array ? b : toFloat32(b);
  if (x.length !== y.length) throw new Error(`length ${x.length} vs ${y.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    num = Math.max(num, Math.abs(x[i]! - y[i]!));
    den = Math.max(den, Math.abs(y[i]!));
  }
  return num / Math.max(den, 1e-30);
}
