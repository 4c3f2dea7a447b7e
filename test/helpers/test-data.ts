// The small reference files committed under test/data/reference (written by
// scripts/reference/make_test_data.py; see the comment at its top for what each file is).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint } from '../../src/checkpoint/load.js';
import { toFloat32, type Tensor } from '../../src/tensor/tensor.js';
import { readNpyFile, readNpz } from './npz.js';
import { ROOT } from './paths.js';

export const REFERENCE_DIR = join(ROOT, 'test', 'data', 'reference');
export const MAKE_TEST_DATA = join(ROOT, 'scripts', 'reference', 'make_test_data.py');

/** A file of test/data/reference (inside the clone: never skipped, a missing file is a failure). */
export function refFile(name: string, dir = REFERENCE_DIR): string {
  const p = join(dir, name);
  if (!existsSync(p)) throw new Error(`missing reference file ${p}; regenerate with /usr/bin/python3 scripts/reference/make_test_data.py test/data/reference`);
  return p;
}

export interface TorchLayerCase {
  name: string;
  cin: number;
  cout: number;
  kernel: [number, number];
  d_mul: number;
  stride: number;
  padding: [number, number];
  dilation: number;
  groups: number;
  bias: boolean;
}

export interface KerasLayerCase {
  name: string;
  cin: number;
  filters: number;
  kernel: [number, number];
  strides: number;
  padding: 'same' | 'valid';
  dilation: number;
  groups: number;
  use_bias: boolean;
  d_mul: number;
}

export interface GluonLayerCase {
  name: string;
  cin: number;
  cout: number;
  kernel: number;
  padding: number;
  groups: number;
  bias: boolean;
  stride: number;
}

export interface ReferenceManifest {
  made_by: Record<string, string>;
  cases: {
    layers: { files: [string, string]; input: string; expected: string; fused: string; kernelOverride: string; layers: TorchLayerCase[]; tensors: [string, number[]][]; outputShape: number[] };
    resnet: {
      file: string; plain: string; input: string; expected: string; plainExpected: string; architecture: string; inputSize: [number, number];
      doconvLayers: string[]; plainTensors: [string, number[]][]; outputShape: number[];
    };
    keras_layers: { file: string; input: string; expected: string; fused: string; layers: KerasLayerCase[]; outputShape: number[] };
    gluon_layers: { file: string; input: string; expected: string; fused: string; layers: GluonLayerCase[]; tensors: [string, number[]][]; outputShape: number[] };
  };
}

export function referenceManifest(dir = REFERENCE_DIR): ReferenceManifest {
  return JSON.parse(readFileSync(refFile('manifest.json', dir), 'utf8')) as ReferenceManifest;
}

/** Every tensor a reference file holds, by name: .npy (one, named ''), .npz entries, or a checkpoint's tensors. */
export async function tensorsOf(file: string): Promise<Map<string, Tensor>> {
  if (file.endsWith('.npy')) return new Map([['', readNpyFile(file)]]);
  if (file.endsWith('.npz')) return readNpz(file);
  const ckpt = await loadCheckpoint(file);
  try {
    return new Map(ckpt.tensors.map((t) => [t.name, t.tensor]));
  } finally {
    ckpt.close();
  }
}

const FLOAT = new Set(['float16', 'bfloat16', 'float32', 'float64']);

/** max |a - b| / max |b| over float tensors; 0 or Infinity (bytes equal or not) for the others. */
export function tensorDifference(a: Tensor, b: Tensor): number {
  if (a.dtype !== b.dtype || a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) return Infinity;
  if (!FLOAT.has(a.dtype)) return Buffer.compare(a.bytes(), b.bytes()) === 0 ? 0 : Infinity;
  const x = toFloat32(a);
  const y = toFloat32(b);
  let num = 0;
  let den = 0;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i]!) !== Number.isNaN(y[i]!)) return Infinity;
    num = Math.max(num, Math.abs(x[i]! - y[i]!));
    den = Math.max(den, Math.abs(y[i]!));
  }
  return num === 0 ? 0 : num / Math.max(den, 1e-30);
}

/** What differs between two tensor maps beyond `tolerance` (relative): one line per problem, [] when they agree. */
export function compareTensorMaps(a: Map<string, Tensor>, b: Map<string, Tensor>, tolerance: number): string[] {
  const problems: string[] = [];
  const ka = [...a.keys()];
  const kb = [...b.keys()];
  if (ka.join('\n') !== kb.join('\n')) problems.push(`names differ: [${ka.join(', ')}] vs [${kb.join(', ')}]`);
  for (const [k, t] of a) {
    const u = b.get(k);
    if (u === undefined) continue;
    const d = tensorDifference(t, u);
    if (!(d <= tolerance)) problems.push(`'${k}': ${t.dtype}[${t.shape.join(',')}] vs ${u.dtype}[${u.shape.join(',')}], relative difference ${d}`);
  }
  return problems;
}
