import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { CLI, ROOT } from '../helpers/paths.js';

/** The committed hostile HDF5 inputs (scripts/hostile/make_hdf5.py writes them). */
export const HDF5_DATA = join(ROOT, 'test', 'data', 'hostile', 'hdf5');

export function hdf5Input(name: string): string {
  return join(HDF5_DATA, name);
}

export interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built CLI with its stderr going to a regular file (not a pipe), in `cwd`, with extra
 * environment variables; `timeoutMs` is a hang guard (the run is killed and reported unfinished).
 */
export function runCliToFile(args: string[], options: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): CliRun {
  const errPath = join(options.cwd, `.stderr-${process.pid}-${Date.now()}.txt`);
  const errFd = openSync(errPath, 'w');
  try {
    const r = spawnSync(process.execPath, [CLI, ...args], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', errFd],
      encoding: 'utf8',
      timeout: options.timeoutMs ?? 60_000,
      maxBuffer: 64 << 20,
    });
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: readFileSync(errPath, 'utf8') };
  } finally {
    closeSync(errFd);
  }
}

/** Exit 1 and exactly one stderr line `doconv-zoo: error: ...` holding every needle. */
export function expectOneLineError(r: CliRun, ...needles: string[]): void {
  expect(r.signal).toBeNull();
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^doconv-zoo: error: /);
  for (const n of needles) expect(r.stderr).toContain(n);
  expect(r.status).toBe(1);
}

/**
 * Starts the CLI, kills it with SIGKILL after `killAfterMs` if it is still running (a killed read
 * runs no cleanup at all), and resolves when it has ended.
 */
export function runCliKilledAfter(args: string[], options: { cwd: string; env: Record<string, string>; killAfterMs: number }): Promise<{ killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: 'ignore' });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, options.killAfterMs);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve({ killed });
    });
  });
}
