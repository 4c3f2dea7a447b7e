// The Python tier for test/data/reference: scripts/reference/make_test_data.py (Debian's torch,
// numpy and h5py) is rerun into a temporary folder, and every file it writes must hold the values of
// the committed one (tensors within 1e-6 relative; values, not bytes: torch files carry record
// names and storage keys that may differ run to run). Skipped off CI without Python; with CI=true a
// missing Python fails the run (test/helpers/python.ts). Reads nothing outside the clone.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/index.js';
import { tempDir } from './helpers/paths.js';
import { pythonTier, runPython } from './helpers/python.js';
import { compareTensorMaps, MAKE_TEST_DATA, REFERENCE_DIR, tensorsOf } from './helpers/test-data.js';

const tier = pythonTier();
const committed = readdirSync(REFERENCE_DIR).sort();

describe('the committed reference files', () => {
  it('are the files the script writes, all small (under 1.5 MB together)', () => {
    const stacks = ['gluon_layers', 'keras_layers', 'layers'].flatMap((s) => [`${s}.expected.npy`, `${s}.fused.npz`, `${s}.input.npy`]);
    const resnet = ['resnet.expected.npy', 'resnet.input.npy', 'resnet.plain.expected.npy', 'resnet.plain.pth', 'resnet.pth'];
    const files = [...stacks, 'gluon_layers.params', 'keras_layers.h5', 'layers.pth', 'layers_legacy.pth', 'manifest.json', ...resnet];
    expect(committed).toEqual(files.sort());
    const total = committed.reduce((n, f) => n + readFileSync(join(REFERENCE_DIR, f)).length, 0);
    expect(total).toBeLessThan(1.5 * 1024 * 1024);
  });
});

describe.skipIf(!tier.available)(`make_test_data.py regenerates test/data/reference with the same values (${tier.reason})`, () => {
  const out = tempDir('doconv-zoo-regen-');
  let run: { status: number; stdout: string; stderr: string };
  beforeAll(() => {
    run = runPython([MAKE_TEST_DATA, out], 300_000);
  });

  it('runs and writes exactly the committed set of files', () => {
    expect(run.status, run.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(committed);
  });

  const tensorFiles = committed.filter((f) => !f.endsWith('.json'));
  it.each(tensorFiles)('%s holds the same tensors (names, dtypes, shapes; values within 1e-6 relative)', async (file) => {
    expect(run.status, run.stderr).toBe(0);
    const ours = await tensorsOf(join(out, file));
    const theirs = await tensorsOf(join(REFERENCE_DIR, file));
    expect(ours.size).toBeGreaterThan(0);
    expect(compareTensorMaps(ours, theirs, 1e-6)).toEqual([]);
  });

  it.each(committed.filter((f) => /\.(pth|h5|params)$/.test(f)))('%s is read in the same format with the same DO-Conv layers and config', async (file) => {
    expect(run.status, run.stderr).toBe(0);
    const [a, b] = await Promise.all([loadCheckpoint(join(out, file)), loadCheckpoint(join(REFERENCE_DIR, file))]);
    expect(a.format).toBe(b.format);
    const summary = (c: typeof a) => c.layers.map((l) => [l.name, l.inChannels, l.outChannels, l.groups, l.kernelArea, l.dMul, l.bias]);
    expect(summary(a)).toEqual(summary(b));
    expect(a.config).toEqual(b.config);
  });

  it('manifest.json is the same, library versions (made_by) apart', () => {
    expect(run.status, run.stderr).toBe(0);
    const read = (d: string) => JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8')) as { made_by: unknown; cases: unknown };
    const [a, b] = [read(out), read(REFERENCE_DIR)];
    expect(Object.keys(a)).toEqual(['made_by', 'cases']);
    expect(a.cases).toEqual(b.cases);
  });
});
