import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { BATCH_LIMIT_MS, watch, type Watch } from './watchdog.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHILD = join(ROOT, 'test', 'fuzz', 'fuzz-child.mjs');
/** The child's result lines start with this (anything else on its stdout is the library's). */
const MARK = '\u0001fuzz ';
/** Starting a child (importing the library, tfjs, onnxruntime) is not a batch; this only guards a hang. */
const START_LIMIT_MS = 60_000;
const STDERR_TAIL = 2000;

/** What the child reports for one mutant (test/fuzz/fuzz-child.mjs, runMutant). */
export interface MutantResult {
  index: number;
  seed: string;
  mutation: string;
  size: number;
  outcome: 'ok' | 'doconv' | 'other';
  code?: string;
  message?: string;
  /** Whether the DoconvError names its file. */
  named?: boolean;
  stack?: string;
  ms: number;
  escaped?: string[];
  leftover?: string[];
}

/** A mutant (or, when no single one fails alone, a batch) that broke the promise of issue 12. */
export interface Culprit {
  reader: string;
  seed: string;
  index: number | string;
  mutation: string;
  problem: string;
}

export interface ReaderReport {
  reader: string;
  mutants: number;
  outcomes: Record<string, number>;
  culprits: Culprit[];
  /** DoconvErrors without a file name (reported, not failed: the CLI adds none either). */
  unnamed: MutantResult[];
  failedBatches: number;
  childStarts: number;
  peakMiB: number;
  ms: number;
}

/** What is wrong with a mutant's result, if anything: only ok or a one-line DoconvError is allowed. */
export function problemOf(r: MutantResult): string | undefined {
  if (r.outcome === 'other') return `not a DoconvError: ${r.message ?? ''}${r.stack ? ` [${r.stack.split('\n').slice(1, 3).map((s) => s.trim()).join(' ')}]` : ''}`;
  if (r.outcome === 'doconv' && /[\r\n]/.test(r.message ?? '')) return `DoconvError ${r.code} message spans lines: ${JSON.stringify(r.message)}`;
  if (r.escaped) return `wrote outside the output, cache and temp folders: ${r.escaped.join(', ')}`;
  if (r.leftover) return `left half-written files after ${r.code ?? r.outcome}: ${r.leftover.join(', ')}`;
  return undefined;
}

interface BatchOutcome {
  results: MutantResult[];
  /** Why the batch did not finish: killed by the watchdog, or the child exited. */
  failure?: string;
}

/** One child process for one reader; replaced by a fresh one after it is killed or dies. */
class ReaderChild {
  private child: ChildProcess | undefined;
  private lines: AsyncIterator<string> | undefined;
  private stderr = '';
  private nextId = 0;
  starts = 0;
  peak = 0;

  constructor(
    private readonly reader: string,
    private readonly baseSeed: number,
  ) {}

  /** Starts the child if none runs, and waits for its 'ready' line. */
  private async ensure(): Promise<string | undefined> {
    if (this.child !== undefined) return undefined;
    const sandbox = mkdtempSync(join(tmpdir(), `doconv-zoo-fuzz-${this.reader}-`));
    const child = spawn(process.execPath, [CHILD, 'run', this.reader, String(this.baseSeed), sandbox], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.on('exit', () => rmSync(sandbox, { recursive: true, force: true }));
    this.stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString('utf8')).slice(-STDERR_TAIL);
    });
    this.child = child;
    this.lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    this.starts++;
    const w = watch(child, START_LIMIT_MS);
    const ready = await this.nextMessage(w);
    w.stop();
    if (ready === undefined || !('ready' in ready)) return this.fail(w, 'did not start');
    return undefined;
  }

  /** The next result line of the child, or undefined when its stdout ended (it exited or was killed). */
  private async nextMessage(w: Watch): Promise<Record<string, unknown> | undefined> {
    for (;;) {
      const next = await this.lines!.next();
      if (next.done) return undefined;
      if (next.value.startsWith(MARK)) return JSON.parse(next.value.slice(MARK.length)) as Record<string, unknown>;
      if (w.killedFor() !== undefined) return undefined;
    }
  }

  /** Says why the child stopped, and forgets it so the next batch starts a fresh one. */
  private async fail(w: Watch, what: string): Promise<string> {
    const child = this.child!;
    this.child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    const why = w.killedFor() ?? `${what}: exited with ${child.signalCode ?? `code ${child.exitCode}`}`;
    const tail = this.stderr.trim().split('\n').slice(-3).join(' | ');
    return tail === '' ? why : `${why} (stderr: ${tail.slice(0, 600)})`;
  }

  /** Runs mutants first..first+count-1, killed past 10 s or 1 GiB. */
  async batch(first: number, count: number): Promise<BatchOutcome> {
    const startFailure = await this.ensure();
    if (startFailure !== undefined) return { results: [], failure: `the child ${startFailure}` };
    const id = this.nextId++;
    const child = this.child!;
    const w = watch(child, BATCH_LIMIT_MS);
    child.stdin!.write(`${JSON.stringify({ id, first, count })}\n`);
    const results: MutantResult[] = [];
    try {
      for (;;) {
        const msg = await this.nextMessage(w);
        if (msg === undefined) return { results, failure: await this.fail(w, 'the child died') };
        if (msg.id !== id) continue;
        if (msg.done) return { results };
        results.push(msg as unknown as MutantResult);
      }
    } finally {
      this.peak = Math.max(this.peak, w.peakBytes());
      w.stop();
    }
  }

  close(): void {
    this.child?.stdin?.end();
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }
}

export interface CampaignOptions {
  reader: string;
  /** The reader's seed files, to name which one a mutant index comes from. */
  seeds: readonly string[];
  mutants: number;
  batchSize: number;
  baseSeed: number;
}

function count(outcomes: Record<string, number>, r: MutantResult): void {
  const k = r.outcome === 'doconv' ? `DoconvError ${r.code}` : r.outcome;
  outcomes[k] = (outcomes[k] ?? 0) + 1;
}

/**
 * Runs one reader's mutants in batches through one child; a failing batch (crash, kill, a result other
 * than ok or a one-line DoconvError) is re-run one mutant at a time, and those that fail alone are the
 * culprits. A batch that fails while none of its mutants fails alone is itself reported.
 */
export async function fuzzReader(o: CampaignOptions): Promise<ReaderReport> {
  const t0 = performance.now();
  const child = new ReaderChild(o.reader, o.baseSeed);
  const report: ReaderReport = { reader: o.reader, mutants: 0, outcomes: {}, culprits: [], unnamed: [], failedBatches: 0, childStarts: 0, peakMiB: 0, ms: 0 };
  const seedOf = (i: number): string => o.seeds[i % o.seeds.length]!;
  try {
    for (let first = 0; first < o.mutants; first += o.batchSize) {
      const n = Math.min(o.batchSize, o.mutants - first);
      const batch = await child.batch(first, n);
      const bad = batch.results.some((r) => problemOf(r) !== undefined);
      if (batch.failure === undefined && !bad) {
        for (const r of batch.results) {
          count(report.outcomes, r);
          if (r.outcome === 'doconv' && r.named === false) report.unnamed.push(r);
        }
        report.mutants += n;
        continue;
      }
      report.failedBatches++;
      const before = report.culprits.length;
      for (let i = first; i < first + n; i++) {
        const single = await child.batch(i, 1);
        const r = single.results[0];
        report.mutants++;
        if (r) {
          count(report.outcomes, r);
          if (r.outcome === 'doconv' && r.named === false) report.unnamed.push(r);
        } else report.outcomes.killed = (report.outcomes.killed ?? 0) + 1;
        const problem = single.failure ?? (r ? problemOf(r) : undefined);
        if (problem !== undefined) report.culprits.push({ reader: o.reader, seed: r?.seed ?? seedOf(i), index: i, mutation: r?.mutation ?? '(see the child: it died before reporting)', problem });
      }
      if (report.culprits.length === before) {
        report.culprits.push({ reader: o.reader, seed: o.seeds.join(','), index: `${first}..${first + n - 1}`, mutation: 'the batch as a whole', problem: `${batch.failure ?? 'a bad result'}, but no mutant fails alone (memory or time accumulated over the batch)` });
      }
    }
  } finally {
    child.close();
  }
  report.childStarts = child.starts;
  report.peakMiB = Math.round(child.peak / 1024 ** 2);
  report.ms = Math.round(performance.now() - t0);
  return report;
}

/** How to replay one culprit by hand (the child is deterministic in reader, base seed and index). */
export function replayCommand(c: Culprit, baseSeed: number): string {
  const first = typeof c.index === 'number' ? c.index : Number(String(c.index).split('..')[0]);
  return `echo '{"id":0,"first":${first},"count":1}' | node test/fuzz/fuzz-child.mjs run ${c.reader} ${baseSeed} $(mktemp -d)`;
}

/** At most `jobs` of the given tasks at once (the tier shares 2 cores with the rest of the suite). */
export function limiter(jobs: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    // A finishing task hands its slot straight to the next waiting one, so at most `jobs` ever run.
    if (running >= jobs) await new Promise<void>((r) => waiting.push(r));
    else running++;
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}
