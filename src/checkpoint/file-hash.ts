import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

// The worker is plain CommonJS evaluated from a string, so it runs the same from src/ (tests)
// and dist/ (the CLI). It streams the file through SHA-256 and posts the hex digest into shared memory.
const WORKER = `
const { workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const state = new Int32Array(workerData.shared, 0, 1);
const out = new Uint8Array(workerData.shared, 4, 64);
try {
  const h = createHash('sha256');
  const fd = openSync(workerData.path, 'r');
  const buf = Buffer.allocUnsafe(4 << 20);
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n <= 0) break;
    h.update(buf.subarray(0, n));
  }
  closeSync(fd);
  out.set(Buffer.from(h.digest('hex'), 'latin1'));
  Atomics.store(state, 0, 1);
} catch (e) {
  Atomics.store(state, 0, -1);
}
Atomics.notify(state, 0);
`;

/**
 * Starts hashing a file on a worker thread and returns a function that waits for (and caches) the
 * hex SHA-256. Conversion fuses on the main thread meanwhile, so the hash costs no wall-clock time
 * on a machine with two cores. If the worker fails, the digest is computed in-thread from `fallback`.
 */
export function hashFileInBackground(path: string, fallback: () => Uint8Array): () => string {
  const shared = new SharedArrayBuffer(4 + 64);
  const state = new Int32Array(shared, 0, 1);
  let worker: Worker | undefined;
  try {
    worker = new Worker(WORKER, { eval: true, workerData: { path, shared } });
    worker.unref();
  } catch {
    worker = undefined;
  }
  let digest: string | undefined;
  return () => {
    if (digest !== undefined) return digest;
    if (worker !== undefined) {
      while (Atomics.load(state, 0) === 0) Atomics.wait(state, 0, 0, 1000);
      void worker.terminate();
    }
    digest = Atomics.load(state, 0) === 1 ? Buffer.from(new Uint8Array(shared, 4, 64)).toString('latin1') : createHash('sha256').update(fallback()).digest('hex');
    return digest;
  };
}
