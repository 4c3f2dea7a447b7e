import { makeFolders } from '../emit/atomic.js';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, readSync, statSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeAll, writeFileAtomic } from '../emit/atomic.js';
import { DoconvError } from '../errors.js';
import { cachePath } from './cache.js';
import { openRegularFile } from '../formats/regular-file.js';
import { describeRequestError, guardedGotOptions, unfollowedRedirectReason, type NetworkOptions } from './guarded-http.js';
import { ManifestSchema, type Artifact, type Entry, type Manifest } from './schema.js';

/** The manifest that ships with the package (registry/manifest.json). */
export const BUNDLED_MANIFEST = fileURLToPath(new URL('../../registry/manifest.json', import.meta.url));

/** The largest manifest read, from disk or from a server (the bundled one is about 50 KiB). */
export const MANIFEST_MAX_BYTES = 16 << 20;
/** The whole manifest fetch (every try, every redirect, the whole body) ends within this. */
export const MANIFEST_DEADLINE_MS = 30_000;

export interface LoadedManifest {
  manifest: Manifest;
  /** Where relative artifact URLs are resolved from: a directory path or an http(s) URL ending in '/'. */
  base: string;
  location: string;
}

/** How a remote manifest is fetched (tests shorten the deadline and inject a resolver). */
export interface ManifestFetchOptions extends NetworkOptions {
  /** The overall deadline of the fetch in milliseconds (default MANIFEST_DEADLINE_MS). */
  deadlineMs?: number;
}

const isRemote = (location: string): boolean => /^https?:\/\//i.test(location);

/** A manifest's text validated: JSON, then the schema; the first problem is one line naming its key. */
export function parseManifest(text: string, where: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DoconvError('CORRUPT', `the registry manifest is not JSON (${(err as Error).message})`, { file: where });
  }
  return validManifest(json, where);
}

/** A manifest object checked against the schema (before reading it, and before writing one). */
export function validManifest(value: unknown, where: string): Manifest {
  const r = ManifestSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const key = issue.path.join('.');
    throw new DoconvError('CORRUPT', `the registry manifest does not match its schema: ${issue.message}${key ? ` at ${key}` : ''}`, { file: where, ...(key ? { key } : {}) });
  }
  return r.data;
}

/**
 * A manifest file's text: it must be a regular file (opened without blocking, so a FIFO cannot hang
 * the read) of at most MANIFEST_MAX_BYTES, and no more than that is ever read.
 */
export function readManifestFile(file: string): string {
  return readSmallRegularFile(file, MANIFEST_MAX_BYTES, 'the registry manifest');
}

/**
 * A small JSON file's text (`what` names it in errors): a regular file, opened without blocking,
 * at most `maxBytes`, never reading past that bound even if the file grows meanwhile.
 */
export function readSmallRegularFile(file: string, maxBytes: number, what: string): string {
  let fd: number;
  let st: Stats;
  try {
    ({ fd, stats: st } = openRegularFile(file, (kind) => `${what} must be a regular file; this is ${kind}`));
  } catch (err) {
    if (err instanceof DoconvError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new DoconvError('FILE_NOT_FOUND', `no such file (${what})`, { file });
    throw new DoconvError('FILE_NOT_FOUND', `cannot open ${what}: ${e.code ?? e.message}`, { file });
  }
  const tooLarge = () => new DoconvError('LIMIT_EXCEEDED', `${what} is larger than ${formatBytes(maxBytes)}`, { file });
  try {
    if (st.size > maxBytes) throw tooLarge();
    const buffer = Buffer.alloc(st.size + 1);
    let filled = 0;
    for (;;) {
      const n = readSync(fd, buffer, filled, buffer.length - filled, null);
      if (n === 0) break;
      filled += n;
      if (filled === buffer.length) throw tooLarge(); // it grew while being read
    }
    return buffer.subarray(0, filled).toString('utf8');
  } catch (err) {
    if (err instanceof DoconvError) throw err;
    throw new DoconvError('FILE_NOT_FOUND', `cannot read ${what}: ${(err as Error).message}`, { file });
  } finally {
    closeSync(fd);
  }
}

const formatBytes = (n: number): string => (n >= 1 << 20 && n % (1 << 20) === 0 ? `${n >> 20} MiB` : n >= 1024 && n % 1024 === 0 ? `${n >> 10} KiB` : `${n} bytes`);

const manifestTooLarge = (where: string): DoconvError =>
  new DoconvError('LIMIT_EXCEEDED', `the registry manifest is larger than ${formatBytes(MANIFEST_MAX_BYTES)}`, { file: where });

class RetryableFetch extends Error {}

/** One GET of the manifest within `remainingMs`, streamed and cut at MANIFEST_MAX_BYTES. */
async function fetchManifestOnce(url: string, remainingMs: number, options: ManifestFetchOptions): Promise<string> {
  const { default: got } = await import('got');
  const request = got.stream(url, { ...guardedGotOptions(url, options), retry: { limit: 0 }, throwHttpErrors: false, timeout: { request: remainingMs } });
  const fail = (err: Error & { code?: string }): never => {
    if (err instanceof DoconvError) throw err;
    const { reason, refused } = describeRequestError(err);
    if (err.code === 'ETIMEDOUT') throw new DoconvError('DOWNLOAD_FAILED', `the registry manifest did not arrive within its deadline (${(deadlineOf(options) / 1000).toFixed(1)} s overall)`, { file: url });
    if (refused) throw new DoconvError('DOWNLOAD_FAILED', `cannot fetch the registry manifest: ${reason}`, { file: url });
    throw new RetryableFetch(reason);
  };
  const response = await new Promise<{ statusCode: number; url: string; headers: Record<string, string | string[] | undefined> }>((resolveResponse, reject) => {
    request.once('response', resolveResponse);
    request.once('error', reject);
  }).catch(fail);
  const status = response.statusCode;
  const redirect = unfollowedRedirectReason(status, response.headers.location, response.url, url);
  const refuse = (reason: string, retry = false): never => {
    request.destroy();
    if (retry) throw new RetryableFetch(reason);
    throw new DoconvError('DOWNLOAD_FAILED', `cannot fetch the registry manifest: ${reason}`, { file: url });
  };
  if (redirect !== undefined) refuse(redirect);
  if (status >= 500 || status === 408 || status === 429) refuse(`HTTP ${status}`, true);
  if (status !== 200) refuse(`HTTP ${status}`);
  if (Number(response.headers['content-length'] ?? 0) > MANIFEST_MAX_BYTES) {
    request.destroy();
    throw manifestTooLarge(url);
  }
  const chunks: Buffer[] = [];
  let received = 0;
  try {
    for await (const chunk of request as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (received > MANIFEST_MAX_BYTES) {
        request.destroy();
        throw manifestTooLarge(url);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    fail(err as Error);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const deadlineOf = (options: ManifestFetchOptions): number => options.deadlineMs ?? MANIFEST_DEADLINE_MS;

/** The manifest's text: up to three tries for transient failures, all within one overall deadline. */
async function fetchManifestText(url: string, options: ManifestFetchOptions): Promise<string> {
  const deadline = Date.now() + deadlineOf(options);
  const reasons: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    try {
      return await fetchManifestOnce(url, remaining, options);
    } catch (err) {
      if (!(err instanceof RetryableFetch)) throw err;
      reasons.push(err.message);
      await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** attempt, Math.max(0, deadline - Date.now()))));
    }
  }
  throw new DoconvError('DOWNLOAD_FAILED', `cannot fetch the registry manifest${reasons.length > 0 ? `: ${reasons.join('; ')}` : ` within its deadline (${(deadlineOf(options) / 1000).toFixed(1)} s overall)`}`, { file: url });
}

/**
 * Loads a registry: a directory or manifest file on disk, an http(s) URL (fetched, and kept in the
 * cache so --offline still finds it), or the bundled manifest. DOCONV_ZOO_REGISTRY is the default.
 */
export async function loadManifest(location: string | undefined, offline: boolean, fetchOptions: ManifestFetchOptions = {}): Promise<LoadedManifest> {
  const where = location ?? process.env.DOCONV_ZOO_REGISTRY ?? BUNDLED_MANIFEST;
  if (isRemote(where)) {
    const url = where.endsWith('.json') ? where : `${where.replace(/\/$/, '')}/manifest.json`;
    const cached = cachePath('registries', `${createHash('sha256').update(url).digest('hex').slice(0, 16)}.json`);
    if (offline) {
      if (!existsSync(cached)) throw new DoconvError('BAD_ARGUMENT', `offline, and the registry ${url} has never been fetched`, { file: url });
      return { manifest: parseManifest(readManifestFile(cached), cached), base: new URL('.', url).href, location: url };
    }
    const text = await fetchManifestText(url, fetchOptions);
    const manifest = parseManifest(text, url);
    makeFolders(dirname(cached));
    writeFileAtomic(cached, (fd) => writeAll(fd, Buffer.from(text, 'utf8')));
    return { manifest, base: new URL('.', url).href, location: url };
  }
  const path = /^file:/i.test(where) ? fileURLToPath(where) : resolve(where);
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'manifest.json') : path;
  return { manifest: parseManifest(readManifestFile(file), file), base: dirname(file), location: file };
}

const SCHEME = /^([a-z][a-z0-9+.-]*):/i;

/**
 * An artifact URL as written in the manifest, resolved against the manifest's location. A registry
 * on disk may name http(s) URLs, file: URLs and paths (relative to it, or absolute); a registry
 * fetched over HTTP(S) names http(s) URLs only (a relative one resolves against its own URL), so a
 * stranger's manifest can never make pull read a local file.
 */
export function resolveArtifactUrl(url: string, base: string, where: { file: string; key: string }): string {
  const scheme = SCHEME.exec(url)?.[1]?.toLowerCase();
  if (isRemote(base)) {
    let resolved: URL;
    try {
      resolved = new URL(url, base);
    } catch {
      throw new DoconvError('UNSAFE_PATH', `the artifact URL '${url}' is not a valid URL`, where);
    }
    if (resolved.protocol !== 'http:' && resolved.protocol !== 'https:') {
      throw new DoconvError('UNSAFE_PATH', `a registry fetched over HTTP may name http(s) artifact URLs only, not ${resolved.protocol}`, where);
    }
    return resolved.href;
  }
  if (scheme === 'http' || scheme === 'https' || scheme === 'file') {
    try {
      return new URL(url).href;
    } catch {
      throw new DoconvError('UNSAFE_PATH', `the artifact URL '${url}' is not a valid URL`, where);
    }
  }
  if (scheme !== undefined && scheme.length > 1) {
    throw new DoconvError('UNSAFE_PATH', `an artifact URL is an http(s) URL, a file: URL or a path, not ${scheme}:`, where);
  }
  return isAbsolute(url) ? pathToFileURL(url).href : pathToFileURL(join(base, url)).href;
}

/** Every mirror of an artifact, resolved and checked (the first bad one refuses the pull). */
export function artifactSources(artifact: Artifact, base: string, where: { file: string; key: string }): string[] {
  return artifact.urls.map((u, i) => resolveArtifactUrl(u, base, { file: where.file, key: `${where.key}.urls.${i}` }));
}

/** Shell-style wildcards (* and ?) over entry names. */
export function listEntries(manifest: Manifest, pattern?: string): Entry[] {
  if (pattern === undefined) return manifest.entries;
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return manifest.entries.filter((e) => re.test(e.name));
}

export function findEntry(manifest: Manifest, name: string, location: string): Entry {
  const e = manifest.entries.find((x) => x.name === name);
  if (e === undefined) {
    const close = manifest.entries.filter((x) => x.name.startsWith(name.split('_')[0] ?? name)).map((x) => x.name).slice(0, 5);
    throw new DoconvError('BAD_ARGUMENT', `no network '${name}' in the registry${close.length ? ` (did you mean ${close.join(', ')}?)` : ''}`, { file: location });
  }
  return e;
}
