// Always-run tier: damaged copies of the reference files committed under test/data/reference
// (truncated, mutated) must give a DoconvError, never a crash or another exception, and the CLI
// exits 1 with one line naming the file. No Python, nothing outside the clone.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DoconvError, fuseLayer, loadCheckpointBytes, parseKernelOverride } from '../src/index.js';
import { prng } from './helpers/hostile.js';
import { runCli, tempDir } from './helpers/paths.js';
import { refFile } from './helpers/test-data.js';

const kernels = [parseKernelOverride('4=3x1')];
const read = (name: string) => new Uint8Array(readFileSync(refFile(name)));

/** Reads everything a conversion would touch: every tensor's bytes and every layer's fusion. */
async function readFully(data: Uint8Array, name: string): Promise<void> {
  const ckpt = await loadCheckpointBytes(data, name, { kernels });
  for (const t of ckpt.tensors) t.tensor.bytes();
  for (const l of ckpt.layers) fuseLayer(l);
}

/** Runs fn; true when it threw a DoconvError, false when it succeeded, rethrows anything else. */
async function rejectsCleanly(fn: () => Promise<unknown>, what: string): Promise<boolean> {
  try {
    await fn();
    return false;
  } catch (err) {
    if (!(err instanceof DoconvError)) throw new Error(`${what}: ${(err as Error).stack}`);
    return true;
  }
}

describe('truncation at many offsets', () => {
  it.each(['layers.pth', 'layers_legacy.pth', 'gluon_layers.params', 'resnet.pth'])('%s cut anywhere gives a DoconvError', async (name) => {
    const full = read(name);
    await readFully(full, name); // the whole file reads
    const cuts = new Set<number>();
    for (let i = 0; i < 120; i++) cuts.add(Math.floor((full.length * i) / 120));
    for (let i = 1; i <= 48; i++) cuts.add(full.length - i);
    for (let i = 0; i < 48; i++) cuts.add(i);
    for (const cut of cuts) expect(await rejectsCleanly(() => readFully(full.subarray(0, cut), name), `cut at ${cut}`), `cut at ${cut}`).toBe(true);
  }, 120_000);
});

describe('fuzzing: random mutations of the reference files', () => {
  function mutate(src: Uint8Array, random: () => number): Uint8Array {
    const m = src.slice();
    const kind = random();
    // half the mutations land in the first 2 KiB, where pickles and headers are
    const pos = () => Math.floor(random() < 0.5 ? random() * Math.min(2048, m.length) : random() * m.length);
    if (kind < 0.6) {
      const flips = 1 + Math.floor(random() * 8);
      for (let i = 0; i < flips; i++) m[pos()] = Math.floor(random() * 256);
      return m;
    }
    if (kind < 0.8) {
      const at = pos();
      return Uint8Array.from([...m.subarray(0, at), ...m.subarray(at + 1 + Math.floor(random() * 64))]);
    }
    const at = pos();
    const junk = Uint8Array.from({ length: 1 + Math.floor(random() * 16) }, () => Math.floor(random() * 256));
    return Uint8Array.from([...m.subarray(0, at), ...junk, ...m.subarray(at)]);
  }

  it.each([
    ['layers.pth', 800],
    ['layers_legacy.pth', 800],
    ['gluon_layers.params', 800],
    ['keras_layers.h5', 150],
  ] as const)('%s: %i mutants give a result or a DoconvError, nothing else', async (name, runs) => {
    const src = read(name);
    const random = prng(name.length * 7919 + runs);
    let rejected = 0;
    for (let run = 0; run < runs; run++) {
      if (await rejectsCleanly(() => readFully(mutate(src, random), name), `${name} run ${run}`)) rejected++;
    }
    expect(rejected).toBeGreaterThan(0);
  }, 300_000);
});

describe('damaged files through the CLI', () => {
  const dir = tempDir();
  it.each([
    ['half of layers.pth', 'layers.pth'],
    ['half of layers_legacy.pth', 'layers_legacy.pth'],
    ['half of keras_layers.h5', 'keras_layers.h5'],
    ['half of gluon_layers.params', 'gluon_layers.params'],
  ])('%s: exit 1, one line naming the file, nothing written', (label, name) => {
    const full = read(name);
    const file = join(dir, `half_${name}`);
    writeFileSync(file, full.subarray(0, full.length >> 1));
    const out = join(dir, `${label.replace(/\W/g, '_')}.out.npz`);
    const kernel = name.endsWith('.pth') ? ['--kernel', '4=3x1'] : [];
    // the intact file converts with the same arguments: the failure is the damage's
    const intact = runCli(['convert', refFile(name), '-o', join(dir, `intact_${name}.npz`), ...kernel]);
    expect(intact.status, intact.stderr).toBe(0);
    const r = runCli(['convert', file, '-o', out, ...kernel]);
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(file);
    expect(existsSync(out)).toBe(false);
  });
});
