import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/checkpoint/load.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { tempDir } from '../helpers/paths.js';
import { expectOneLineError, hdf5Input, runCliKilledAfter, runCliToFile } from './hdf5-helpers.js';

// Issue 12, items 2, 3, 13, 19 (HDF5 diagnostics and non-UTF-8 names) and 20 (no temporary copy):
// HDF5 is read only through h5wasm's in-memory file system, which holds nothing but the input.

/** A folder holding `name` (and its companions), with a secret file beside it that nothing may read. */
function caseDir(name: string, companions: string[] = []): string {
  const dir = tempDir();
  for (const f of [name, ...companions]) copyFileSync(hdf5Input(f), join(dir, f));
  writeFileSync(join(dir, 'secret.txt'), 'TOP-SECRET-MARKER '.repeat(8));
  return dir;
}

describe('item 2: HDF5 features that read other files are refused', () => {
  const CASES = [
    ['external-absolute.h5', [], 'external storage'],
    ['external-relative.h5', [], 'external storage'],
    ['external-link.h5', ['external-link-target.h5'], 'external link'],
    ['virtual.h5', ['virtual-source.h5'], 'virtual dataset'],
  ] as const;
  it.each(CASES)('%s: exit 1 naming the dataset, no output, nothing of another file read', (name, companions, needle) => {
    const dir = caseDir(name, [...companions]);
    const r = runCliToFile(['convert', name, '--to', 'npz', '-o', 'out.npz'], { cwd: dir });
    expectOneLineError(r, name, "key 'dense/dense/kernel:0'", needle, 'refused');
    expect(existsSync(join(dir, 'out.npz'))).toBe(false);
    expect(r.stdout + r.stderr).not.toContain('TOP-SECRET');
  });

  it.each(['filter-lzf.h5', 'filter-scaleoffset.h5'])('%s: a filter other than deflate/shuffle/fletcher32 is refused by name', (name) => {
    const r = runCliToFile(['inspect', hdf5Input(name)], { cwd: tempDir() });
    expectOneLineError(r, name, 'HDF5 filter', 'not supported');
  });

  it('deflate + shuffle + fletcher32 read back the exact values', async () => {
    const ckpt = await loadCheckpoint(hdf5Input('filter-allowed.h5'));
    const t = ckpt.tensors.find((x) => x.name === 'dense/dense/kernel:0')?.tensor;
    expect(t?.shape).toEqual([64, 64]);
    const values = new Float32Array(t!.bytes().slice().buffer);
    expect(values[100]).toBeCloseTo(100 / 7, 5);
    expect(values[4095]).toBeCloseTo(4095 / 7, 5);
  });

  it('a chunk that fails to inflate is exit 1 naming the dataset (the read status is checked)', () => {
    const r = runCliToFile(['convert', hdf5Input('corrupt-chunk.h5'), '--to', 'npz', '-o', 'out.npz'], { cwd: tempDir() });
    expectOneLineError(r, 'corrupt-chunk.h5', "key 'layers/dense/vars/0'", 'cannot read the dataset');
  });
});

describe('items 3 and 13: dataset sizes are bounded by the file size', () => {
  it.each([
    ['unwritten-3x1gib.h5', '3 never-written chunked datasets of 1 GiB in a 5 KB file'],
    ['deflate-128mib.h5', '128 MiB of deflated zeros in a 135 KB file'],
  ])('%s (%s) is refused before anything is allocated', (name) => {
    const r = runCliToFile(['inspect', hdf5Input(name)], { cwd: tempDir(), timeoutMs: 60_000 });
    expectOneLineError(r, name, 'may decode to', '64 MiB + 16 x the file size');
  });
});

describe('item 13: links and attributes cost each object once', () => {
  it('a group hard-linked into itself is walked once (no endless recursion)', () => {
    const r = runCliToFile(['inspect', hdf5Input('self-link.h5'), '--json', '--tensors'], { cwd: tempDir(), timeoutMs: 60_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('layers/dense/vars/0');
    expect(r.stdout).not.toContain('loop/dense');
  });

  it('a dataset hard-linked 300 times is read once: every link names the same tensor', async () => {
    const ckpt = await loadCheckpoint(hdf5Input('hardlink-300.h5'));
    const tensors = ckpt.tensors.map((x) => x.tensor);
    expect(tensors).toHaveLength(300);
    expect(new Set<Tensor>(tensors).size).toBe(1);
  });

  it('2000 chunked layer_names0..1999 attributes are read in linear time (hang guard 30 s)', () => {
    const r = runCliToFile(['inspect', hdf5Input('layer-names-2000.h5')], { cwd: tempDir(), timeoutMs: 30_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('1 tensors');
  });
});

describe('item 19: HDF5 diagnostics never reach stderr, nothing of the process is patched', () => {
  it('a layer name that is not UTF-8 gives one line on a stderr that is a file, and nothing else', () => {
    const dir = tempDir();
    const r = runCliToFile(['inspect', hdf5Input('non-utf8-name.h5')], { cwd: dir });
    expectOneLineError(r, 'non-utf8-name.h5');
    expect(r.stderr).not.toMatch(/warning|HDF5-DIAG/);
  });

  it('after an HDF5 error in the process, later stderr writes still arrive', async () => {
    const dir = tempDir();
    const script = join(dir, 'later.mjs');
    const load = new URL('../../dist/checkpoint/load.js', import.meta.url).href;
    writeFileSync(
      script,
      `import { loadCheckpoint } from ${JSON.stringify(load)};\n` +
        `try { await loadCheckpoint(${JSON.stringify(hdf5Input('corrupt-chunk.h5'))}); } catch (e) { process.stderr.write('first: ' + e.code + '\\n'); }\n` +
        `try { await loadCheckpoint(${JSON.stringify(hdf5Input('non-utf8-name.h5'))}); } catch (e) { process.stderr.write('second: ' + e.code + '\\n'); }\n` +
        `process.stderr.write('after\\n');\n`,
    );
    const { spawnSync } = await import('node:child_process');
    const { openSync, closeSync, readFileSync } = await import('node:fs');
    const errPath = join(dir, 'err.txt');
    const fd = openSync(errPath, 'w');
    const r = spawnSync(process.execPath, [script], { stdio: ['ignore', 'ignore', fd], timeout: 60_000 });
    closeSync(fd);
    expect(r.status).toBe(0);
    expect(readFileSync(errPath, 'utf8')).toBe('first: CORRUPT\nsecond: CORRUPT\nafter\n');
  });
});

describe('item 20: HDF5 reads and writes leave nothing in the temp folder', () => {
  const temps: string[] = [];
  afterAll(() => {
    for (const t of temps) rmSync(t, { recursive: true, force: true });
  });
  const freshTmp = (): string => {
    const t = mkdtempSync(join(tmpdir(), 'doconv-hdf5-tmp-'));
    temps.push(t);
    return t;
  };

  it('a read killed with SIGKILL leaves no copy of the input in TMPDIR', async () => {
    const tmp = freshTmp();
    await runCliKilledAfter(['inspect', hdf5Input('layer-names-2000.h5')], { cwd: tempDir(), env: { TMPDIR: tmp }, killAfterMs: 1500 });
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('converting a Keras file to keras-h5 writes only the output (no temporary file in TMPDIR) and it reads back', async () => {
    const tmp = freshTmp();
    const dir = tempDir();
    const out = join(dir, 'out.h5');
    const r = runCliToFile(['convert', hdf5Input('sequential-valid.h5'), '--to', 'keras-h5', '-o', out], { cwd: dir, env: { TMPDIR: tmp } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(readdirSync(tmp)).toEqual([]);
    expect(readdirSync(dir).filter((f) => !f.startsWith('.stderr-'))).toEqual(['out.h5']);
    const back = await loadCheckpoint(out);
    expect(back.tensors.map((t) => t.name).sort()).toEqual(['conv/conv/bias:0', 'conv/conv/kernel:0', 'fc/fc/bias:0', 'fc/fc/kernel:0']);
  });
});
