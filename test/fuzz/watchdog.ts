import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';

/** The bounds of issue 12's fuzz tier: a child past 1 GiB resident, or a batch past 10 s, is killed. */
export const RSS_LIMIT_BYTES = 1024 ** 3;
export const BATCH_LIMIT_MS = 10_000;
const POLL_MS = 50;

/**
 * VmRSS of a process from /proc/PID/status, in bytes; undefined once it is gone. Resident memory is the
 * cap because it counts typed arrays and WebAssembly memory, which --max-old-space-size does not
 * bound, and it does not stop wasm from reserving address space as ulimit -v does.
 */
export function residentBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface Watch {
  /** Why the child was killed ('resident memory ...' or 'still running after ...'), once it was. */
  readonly killedFor: () => string | undefined;
  /** The largest resident size seen. */
  readonly peakBytes: () => number;
  stop(): void;
}

/**
 * Polls a child's resident size every 50 ms and kills it (SIGKILL) past `rssLimit`, or when
 * `deadlineMs` passes (the batch limit; Infinity while the child only starts).
 */
export function watch(child: ChildProcess, deadlineMs: number, rssLimit = RSS_LIMIT_BYTES): Watch {
  let reason: string | undefined;
  let peak = 0;
  const started = Date.now();
  const kill = (why: string): void => {
    if (reason !== undefined) return;
    reason = why;
    child.kill('SIGKILL');
  };
  const timer = setInterval(() => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const rss = residentBytes(child.pid);
    if (rss !== undefined) {
      peak = Math.max(peak, rss);
      if (rss > rssLimit) kill(`resident memory ${(rss / 1024 ** 2).toFixed(0)} MiB passed the ${(rssLimit / 1024 ** 2).toFixed(0)} MiB limit`);
    }
    if (Date.now() - started > deadlineMs) kill(`still running after ${(deadlineMs / 1000).toFixed(0)} s`);
  }, POLL_MS);
  timer.unref();
  return { killedFor: () => reason, peakBytes: () => peak, stop: () => clearInterval(timer) };
}
