// @tier shared-fixtures: reads ../shared/fixtures (or DOCONV_ZOO_FIXTURES); skipped where absent, a failure under CI=true (vitest.config.ts).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/checkpoint/load.js';
import { convertCheckpoint } from '../src/convert.js';
import { writePth } from '../src/emit/pth.js';
import { DoconvError } from '../src/errors.js';
import { PyDict } from '../src/formats/pickle-values.js';
import { toFloat32 } from '../src/tensor/tensor.js';
import { fixture, tempDir } from './helpers/paths.js';
import { readNpz, relativeError } from './helpers/npz.js';

const reference = readNpz(fixture('pytorch', 'layers.fused.npz'));
const FUSED_KEYS = ['0.weight', '0.bias', '1.weight', '2.weight', '2.bias', '3.weight', '3.bias', '4.weight', '4.bias', '5.weight', '5.bias'];

function parseSafetensors(path: string) {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const data = buf.subarray(8 + n);
  return { header, data, headerLength: n };
}

describe('convert writes what plain networks load', () => {
  const dir = tempDir();

  it('pth: W -> weight in place, D and d_diag gone, key order kept, _metadata kept, readable again', async () => {
    const out = join(dir, 'fused.pth');
    const s = await convertCheckpoint(fixture('pytorch', 'layers.pth'), out, { kernels: ['4=3x1'] });
    expect(s.fusedLayers).toBe(6);
    const back = await loadCheckpoint(out);
    expect(back.format).toBe('pytorch-zip');
    expect(back.tensors.map((t) => t.name)).toEqual(FUSED_KEYS);
    expect(back.layers).toEqual([]);
    for (const [k, ref] of reference) expect(relativeError(back.tensors.find((t) => t.name === k)!.tensor, ref)).toBeLessThan(1e-6);
    const root = back.root as PyDict;
    expect(root.ordered).toBe(true);
    expect(root.attributes?.get('_metadata')).toBeInstanceOf(PyDict);
  });

  it('pth: stored entries are 64-byte aligned, as torch aligns them', async () => {
    const out = join(dir, 'aligned.pth');
    await convertCheckpoint(fixture('pytorch', 'layers.pth'), out, { kernels: ['4=3x1'] });
    const ckpt = await loadCheckpoint(out);
    for (const t of ckpt.tensors) expect(t.tensor.bytes().byteOffset % 64).toBe(0);
  });

  it('safetensors: a valid header (8-byte padded, contiguous offsets) and the fused values', async () => {
    const out = join(dir, 'fused.safetensors');
    await convertCheckpoint(fixture('pytorch', 'layers_legacy.pth'), out, { kernels: ['4=3x1'] });
    const { header, data, headerLength } = parseSafetensors(out);
    expect(headerLength % 8).toBe(0);
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    expect(names).toEqual(FUSED_KEYS);
    let end = 0;
    for (const k of names) {
      const e = header[k]!;
      expect(e.data_offsets[0]).toBe(end);
      end = e.data_offsets[1];
    }
    expect(end).toBe(data.length);
    const w = header['3.weight']!;
    const values = new Float32Array(data.buffer.slice(data.byteOffset + w.data_offsets[0], data.byteOffset + w.data_offsets[1]));
    expect(w.shape).toEqual([8, 32, 5, 5]);
    expect(relativeError(values, reference.get('3.weight')!)).toBeLessThan(1e-6);
  });

  it('npz: one .npy per tensor that numpy reads', async () => {
    const out = join(dir, 'fused.npz');
    await convertCheckpoint(fixture('pytorch', 'layers.pth'), out, { kernels: ['4=3x1'] });
    const npz = readNpz(out);
    expect([...npz.keys()]).toEqual(FUSED_KEYS);
    expect(relativeError(npz.get('1.weight')!, reference.get('1.weight')!)).toBeLessThan(1e-6);
  });

  it('--dtype float16 casts every floating-point tensor once, after fusing in fp32', async () => {
    const out = join(dir, 'half.safetensors');
    await convertCheckpoint(fixture('pytorch', 'layers.pth'), out, { kernels: ['4=3x1'], dtype: 'float16' });
    const { header } = parseSafetensors(out);
    expect(new Set(Object.entries(header).filter(([k]) => k !== '__metadata__').map(([, v]) => v.dtype))).toEqual(new Set(['F16']));
  });

  it('--keep-doconv passes the DO-Conv tensors through unfused', async () => {
    const out = join(dir, 'kept.pth');
    await convertCheckpoint(fixture('pytorch', 'layers.pth'), out, { keepDoconv: true });
    const src = await loadCheckpoint(fixture('pytorch', 'layers.pth'));
    const back = await loadCheckpoint(out);
    expect(back.tensors.map((t) => t.name)).toEqual(src.tensors.map((t) => t.name));
    back.tensors.forEach((t, i) => expect(Buffer.compare(t.tensor.bytes(), src.tensors[i]!.tensor.bytes())).toBe(0));
  });

  it('--flatten takes the nested state dict and strips the DataParallel prefix', async () => {
    const out = join(dir, 'flat.pth');
    await convertCheckpoint(fixture('realworld', 'pytorch-resnet-cifar10-akamaster', 'resnet20-12fca82f.th'), out, { flatten: true });
    const back = await loadCheckpoint(out);
    expect(back.tensors[0]!.name).toBe('conv1.weight');
    expect(back.tensors.every((t) => !t.name.startsWith('module.') && !t.name.startsWith('state_dict'))).toBe(true);
    expect(toFloat32(back.tensors[0]!.tensor).length).toBe(432);
  });

  it('ZIP64 records (what files over 4 GiB need) are written and read back', async () => {
    const src = await loadCheckpoint(fixture('pytorch', 'layers.pth'));
    const out = join(dir, 'zip64.pth');
    writePth(out, src.root, { forceZip64: true });
    const raw = readFileSync(out);
    expect(raw.includes(Buffer.from([0x50, 0x4b, 0x06, 0x06]))).toBe(true); // ZIP64 end record
    const back = await loadCheckpoint(out);
    expect(back.tensors.map((t) => t.name)).toEqual(src.tensors.map((t) => t.name));
    back.tensors.forEach((t, i) => expect(Buffer.compare(t.tensor.bytes(), src.tensors[i]!.tensor.bytes())).toBe(0));
  });

  it('a failed conversion leaves nothing behind, not even a temporary file', async () => {
    const d = tempDir();
    const out = join(d, 'never.pth');
    await expect(convertCheckpoint(fixture('pytorch', 'layers.pth'), out)).rejects.toThrow(DoconvError); // layer 4 needs --kernel
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(d)).toEqual([]);
  });

  it('keras-h5 and gluon-params outputs create a missing parent folder, as pth does (all written through emit/atomic.ts)', async () => {
    const base = join(tempDir(), 'not', 'yet');
    for (const [src, out] of [
      [fixture('layers', 'keras_layers.h5'), join(base, 'h5', 'fused.h5')],
      [fixture('layers', 'gluon_layers.params'), join(base, 'params', 'fused.params')],
      [fixture('pytorch', 'layers.pth'), join(base, 'pth', 'fused.pth')],
    ] as const) {
      await convertCheckpoint(src, out, src.endsWith('layers.pth') ? { kernels: ['4=3x1'] } : {});
      const back = await loadCheckpoint(out);
      expect(back.tensors.length).toBeGreaterThan(0);
      expect(readdirSync(join(out, '..'))).toEqual([out.slice(out.lastIndexOf('/') + 1)]); // no temporary left beside it
    }
  });

  it('refuses unknown extensions with the flag to use, and graph targets for networks outside the zoo', async () => {
    await expect(convertCheckpoint(fixture('pytorch', 'layers.pth'), join(dir, 'x.tfjs'), { kernels: ['4=3x1'], to: 'tfjs' })).rejects.toThrow(/not a network of the zoo/);
    await expect(convertCheckpoint(fixture('pytorch', 'layers.pth'), join(dir, 'x.weird'))).rejects.toThrow(/--to/);
  });
});
