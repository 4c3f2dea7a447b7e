import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fuzzReader, limiter, replayCommand, ROOT, type Culprit, type ReaderReport } from './campaign.js';
import { cliSlice } from './cli-slice.js';

// The seeded fuzz tier of issue 12: a few thousand mutants of the seeds in test/data/fuzz-seeds (made by
// scripts/fuzz/make_seeds.py) through every reader's real entry point, each reader in its own child
// process (test/fuzz/fuzz-child.mjs, on the built dist/), killed past 1 GiB resident or 10 s a batch
// (test/fuzz/watchdog.ts). Only two ends are allowed: the input is read, or a DoconvError with a
// one-line message; nothing may be written outside the output, cache and temp folders, and a failed
// read leaves no half-written file. A CLI slice checks exit 0, or exit 1 with one stderr line.
//
// DOCONV_ZOO_FUZZ_MUTANTS      mutants per reader (default 400)
// DOCONV_ZOO_FUZZ_CLI_MUTANTS  mutants per reader through the CLI (default 12)
// DOCONV_ZOO_FUZZ_SEED         base seed (default 12; every mutant is a function of it and its index)
// DOCONV_ZOO_FUZZ_BATCH        mutants per batch (default 25)
// DOCONV_ZOO_FUZZ_JOBS         child processes at once (default 2)
// DOCONV_ZOO_FUZZ_REPORT       write every reader's report (outcomes, culprits) to this JSON file

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got '${v}'`);
  return n;
}

const MUTANTS = envInt('DOCONV_ZOO_FUZZ_MUTANTS', 400);
const CLI_MUTANTS = envInt('DOCONV_ZOO_FUZZ_CLI_MUTANTS', 12);
const BASE_SEED = envInt('DOCONV_ZOO_FUZZ_SEED', 12);
const BATCH = Math.max(1, envInt('DOCONV_ZOO_FUZZ_BATCH', 25));
const JOBS = Math.max(1, envInt('DOCONV_ZOO_FUZZ_JOBS', 2));
/** CLI mutants come from their own index range, so they are not the in-process ones again. */
const CLI_FIRST = 1_000_000;
/** The whole tier must end within 5 minutes; this only stops one reader that would hold it far longer. */
const TEST_LIMIT_MS = 600_000;

/** Every reader of the tier and its seed files (the child knows how to lay out and read each). */
const READERS: Record<string, readonly string[]> = {
  pickle: ['pickle/legacy.pth'],
  zip: ['zip/zip.pth'],
  hdf5: ['hdf5/keras.h5'],
  params: ['params/gluon.params'],
  npy: ['npy/input.npy'],
  npz: ['npz/fused.npz'],
  safetensors: ['safetensors/fused.safetensors'],
  onnx: ['onnx/tiny.onnx'],
  tfjs: ['tfjs/model.json'],
  manifest: ['registry/manifest.json'],
  tar: ['tar/tfjs.tar', 'tar/tfjs.tar.gz'],
};

const run = limiter(JOBS);
const reports: ReaderReport[] = [];

function describeCulprits(culprits: Culprit[]): string {
  return culprits.map((c) => `${c.reader} ${c.seed} mutant ${c.index} (${c.mutation}): ${c.problem}\n    replay: ${replayCommand(c, BASE_SEED)}`).join('\n');
}

function saveReport(): void {
  const path = process.env.DOCONV_ZOO_FUZZ_REPORT;
  if (path) writeFileSync(path, `${JSON.stringify(reports, null, 1)}\n`);
}

describe('seeded fuzz tier (issue 12): every reader ends in its result or a one-line DoconvError', () => {
  it('has the built CLI and every seed file', () => {
    expect(existsSync(join(ROOT, 'dist', 'index.js')), 'run npm run build first').toBe(true);
    for (const seeds of Object.values(READERS)) for (const s of seeds) expect(existsSync(join(ROOT, 'test', 'data', 'fuzz-seeds', s)), s).toBe(true);
  });

  it.concurrent.each(Object.keys(READERS))(
    `%s: ${MUTANTS} mutants in a child process under 1 GiB and 10 s a batch: only results or one-line DoconvErrors, nothing written outside, nothing half-written`,
    async (reader) => {
      const report = await run(() => fuzzReader({ reader, seeds: READERS[reader]!, mutants: MUTANTS, batchSize: BATCH, baseSeed: BASE_SEED }));
      reports.push(report);
      saveReport();
      expect(report.mutants).toBe(MUTANTS);
      // The mutants reach the reader: a good share of them is refused with a DoconvError.
      const refused = Object.entries(report.outcomes).filter(([k]) => k.startsWith('DoconvError')).reduce((a, [, n]) => a + n, 0);
      expect(refused).toBeGreaterThan(MUTANTS / 10);
      expect(report.culprits, describeCulprits(report.culprits)).toEqual([]);
    },
    TEST_LIMIT_MS,
  );

  it.concurrent.each(Object.keys(READERS))(
    `%s through the CLI: ${CLI_MUTANTS} mutants exit 0, or exit 1 with exactly one 'doconv-zoo: error:' line`,
    async (reader) => {
      const slice = await run(() => cliSlice(reader, BASE_SEED, CLI_FIRST, CLI_MUTANTS));
      expect(slice.runs).toBe(CLI_MUTANTS);
      expect(slice.culprits, describeCulprits(slice.culprits)).toEqual([]);
    },
    TEST_LIMIT_MS,
  );
});
