// @tier shared-fixtures: reads ../shared/fixtures (or DOCONV_ZOO_FIXTURES); skipped where absent, a failure under CI=true (vitest.config.ts).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/checkpoint/load.js';
import { findStateDict } from '../src/checkpoint/tree.js';
import { DoconvError } from '../src/errors.js';
import { MemorySource } from '../src/formats/byte-source.js';
import { sniffFormat } from '../src/readers/sniff.js';
import { inspectFile } from '../src/inspect.js';
import { toFloat32 } from '../src/tensor/tensor.js';
import { fixture } from './helpers/paths.js';

type Expected = Record<string, { tensors: [string, number[], string][] }>;
const expected = JSON.parse(readFileSync(fixture('realworld', 'EXPECTED.json'), 'utf8')) as Expected;
const realFiles = Object.keys(expected);

describe('real-world files of every framework (../shared/fixtures/realworld)', () => {
  it('has files of all three frameworks to check', () => {
    expect(realFiles.some((f) => /\.(pth?|th)$/.test(f))).toBe(true);
    expect(realFiles.some((f) => /\.(h5|keras)$/.test(f))).toBe(true);
    expect(realFiles.some((f) => /\.params$/.test(f))).toBe(true);
  });

  it.each(realFiles)('%s: lists exactly the tensors EXPECTED.json lists', async (file) => {
    const report = await inspectFile(fixture('realworld', file));
    const ours = report.tensors.map((t) => [t.name, t.shape, t.dtype]);
    const sortKey = (a: unknown[]) => String(a[0]);
    expect([...ours].sort((a, b) => sortKey(a).localeCompare(sortKey(b)))).toEqual(
      [...expected[file]!.tensors].sort((a, b) => sortKey(a).localeCompare(sortKey(b))),
    );
  });

  it('reads the torch 0.3 legacy file (old _rebuild_tensor, cuda:0 storages, module. prefix)', async () => {
    const ckpt = await loadCheckpoint(fixture('realworld', 'pytorch-resnet-cifar10-akamaster', 'resnet20-12fca82f.th'));
    expect(ckpt.format).toBe('pytorch-legacy');
    expect(findStateDict(ckpt.root)?.path).toBe('state_dict');
    const w = ckpt.tensors.find((t) => t.name === 'state_dict.module.conv1.weight')!;
    const v = toFloat32(w.tensor);
    expect(v.length).toBe(16 * 3 * 3 * 3);
    expect(v.every(Number.isFinite)).toBe(true);
    expect(Math.max(...v.map(Math.abs))).toBeGreaterThan(0.01);
  });
});

describe('the zip and legacy formats of the same checkpoint', () => {
  it('give identical tensors, byte for byte', async () => {
    const zip = await loadCheckpoint(fixture('pytorch', 'layers.pth'));
    const legacy = await loadCheckpoint(fixture('pytorch', 'layers_legacy.pth'));
    expect(zip.tensors.map((t) => t.name)).toEqual(legacy.tensors.map((t) => t.name));
    zip.tensors.forEach((t, i) => expect(Buffer.compare(t.tensor.bytes(), legacy.tensors[i]!.tensor.bytes())).toBe(0));
  });

  it('keeps stored zip entries as views of the file buffer (no copies)', async () => {
    const ckpt = await loadCheckpoint(fixture('pytorch', 'resnet_basic_1111.pth'));
    const buffers = new Set(ckpt.tensors.map((t) => t.tensor.bytes().buffer));
    expect(buffers.size).toBe(1);
  });
});

describe('recognising files by content', () => {
  it.each([
    ['layers/keras_layers.h5', 'hdf5', /HDF5 file \(Keras \.h5\), not a pytorch checkpoint/],
    ['layers/gluon_layers.params', 'mxnet-ndarray-list', /MXNet NDArray list \(GluonCV \.params\), not a pytorch checkpoint/],
    ['layers/keras_layers.fused.npz', 'npz', /NumPy \.npz/],
    ['pytorch/layers.input.npy', 'npy', /NumPy \.npy/],
  ])('%s is %s, and reading it as a PyTorch checkpoint says so', async (path, format, message) => {
    const file = fixture(...path.split('/'));
    expect(sniffFormat(new MemorySource(readFileSync(file)))).toBe(format);
    try {
      await loadCheckpoint(file, { from: 'pytorch' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DoconvError);
      expect((err as DoconvError).code).toBe('WRONG_FORMAT');
      expect((err as DoconvError).message).toMatch(message);
      expect((err as DoconvError).file).toBe(file);
    }
  });
});
