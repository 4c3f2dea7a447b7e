import { makeFolders } from '../emit/atomic.js';
import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, renameSync, rmSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { DoconvError } from '../errors.js';
import { openRegularFile } from '../formats/regular-file.js';
import { describeRequestError, guardedGotOptions, requestRefusal, unfollowedRedirectReason, type NetworkOptions } from './guarded-http.js';

/** The slowest transfer kept alive: an average under `bytesPerSecond` over any `windowMs` is abandoned. */
export interface MinRate {
  bytesPerSecond: number;
  windowMs: number;
}

/** 16 KiB/s averaged over 60 s: a trickle (1 byte every few seconds) cannot hold a pull open for ever. */
export const DEFAULT_MIN_RATE: MinRate = { bytesPerSecond: 16 * 1024, windowMs: 60_000 };

export interface DownloadOptions extends NetworkOptions {
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
  /** The minimum average rate (default DEFAULT_MIN_RATE; tests use a short window). */
  minRate?: MinRate;
  /** Called once per attempt that failed, with the reason (for logs and tests). */
  onRetry?: (url: string, reason: string) => void;
}

class Retryable extends Error {}

/** This mirror cannot deliver; `keepPart` when the bytes so far are good (a resume elsewhere may use them). */
class NextMirror extends Error {
  constructor(
    message: string,
    readonly keepPart = false,
  ) {
    super(message);
  }
}

async function hashFile(path: string, hash: Hash): Promise<void> {
  await pipeline(createReadStream(path), async function* (src) {
    for await (const chunk of src) hash.update(chunk as Buffer);
  });
}

const sizeOf = (path: string): number => {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
};

/**
 * Passes the artifact's bytes through: counts them from `start` (bytes already in the .part file),
 * refuses more than the manifest declares, hashes them and reports progress.
 */
class Meter extends Transform {
  received: number;
  constructor(
    start: number,
    private readonly options: DownloadOptions,
    private readonly hash: Hash,
  ) {
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

const kib = (bytesPerSecond: number): string => `${Math.round((bytesPerSecond / 1024) * 10) / 10} KiB/s`;

/**
 * Watches a transfer's byte count and calls `onTooSlow` once the average over the last full window
 * falls under the minimum rate. Samples are taken a quarter-window apart, so the window judged is
 * between one and one and a quarter windows long; nothing is judged before a full window has passed.
 */
function watchRate(meter: Meter, rate: MinRate, onTooSlow: (reason: string) => void): () => void {
  const step = Math.max(10, Math.floor(rate.windowMs / 4));
  const samples: { at: number; bytes: number }[] = [{ at: Date.now(), bytes: meter.received }];
  const timer = setInterval(() => {
    const now = Date.now();
    samples.push({ at: now, bytes: meter.received });
    while (samples.length > 1 && samples[1]!.at <= now - rate.windowMs) samples.shift();
    const from = samples[0]!;
    const elapsed = now - from.at;
    if (elapsed < rate.windowMs) return;
    const average = ((meter.received - from.bytes) * 1000) / elapsed;
    if (average < rate.bytesPerSecond) {
      clearInterval(timer);
      onTooSlow(`too slow: ${kib(average)} over the last ${(elapsed / 1000).toFixed(1)} s, under the minimum ${kib(rate.bytesPerSecond)}`);
    }
  }, step);
  timer.unref();
  return () => clearInterval(timer);
}

interface ResponseHead {
  statusCode: number;
  url: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Streams one URL into `part`, resuming with Range from its current length, hashing on the fly. */
async function fetchInto(url: string, part: string, options: DownloadOptions, hash: Hash): Promise<void> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new NextMirror('not a valid URL');
  }
  const refusal = requestRefusal(parsed, parsed.protocol);
  if (refusal !== undefined) throw new NextMirror(refusal);
  const { default: got } = await import('got');
  let have = sizeOf(part);
  if (have > options.size) {
    rmSync(part, { force: true });
    have = 0;
  }
  const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
  const timeout = options.timeoutMs ?? 15_000;
  const request = got.stream(url, {
    ...guardedGotOptions(url, options),
    headers,
    retry: { limit: 0 },
    throwHttpErrors: false,
    timeout: { connect: timeout, response: timeout, socket: timeout },
  });
  const response = await new Promise<ResponseHead>((resolve, reject) => {
    request.once('response', resolve);
    request.once('error', reject);
  }).catch((err: Error & { code?: string }) => {
    const { reason, refused } = describeRequestError(err);
    throw refused ? new NextMirror(reason) : new Retryable(reason);
  });
  const status = response.statusCode;
  const redirect = unfollowedRedirectReason(status, response.headers.location, response.url, url);
  if (redirect !== undefined) {
    request.destroy();
    throw new NextMirror(redirect);
  }
  if (status === 416 && have > 0) {
    request.destroy();
    rmSync(part, { force: true }); // the server cannot continue these bytes: start over from 0
    throw new Retryable(`HTTP 416 to a resume from byte ${have}: starting over`);
  }
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
  const stopWatching = watchRate(meter, options.minRate ?? DEFAULT_MIN_RATE, (reason) => request.destroy(new NextMirror(reason, true)));
  try {
    await pipeline(request, meter, createWriteStream(part, { flags: append ? 'a' : 'w' }));
  } catch (err) {
    if (err instanceof NextMirror) throw err;
    const { reason, refused } = describeRequestError(err as Error & { code?: string });
    throw refused ? new NextMirror(reason) : new Retryable(reason);
  } finally {
    stopWatching();
  }
  if (meter.received < options.size) throw new Retryable(`the body ended after ${meter.received} of ${options.size} bytes`);
}

/**
 * Copies a local file (a file: URL or a path, named by a local registry only) into `part`, hashing
 * it. It is opened without blocking and must be a regular file: a FIFO or a device would hang the
 * pull or feed it for ever.
 */
async function copyInto(path: string, part: string, options: DownloadOptions, hash: Hash): Promise<void> {
  let fd: number;
  let st: Stats;
  try {
    ({ fd, stats: st } = openRegularFile(path, (kind) => `a registry artifact must be a regular file; this is ${kind}`));
  } catch (err) {
    if (err instanceof DoconvError) throw err;
    throw new NextMirror(`cannot open ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (st.size !== options.size) {
    closeSync(fd);
    throw new NextMirror(`${path} has ${st.size} bytes; the manifest declares ${options.size}`);
  }
  try {
    await pipeline(createReadStream('', { fd, autoClose: true }), new Meter(0, options, hash), createWriteStream(part));
  } catch (err) {
    if (err instanceof NextMirror) throw err;
    throw new DoconvError('OUTPUT_FAILED', `cannot copy the artifact into the cache: ${(err as Error).message}`, { file: part });
  }
}

/** A `.part` as long as the artifact whose SHA-256 matches is a finished download (only its rename was lost). */
async function completePartVerifies(part: string, options: DownloadOptions): Promise<boolean> {
  if (sizeOf(part) !== options.size) return false;
  const hash = createHash('sha256');
  await hashFile(part, hash);
  if (hash.digest('hex') === options.sha256) return true;
  rmSync(part, { force: true });
  return false;
}

/**
 * Fetches an artifact into `dest` from the first mirror that delivers the declared bytes: a partial
 * download is resumed (HTTP Range), retryable failures back off and retry, a hash or size mismatch
 * moves to the next mirror, and `dest` appears (renamed atomically) only once its SHA-256 matched.
 * Refused requests (scheme changes, more than 5 redirects, link-local addresses) and transfers under
 * the minimum rate move to the next mirror without a retry.
 */
export async function downloadVerified(urls: readonly string[], dest: string, options: DownloadOptions): Promise<void> {
  makeFolders(dirname(dest));
  const part = `${dest}.part`;
  if (await completePartVerifies(part, options)) {
    renameSync(part, dest);
    return;
  }
  const failures: string[] = [];
  const attempts = options.attempts ?? 4;
  for (const url of urls) {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const hash = createHash('sha256');
      try {
        if (/^https?:/i.test(url)) await fetchInto(url, part, options, hash);
        else await copyInto(/^file:/i.test(url) ? fileURLToPath(url) : url, part, options, hash);
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
          if (attempt + 1 < attempts) await new Promise((r) => setTimeout(r, (options.backoffMs ?? 250) * 2 ** attempt));
          continue;
        }
        if (err instanceof NextMirror) {
          options.onRetry?.(url, err.message);
          failures.push(`${url}: ${err.message}`);
          if (!err.keepPart) rmSync(part, { force: true });
          break;
        }
        rmSync(part, { force: true });
        throw err;
      }
    }
  }
  throw new DoconvError('DOWNLOAD_FAILED', `could not download the artifact from any mirror (${failures.join('; ')})`);
}
