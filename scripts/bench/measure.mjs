// Shared by the benchmarks: generate a DO-Conv case with torch, and time a command under /usr/bin/time.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const PYTHON = '/usr/bin/python3';

export function generateCase(root, dir, caseName) {
  const gen = spawnSync(PYTHON, [join(root, 'scripts/reference/make_cases.py'), dir, '--only', caseName], { encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(`make_cases.py failed:\n${gen.stderr}`);
  return join(dir, `${caseName}.pth`);
}

/** Runs a command under /usr/bin/time: wall seconds and peak RSS in bytes. */
export function measure(cmd, args) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  const [sec, kb] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { seconds: sec, rss: kb * 1024 };
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const mib = (b) => (b / 2 ** 20).toFixed(1);
