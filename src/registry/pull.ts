import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { DoconvError } from '../errors.js';
import { convertCheckpoint } from '../convert.js';
import { VERSION } from '../version.js';
import { cacheRoot, offlineFromEnv } from './cache.js';
import { downloadVerified } from './download.js';
import { withLock } from './lock.js';
import { findEntry, loadManifest, resolveArtifactUrl } from './manifest.js';
import type { Artifact, Entry } from './schema.js';

export interface PullOptions {
  registry?: string;
  offline?: boolean;
  /** 'source' (default): the checkpoint as published; 'onnx' / 'tfjs': converted, and cached. */
  to?: 'source' | 'onnx' | 'tfjs';
  onProgress?: (done: number, total: number) => void;
  onMessage?: (message: string) => void;
  /** Download tuning (tests use short ones). */
  timeoutMs?: number;
  backoffMs?: number;
  attempts?: number;
}

export interface PullResult {
  name: string;
  path: string;
  sha256: string;
  fromCache: boolean;
  converted?: string;
}

const inFlight = new Map<string, Promise<boolean>>();

/**
 * Downloads (or finds in the cache) a registry entry's artifact: verified by SHA-256 before it enters
 * the cache, one download per artifact however many pulls ask at once (in this process and across
 * processes), and with --offline never a socket. `to: 'onnx' | 'tfjs'` converts the source and caches
 * the result under a key of (source sha256, target, options, tool version).
 */
/** The artifact `pull` fetches for an entry: its checkpoint (an ONNX or tfjs artifact only when it has none). */
export function sourceArtifact(entry: Entry): Artifact | undefined {
  return entry.artifacts.find((a) => a.format !== 'onnx' && a.format !== 'tfjs') ?? entry.artifacts[0];
}

export async function pull(name: string, options: PullOptions = {}): Promise<PullResult> {
  const offline = options.offline ?? offlineFromEnv();
  const { manifest, base, location } = await loadManifest(options.registry, offline);
  const entry = findEntry(manifest, name, location);
  const artifact = sourceArtifact(entry);
  if (artifact === undefined) {
    throw new DoconvError('BAD_ARGUMENT', `'${name}' has no downloadable artifact: ${entry.artifactsNote ?? 'none is published'}`, { file: location, key: name });
  }
  const filename = artifact.filename ?? basename(artifact.urls[0]!.split('?')[0]!);
  const dest = join(cacheRoot(), 'artifacts', artifact.sha256, filename);
  let fromCache = existsSync(dest);
  if (!fromCache) {
    if (offline) {
      throw new DoconvError('BAD_ARGUMENT', `'${name}' is not in the cache (${dest}) and offline mode (--offline / DOCONV_ZOO_OFFLINE) forbids downloading it`, { key: name });
    }
    mkdirSync(join(cacheRoot(), 'locks'), { recursive: true });
    const key = artifact.sha256;
    let job = inFlight.get(key);
    if (job === undefined) {
      job = (async () => {
        const did = await withLock(
          join(cacheRoot(), 'locks', `${key}.lock`),
          () => existsSync(dest),
          async () => {
            if (existsSync(dest)) return false;
            await downloadVerified(artifact.urls.map((u) => resolveArtifactUrl(u, base)), dest, {
              sha256: artifact.sha256,
              size: artifact.size,
              ...(options.onProgress ? { onProgress: options.onProgress } : {}),
              ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
              ...(options.backoffMs !== undefined ? { backoffMs: options.backoffMs } : {}),
              ...(options.attempts !== undefined ? { attempts: options.attempts } : {}),
              onRetry: (url, reason) => options.onMessage?.(`retrying ${url}: ${reason}`),
            });
            return true;
          },
          () => options.onMessage?.(`waiting for another download of ${name}`),
        );
        return did === true;
      })().finally(() => inFlight.delete(key));
      inFlight.set(key, job);
    }
    fromCache = !(await job);
  }
  let path = dest;
  if (artifact.archive) path = await extractVerified(dest);
  const result: PullResult = { name, path, sha256: artifact.sha256, fromCache };
  if (options.to === 'onnx' || options.to === 'tfjs') result.converted = await convertCached(entry, dest, artifact.sha256, options.to, options.onMessage);
  return result;
}

async function convertCached(entry: Entry, source: string, sha256: string, to: 'onnx' | 'tfjs', onMessage?: (m: string) => void): Promise<string> {
  const options = { to, input: entry.input.size };
  const key = createHash('sha256').update(JSON.stringify({ source: sha256, target: to, options, tool: VERSION })).digest('hex');
  const out = join(cacheRoot(), 'converted', key, to === 'onnx' ? `${entry.name}.onnx` : entry.name);
  if (existsSync(out)) return out;
  onMessage?.(`converting ${entry.name} to ${to}`);
  await convertCheckpoint(source, out, { to, inputSize: entry.input.size });
  return out;
}

/**
 * Unpacks a verified .tar/.tar.gz next to it (once): node-tar in strict mode refuses absolute paths,
 * '..' and links that leave the folder; the folder appears by rename when complete.
 */
async function extractVerified(archive: string): Promise<string> {
  const out = `${archive}.d`;
  if (existsSync(out)) return out;
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const tar = await import('tar');
  try {
    await tar.x({ file: archive, cwd: tmp, strict: true, preservePaths: false, filter: (p, entry) => !('type' in entry) || entry.type === 'File' || entry.type === 'Directory' });
    renameSync(tmp, out);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw new DoconvError('CORRUPT', `cannot unpack the archive: ${(err as Error).message}`, { file: archive });
  }
  return out;
}
