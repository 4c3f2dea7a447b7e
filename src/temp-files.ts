import { rmSync } from 'node:fs';

// Temporary files and folders this process is writing (atomic outputs, downloads being
// unpacked, scratch copies). They are removed on every way out of the process: a normal exit,
// an uncaught error, and SIGINT/SIGTERM/SIGHUP, after which the process ends as the signal asks
// (exit status 128 + signal number; a host application that listens to the
// signal itself keeps that decision), so an interrupted run leaves nothing half-written behind.

const pending = new Set<string>();
let installed = false;

const SIGNALS: readonly [NodeJS.Signals, number][] = [
  ['SIGINT', 2],
  ['SIGTERM', 15],
  ['SIGHUP', 1],
];

function removeAll(): void {
  for (const p of pending) {
    try {
      rmSync(p, { force: true, recursive: true });
    } catch {
      // Best effort: the process is ending; a folder we cannot remove is not worth a crash.
    }
  }
  pending.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', removeAll);
  for (const [signal, number] of SIGNALS) {
    process.on(signal, () => {
      removeAll();
      // A host application with its own handler decides itself whether to end; alone, we end as
      // the default action would have.
      if (process.listenerCount(signal) === 1) process.exit(128 + number);
    });
  }
}

/** Registers a temporary path to remove if the process ends before `releaseTemp` is called. */
export function trackTemp(path: string): void {
  install();
  pending.add(path);
}

/** The temporary path was renamed into place or removed: no longer ours to clean up. */
export function releaseTemp(path: string): void {
  pending.delete(path);
}

/** Removes a tracked temporary path now (an error path) and stops tracking it. */
export function removeTemp(path: string): void {
  pending.delete(path);
  rmSync(path, { force: true, recursive: true });
}
