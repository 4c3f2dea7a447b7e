import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { Transform } from 'node:stream';
import { DoconvError } from '../errors.js';

export interface DownloadOptions {
  sha256: string;
  size: number;
  /** Called with (bytes so far, total). */
  onProgress?: (done: number, total: number) => void;
  /** Attempts per mirror for retryable failures (5xx, resets, timeouts, short bodies). */
  attempts?: number;
  /** Milliseconds without data before a request is abandoned. */
  timeoutMs?: number;
  /** First backoff in milliseconds; doubled each retry. */
  backoffMs?: number;
  /** Called once per attempt that failed, with the reason (for logs and tests). */
  onRetry?: (url: string, reason: string) => void;
}

class Retryable extends Error {}
class NextMirror extends Error {}

async function hashFile(path: string, hash: Hash): Promise<void> {
  await pipeline(createReadStream(path), async function* (src) {
    for await (const chunk of src) hash.update(chunk as Buffer);
  });
}

/**
 * Passes the artifact's bytes through: counts them from `start` (bytes already in the .part file),
 * refuses more than the manifest declares, hashes them and reports progress.
 */
class Meter extends Transform {
  received: number;
  constructor(start: number, private readonly options: DownloadOptions, private readonly hash: Hash) {
    super();
    this.received = start;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.received += chunk.byteLength;
    if (this.received > this.options.size) {
      cb(new NextMirror(`the source sent more than the ${this.options.size} bytes the manifest declares`));
      return;
    }
    this.hash.update(chunk);
    this.options.onProgress?.(this.received, this.options.size);
    cb(null, chunk);
  }
}

/** Streams one URL into `part`, resuming with Range from its current length, hashing on the fly. */
async function fetchInto(url: string, part: string, options: DownloadOptions, hash: Hash): Promise<void> {
  const { default: got } = await import('got');
  let have = existsSync(part) ? statSync(part).size : 0;
  if (have > options.size) {
    rmSync(part, { force: true });
    have = 0;
  }
  const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
  const request = got.stream(url, {
    headers,
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: true,
    timeout: { connect: options.timeoutMs ?? 15_000, response: options.timeoutMs ?? 15_000, socket: options.timeoutMs ?? 15_000 },
  });
  const response = await new Promise<{ statusCode: number; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
  }).catch((err: Error & { code?: string }) => {
    throw new Retryable(`${err.code ?? err.name}: ${err.message}`);
  });
  const status = response.statusCode;
  if (status >= 500 || status === 408 || status === 429) {
    request.destroy();
    throw new Retryable(`HTTP ${status}`);
  }
  if (status >= 400) {
    request.destroy();
    throw new NextMirror(`HTTP ${status}`);
  }
  let append = have > 0 && status === 206;
  if (have > 0 && !append) have = 0; // the server ignored Range: start over
  if (append) {
    const range = String(response.headers['content-range'] ?? '');
    if (!range.startsWith(`bytes ${have}-`)) {
      append = false;
      have = 0;
    }
  }
  if (append) await hashFile(part, hash);
  const meter = new Meter(have, options, hash);
  try {
    await pipeline(request, meter, createWriteStream(part, { flags: append ? 'a' : 'w' }));
  } catch (err) {
    if (err instanceof NextMirror) throw err;
    const e = err as Error & { code?: string };
    throw new Retryable(`${e.code ?? e.name}: ${e.message}`);
  }
  if (meter.received < options.size) throw new Retryable(`the body ended after ${meter.received} of ${options.size} bytes`);
}

/** Copies a local file (a file: URL or a path) into `part`, hashing it. */
async function copyInto(path: string, part: string, options: DownloadOptions, hash: Hash): Promise<void> {
  if (!existsSync(path)) throw new NextMirror(`no such file ${path}`);
  await pipeline(createReadStream(path), new Meter(0, options, hash), createWriteStream(part));
}

/**
 * Fetches an artifact into `dest` from the first mirror that delivers the declared bytes: a partial
 * download is resumed (HTTP Range), retryable failures back off and retry, a hash or size mismatch
 * moves to the next mirror, and `dest` appears (renamed atomically) only once its SHA-256 matched.
 */
export async function downloadVerified(urls: readonly string[], dest: string, options: DownloadOptions): Promise<void> {
  mkdirSync(dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  const failures: string[] = [];
  const attempts = options.attempts ?? 4;
  for (const url of urls) {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const hash = createHash('sha256');
      try {
        if (/^https?:/.test(url)) await fetchInto(url, part, options, hash);
        else await copyInto(url.startsWith('file:') ? fileURLToPath(url) : url, part, options, hash);
        const digest = hash.digest('hex');
        if (digest !== options.sha256) {
          rmSync(part, { force: true });
          throw new NextMirror(`SHA-256 mismatch: expected ${options.sha256}, got ${digest}`);
        }
        renameSync(part, dest);
        return;
      } catch (err) {
        if (err instanceof Retryable) {
          options.onRetry?.(url, err.message);
          failures.push(`${url}: ${err.message}`);
          await new Promise((r) => setTimeout(r, (options.backoffMs ?? 250) * 2 ** attempt));
          continue;
        }
        if (err instanceof NextMirror) {
          options.onRetry?.(url, err.message);
          failures.push(`${url}: ${err.message}`);
          rmSync(part, { force: true });
          break;
        }
        throw err;
      }
    }
  }
  throw new DoconvError('OUTPUT_FAILED', `could not download the artifact from any mirror (${failures.join('; ')})`);
}
