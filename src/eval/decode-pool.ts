import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DecodeReply, DecodeTask, DecodeWorkerData } from './decode-worker.js';

/** Where the compiled worker is: beside this module in dist/, or dist/ when running from src/ (tests). */
function workerUrl(): URL {
  return import.meta.url.endsWith('.ts') ? new URL('../../dist/eval/decode-worker.js', import.meta.url) : new URL('./decode-worker.js', import.meta.url);
}

interface Job {
  id: number;
  file: string;
  resolve: (v: Float32Array) => void;
  reject: (e: Error) => void;
}

/** One decoding thread and the image it is working on (at most one at a time). */
interface Slot {
  worker: Worker;
  job: Job | undefined;
  timer: NodeJS.Timeout | undefined;
  retired: boolean;
}

/**
 * Decoding threads: files in, preprocessed float32 tensors out, in whatever order they finish.
 * Each thread gets one image at a time, on a clock: a thread that takes longer than the per-image
 * limit (a decoder stuck in a hostile file; jpeg-js cannot be interrupted) or dies is terminated and
 * replaced, and only its image is counted as failed.
 */
export class DecodePool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 0;
  private failure: Error | undefined;
  private closed = false;

  private constructor(
    private readonly data: DecodeWorkerData,
    private readonly seconds: number,
  ) {}

  /** Starts `threads` threads; `data.seconds` is the per-image limit. */
  static async start(threads: number, data: DecodeWorkerData): Promise<DecodePool> {
    const pool = new DecodePool(data, data.seconds);
    try {
      await Promise.all(Array.from({ length: threads }, () => pool.spawn()));
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /** A new thread, in service once it says it is ready (its decoder loaded). */
  private spawn(): Promise<void> {
    const worker = new Worker(workerUrl(), { workerData: this.data });
    const slot: Slot = { worker, job: undefined, timer: undefined, retired: false };
    return new Promise<void>((resolve, reject) => {
      const startFailed = (err: Error) => {
        worker.off('exit', exitedEarly);
        reject(err);
      };
      const exitedEarly = (code: number) => {
        worker.off('error', startFailed);
        reject(new Error(`a decoding thread exited (code ${code}) while starting`));
      };
      worker.once('error', startFailed);
      worker.once('exit', exitedEarly);
      worker.once('message', () => {
        worker.off('error', startFailed);
        worker.off('exit', exitedEarly);
        worker.on('message', (m: DecodeReply) => this.settle(slot, m));
        worker.on('error', (e) => this.lost(slot, `the decoding thread failed: ${e.message.split('\n')[0]}`));
        worker.on('exit', (code) => this.lost(slot, `the decoding thread exited (code ${code})`));
        if (this.closed) {
          slot.retired = true;
          void worker.terminate();
        } else {
          this.slots.push(slot);
          this.dispatch();
        }
        resolve();
      });
    });
  }

  /** Hands queued images to idle threads, each with its clock started. */
  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.job !== undefined || slot.retired) continue;
      const job = this.queue.shift()!;
      slot.job = job;
      slot.timer = setTimeout(() => this.timedOut(slot), this.seconds * 1000);
      slot.worker.postMessage({ id: job.id, file: job.file } satisfies DecodeTask);
    }
  }

  private settle(slot: Slot, reply: DecodeReply): void {
    const job = slot.job;
    clearTimeout(slot.timer);
    slot.job = undefined;
    slot.timer = undefined;
    if (job !== undefined && job.id === reply.id) {
      if ('error' in reply) job.reject(new Error(reply.error));
      else job.resolve(reply.data);
    }
    this.dispatch();
  }

  private timedOut(slot: Slot): void {
    const job = slot.job;
    this.retire(slot);
    job?.reject(new Error(`decoding took longer than the ${this.seconds} s allowed per image`));
    this.replace();
  }

  private lost(slot: Slot, message: string): void {
    if (slot.retired) return;
    const job = slot.job;
    this.retire(slot);
    job?.reject(new Error(message));
    this.replace();
  }

  /** Takes a thread out of service and terminates it (its image, if any, is the caller's to fail). */
  private retire(slot: Slot): void {
    slot.retired = true;
    clearTimeout(slot.timer);
    slot.job = undefined;
    slot.timer = undefined;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    void slot.worker.terminate();
  }

  /** A thread in place of a retired one; if none can start, the images still queued fail. */
  private replace(): void {
    if (this.closed) return;
    this.spawn().catch((err: Error) => {
      if (this.slots.length > 0) return;
      this.failure = err;
      for (const job of this.queue.splice(0)) job.reject(err);
    });
  }

  /** Decodes one file (relative to the dataset root) on the next free thread. */
  decode(file: string): Promise<Float32Array> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('the decoding threads are closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ id: this.nextId++, file, resolve, reject });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.reject(new Error('the decoding threads are closed'));
    const slots = this.slots.splice(0);
    for (const slot of slots) {
      slot.retired = true;
      clearTimeout(slot.timer);
    }
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

/** Decoding threads by default: the cores left over after inference's, at least one. */
export function defaultDecodeThreads(): number {
  return Math.max(1, Math.min(8, availableParallelism() - 1));
}
