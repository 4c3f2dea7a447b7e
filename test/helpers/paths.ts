import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The team's shared reference data, read in place (never copied); DOCONV_ZOO_FIXTURES overrides. */
export const FIXTURES = process.env.DOCONV_ZOO_FIXTURES ?? resolve(ROOT, '..', 'shared', 'fixtures');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

export function fixture(...parts: string[]): string {
  const p = join(FIXTURES, ...parts);
  if (!existsSync(p)) throw new Error(`missing shared fixture ${p}; the tests expect ../shared/fixtures beside the project`);
  return p;
}

const created: string[] = [];

/** A fresh temporary folder, removed after the test file (test/helpers/cleanup.ts). */
export function tempDir(prefix = 'doconv-zoo-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

/** Removes every folder tempDir made: full-size models would otherwise fill the disk run by run. */
export function removeTempDirs(): void {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the built CLI as a user would (requires `npm run build`, which `npm test` does first). */
export function runCli(args: string[], timeoutMs = 60_000): CliResult {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}
