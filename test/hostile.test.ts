// @tier shared-fixtures: reads ../shared/fixtures (or DOCONV_ZOO_FIXTURES); skipped where absent, a failure under CI=true (vitest.config.ts).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint, loadCheckpointBytes } from '../src/checkpoint/load.js';
import { fuseLayer } from '../src/doconv/fuse-layer.js';
import { parseKernelOverride } from '../src/doconv/kernel-spec.js';
import { DoconvError } from '../src/errors.js';
import { bytes, legacyStream, osSystemPickle, prng, tensorPickle, writeTorchZip } from './helpers/hostile.js';
import { fixture, runCli, tempDir } from './helpers/paths.js';

const kernels = [parseKernelOverride('4=3x1')];

/** Reads everything a conversion would touch: every tensor's bytes and every layer's fusion. */
async function readFully(data: Uint8Array, name = 'mutant.pth'): Promise<void> {
  const ckpt = await loadCheckpointBytes(data, name, { kernels });
  for (const t of ckpt.tensors) t.tensor.bytes();
  for (const l of ckpt.layers) fuseLayer(l);
}

async function expectDoconvError(fn: () => unknown, code?: string): Promise<DoconvError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DoconvError);
    if (code !== undefined) expect((err as DoconvError).code).toBe(code);
    return err as DoconvError;
  }
  throw new Error('expected a DoconvError, but nothing was thrown');
}

describe('a pickle that would call os.system', () => {
  const dir = tempDir();
  const sentinel = join(dir, 'pwned');
  const payload = `touch ${sentinel}`;

  it.each([
    ['zip format', () => writeTorchZip(join(dir, 'evil.pth'), osSystemPickle(payload))],
    ['legacy format', () => writeFileSync(join(dir, 'evil.pth'), legacyStream(osSystemPickle(payload)))],
  ])('%s: exits 1 naming the global, executes nothing, writes nothing', (_f, make) => {
    make();
    const out = join(dir, 'out.pth');
    const r = runCli(['convert', join(dir, 'evil.pth'), '-o', out]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('posix.system');
    expect(r.stderr).toMatch(/offset \d+/);
    expect(existsSync(sentinel)).toBe(false);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

describe('files that lie about their sizes', () => {
  it('a tensor whose shape claims far more than its storage holds', async () => {
    const dir = tempDir();
    const file = join(dir, 'big.pth');
    writeTorchZip(file, tensorPickle(4, [1_000_000_000], [1]), { '0': new Uint8Array(16) });
    const err = await expectDoconvError(() => loadCheckpoint(file), 'TENSOR_OUT_OF_BOUNDS');
    expect(err.message).toContain('1000000000');
    expect(err.file).toBe(file);
  });

  it('overlapping strides that would expand a few bytes into gigabytes', async () => {
    const dir = tempDir();
    const file = join(dir, 'overlap.pth');
    writeTorchZip(file, tensorPickle(4, [100_000, 100_000], [0, 1]), { '0': new Uint8Array(16) });
    await expectDoconvError(() => loadCheckpoint(file), 'TENSOR_OUT_OF_BOUNDS');
  });

  it('a storage that claims more elements than its zip entry holds', async () => {
    const dir = tempDir();
    const file = join(dir, 'short.pth');
    writeTorchZip(file, tensorPickle(1 << 30, [4], [1]), { '0': new Uint8Array(16) });
    await expectDoconvError(() => loadCheckpoint(file), 'TENSOR_OUT_OF_BOUNDS');
  });

  it('a legacy storage that claims more bytes than the file has', async () => {
    const keys = bytes(0x80, 2, 0x5d, 0x58, 1, 0, 0, 0, '0', 0x61, 0x2e); // ['0']
    const count = Buffer.alloc(8);
    count.writeBigUInt64LE(1000n);
    const data = bytes(legacyStream(tensorPickle(1000, [1000], [1], true), keys), count, new Uint8Array(40));
    const err = await expectDoconvError(() => loadCheckpointBytes(data, 'x.pth'));
    expect(['TENSOR_OUT_OF_BOUNDS', 'TRUNCATED']).toContain(err.code);
  });

  it('a zip whose end record claims 65000 entries in a few bytes', async () => {
    const file = join(tempDir(), 'many.pth');
    writeTorchZip(file, tensorPickle(4, [4], [1]), { '0': new Uint8Array(16) });
    const bad = new Uint8Array(readFileSync(file));
    const eocd = bad.length - 22;
    bad[eocd + 10] = 0xe8;
    bad[eocd + 11] = 0xfd;
    expect((await loadCheckpoint(file)).tensors).toHaveLength(1);
    await expectDoconvError(() => loadCheckpointBytes(bad, 'x.pth'), 'ZIP_INVALID');
  });
});

describe('damaged files through the CLI', () => {
  const dir = tempDir();
  const cases: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['random bytes', Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff)],
    ['half a zip checkpoint', new Uint8Array(readFileSync(fixture('pytorch', 'layers.pth'))).subarray(0, 100_000)],
    ['half a legacy checkpoint', new Uint8Array(readFileSync(fixture('pytorch', 'layers_legacy.pth'))).subarray(0, 100_000)],
  ];
  it.each(cases)('%s: exit 1, one line naming the file, nothing written', async (name, data) => {
    const file = join(dir, `${name.replace(/ /g, '_')}.pth`);
    writeFileSync(file, data);
    const out = join(dir, 'out.pth');
    const r = runCli(['convert', file, '-o', out, '--kernel', '4=3x1']);
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(file);
    expect(existsSync(out)).toBe(false);
  });
});

describe('truncation at many offsets', () => {
  it.each(['layers.pth', 'layers_legacy.pth'])('%s cut anywhere gives a DoconvError', async (name) => {
    const full = new Uint8Array(readFileSync(fixture('pytorch', name)));
    const cuts = new Set<number>();
    for (let i = 0; i < 150; i++) cuts.add(Math.floor((full.length * i) / 150));
    for (let i = 1; i <= 64; i++) cuts.add(full.length - i);
    for (let i = 0; i < 64; i++) cuts.add(i);
    for (const cut of cuts) await expectDoconvError(() => readFully(full.subarray(0, cut)));
  });
});

describe('fuzzing: random mutations of real fixtures', () => {
  const sources = ['layers.pth', 'layers_legacy.pth'].map((n) => new Uint8Array(readFileSync(fixture('pytorch', n))));

  it('finds no failure other than DoconvError in 3000 mutants', async () => {
    const random = prng(20061203);
    let rejected = 0;
    for (let run = 0; run < 3000; run++) {
      const src = sources[run % 2]!;
      const m = src.slice();
      const kind = random();
      // Half the mutations land in the first 2 KiB, where the pickle and headers are.
      const pos = () => Math.floor(random() < 0.5 ? random() * Math.min(2048, m.length) : random() * m.length);
      let data: Uint8Array = m;
      if (kind < 0.6) {
        const flips = 1 + Math.floor(random() * 8);
        for (let i = 0; i < flips; i++) m[pos()] = Math.floor(random() * 256);
      } else if (kind < 0.8) {
        const at = pos();
        const len = 1 + Math.floor(random() * 64);
        data = Uint8Array.from([...m.subarray(0, at), ...m.subarray(at + len)]);
      } else {
        const at = pos();
        const junk = Uint8Array.from({ length: 1 + Math.floor(random() * 16) }, () => Math.floor(random() * 256));
        data = Uint8Array.from([...m.subarray(0, at), ...junk, ...m.subarray(at)]);
      }
      try {
        await readFully(data);
      } catch (err) {
        if (!(err instanceof DoconvError)) throw new Error(`run ${run}: ${(err as Error).stack}`);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(100);
  });
});
