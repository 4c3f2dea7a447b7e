import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DecodeReply, DecodeTask, DecodeWorkerData } from './decode-worker.js';

/** Where the compiled worker is: beside this module in dist/, or dist/ when running from src/ (tests). */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('../../dist/eval/decode-worker.js', import.meta.url) : new URL('./decode-worker.js', import.meta.url);
}

/** Decoding threads: files in, preprocessed float32 tensors out, in whatever order they finish. */
export class DecodePool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (v: Float32Array) => void; reject: (e: Error) => void }>();
  private readonly load: number[] = [];
  private nextId = 0;
  private failure: Error | undefined;

  private constructor() {}

  static async start(threads: number, data: DecodeWorkerData): Promise<DecodePool> {
    const pool = new DecodePool();
    await Promise.all(
      Array.from({ length: threads }, (_, w) => {
        const worker = new Worker(workerUrl(), { workerData: data });
        pool.workers.push(worker);
        pool.load.push(0);
        return new Promise<void>((resolve, reject) => {
          worker.once('error', reject);
          worker.once('message', () => {
            worker.off('error', reject);
            worker.on('message', (m: DecodeReply) => pool.settle(w, m));
            worker.on('error', (e) => pool.fail(e));
            resolve();
          });
        });
      }),
    ).catch(async (err) => {
      await pool.close();
      throw err;
    });
    return pool;
  }

  private settle(worker: number, reply: DecodeReply): void {
    this.load[worker]!--;
    const p = this.pending.get(reply.id);
    if (p === undefined) return;
    this.pending.delete(reply.id);
    if ('error' in reply) p.reject(new Error(reply.error));
    else p.resolve(reply.data);
  }

  private fail(err: Error): void {
    this.failure = err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Decodes one file (relative to the dataset root) on the least busy thread. */
  decode(file: string): Promise<Float32Array> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    let w = 0;
    for (let i = 1; i < this.workers.length; i++) if (this.load[i]! < this.load[w]!) w = i;
    this.load[w]!++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[w]!.postMessage({ id, file } satisfies DecodeTask);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Decoding threads by default: the cores left over after inference's, at least one. */
export function defaultDecodeThreads(): number {
  return Math.max(1, Math.min(8, availableParallelism() - 1));
}
