import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHILD, ROOT, type Culprit } from './campaign.js';
import { watch } from './watchdog.js';

const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const MARK = '\u0001fuzz ';
/** A hang guard, not a timing assertion: the CLI starts tfjs or onnxruntime, on 2 busy cores. */
const CLI_LIMIT_MS = 60_000;

interface Run {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  killedFor: string | undefined;
}

/** Runs a command under the watchdog (1 GiB resident, `limitMs`), collecting its output. */
function runWatched(args: string[], env: NodeJS.ProcessEnv, cwd: string, limitMs: number): Promise<Run> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const w = watch(child, limitMs);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('close', (status, signal) => {
      w.stop();
      resolveRun({ status, signal, stdout, stderr, killedFor: w.killedFor() });
    });
  });
}

interface Laid {
  index: number;
  seed: string;
  mutation: string;
  args: string[];
  dir: string;
}

/** What is wrong with a CLI run on a mutant: only exit 0, or exit 1 with one `doconv-zoo: error:` line. */
export function cliProblem(r: Run): string | undefined {
  if (r.killedFor !== undefined) return `killed: ${r.killedFor}`;
  if (r.status === 0) return undefined;
  const lines = r.stderr.replace(/\n$/, '').split('\n');
  const shown = JSON.stringify(r.stderr.slice(0, 300));
  if (r.status !== 1) return `exit ${r.status ?? r.signal}, stderr ${shown}`;
  if (lines.length !== 1) return `exit 1 with ${lines.length} stderr lines: ${shown}`;
  if (!lines[0]!.startsWith('doconv-zoo: error: ')) return `exit 1 without 'doconv-zoo: error:': ${shown}`;
  return undefined;
}

/**
 * The CLI level: mutants first..first+count-1 of a reader, laid out by the child in `write` mode, each
 * through `node dist/cli/main.js` as a user runs it, with the cache and temp folder in a sandbox.
 */
export async function cliSlice(reader: string, baseSeed: number, first: number, count: number): Promise<{ runs: number; exits: Record<string, number>; culprits: Culprit[] }> {
  const sandbox = mkdtempSync(join(tmpdir(), `doconv-zoo-fuzz-cli-${reader}-`));
  try {
    const env = { ...process.env, DOCONV_ZOO_CACHE: join(sandbox, 'cache'), TMPDIR: join(sandbox, 'tmp'), DOCONV_ZOO_OFFLINE: '' };
    mkdirSync(env.TMPDIR, { recursive: true });
    const laid = await runWatched([CHILD, 'write', reader, String(baseSeed), sandbox, String(first), String(count)], process.env, ROOT, CLI_LIMIT_MS);
    const mutants = laid.stdout.split('\n').filter((l) => l.startsWith(MARK)).map((l) => JSON.parse(l.slice(MARK.length)) as Laid & { done?: boolean }).filter((m) => m.done !== true);
    if (mutants.length !== count) throw new Error(`the child laid out ${mutants.length} of ${count} mutants: ${laid.stderr.slice(-500)}`);
    const exits: Record<string, number> = {};
    const culprits: Culprit[] = [];
    for (const m of mutants) {
      const r = await runWatched([CLI, ...m.args], env, m.dir, CLI_LIMIT_MS);
      const key = r.killedFor ? 'killed' : `exit ${r.status ?? r.signal}`;
      exits[key] = (exits[key] ?? 0) + 1;
      const problem = cliProblem(r);
      if (problem !== undefined) culprits.push({ reader: `${reader} (CLI: ${m.args[0]})`, seed: m.seed, index: m.index, mutation: m.mutation, problem });
      rmSync(m.dir, { recursive: true, force: true });
    }
    return { runs: mutants.length, exits, culprits };
  } finally {
    rmSync(sandbox, { recursive: true, force: true });
  }
}
