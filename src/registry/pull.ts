import { makeFolders } from '../emit/atomic.js';
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LookupFunction } from 'node:net';
import { DoconvError } from '../errors.js';
import { convertCheckpoint } from '../convert.js';
import { releaseTemp, removeTemp, trackTemp } from '../temp-files.js';
import { VERSION } from '../version.js';
import { cachePath, offlineFromEnv, plainFileNameProblem } from './cache.js';
import { downloadVerified, type MinRate } from './download.js';
import { withLock } from './lock.js';
import { artifactSources, findEntry, loadManifest } from './manifest.js';
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
  /** The slowest artifact transfer kept alive (default 16 KiB/s averaged over 60 s). */
  minRate?: MinRate;
  /** The manifest fetch's overall deadline (default 30 s). */
  manifestDeadlineMs?: number;
  /** The resolver whose answers the address guard checks (default dns.lookup; tests inject one). */
  lookup?: LookupFunction;
}

export interface PullResult {
  name: string;
  path: string;
  sha256: string;
  fromCache: boolean;
  converted?: string;
}

/** An archive unpacks to at most this many times its own size when the entry declares no unpackedSize. */
export const UNPACK_RATIO = 8;
/** No archive unpacks beyond this, whatever the manifest declares. */
export const UNPACK_MAX_BYTES = 16 * 1024 ** 3;
/** No archive unpacks more entries (files and folders) than this: empty files cost no bytes but an inode each. */
export const UNPACK_MAX_ENTRIES = 100_000;

const inFlight = new Map<string, Promise<boolean>>();

/** The artifact `pull` fetches for an entry: its checkpoint (an ONNX or tfjs artifact only when it has none). */
export function sourceArtifact(entry: Entry): Artifact | undefined {
  return entry.artifacts.find((a) => a.format !== 'onnx' && a.format !== 'tfjs') ?? entry.artifacts[0];
}

const isFile = (path: string): boolean => {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
};
const isFolder = (path: string): boolean => {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
};

/** The artifact's file name in the cache: its `filename`, else the last segment of its first URL, a plain name either way. */
function cacheFileName(artifact: Artifact, where: { file: string; key: string }): string {
  const name = artifact.filename ?? (artifact.urls[0]!.split(/[?#]/)[0]!.replace(/\/+$/, '').split('/').pop() ?? '');
  const problem = plainFileNameProblem(name);
  if (problem !== undefined) {
    throw new DoconvError('UNSAFE_PATH', `the artifact's cache file name '${name}' ${problem}; a plain file name is needed (set "filename")`, where);
  }
  return name;
}

/**
 * The artifact an entry publishes for a target, used as it is: an ONNX file for 'onnx', a
 * TensorFlow.js archive (or model.json) for 'tfjs'. Undefined when it has none (then pull converts).
 */
export function targetArtifact(entry: Entry, to: 'onnx' | 'tfjs'): Artifact | undefined {
  return entry.artifacts.find((a) => a.format === to);
}

/**
 * Downloads (or finds in the cache) a registry entry's artifact: verified by SHA-256 before it enters
 * the cache, one download (and one unpack) per artifact however many pulls ask at once (in this
 * process and across processes), and with --offline never a socket. `to: 'onnx' | 'tfjs'` takes the
 * entry's own ONNX / TensorFlow.js artifact where it has one; otherwise it converts the checkpoint,
 * built as the entry's architecture names it (never re-recognised from key names), and caches the
 * result under a key of (source sha256, target, options, tool version).
 */
export async function pull(name: string, options: PullOptions = {}): Promise<PullResult> {
  const offline = options.offline ?? offlineFromEnv();
  const network = options.lookup ? { lookup: options.lookup } : {};
  const { manifest, base, location } = await loadManifest(options.registry, offline, { ...network, ...(options.manifestDeadlineMs !== undefined ? { deadlineMs: options.manifestDeadlineMs } : {}) });
  const entry = findEntry(manifest, name, location);
  const to = options.to === 'onnx' || options.to === 'tfjs' ? options.to : undefined;
  const ready = to !== undefined ? targetArtifact(entry, to) : undefined;
  const artifact = ready ?? sourceArtifact(entry);
  if (artifact === undefined) {
    throw new DoconvError('BAD_ARGUMENT', `'${name}' has no downloadable artifact: ${entry.artifactsNote ?? 'none is published'}`, { file: location, key: name });
  }
  const key = `entries.${manifest.entries.indexOf(entry)}.artifacts.${entry.artifacts.indexOf(artifact)}`;
  if (to !== undefined && ready === undefined && (artifact.format === 'onnx' || artifact.format === 'tfjs')) {
    throw new DoconvError('BAD_ARGUMENT', `'${name}' publishes only a ${artifact.format} model, which cannot be converted to ${to}; pull it with --to ${artifact.format}`, { file: location, key });
  }
  const fetched = await fetchArtifact(entry, artifact, { file: location, key }, base, offline, options);
  const result: PullResult = { name, path: fetched.path, sha256: artifact.sha256, fromCache: fetched.fromCache };
  if (ready !== undefined) result.converted = to === 'tfjs' && artifact.archive ? modelFolder(fetched.path, { file: location, key }) : fetched.path;
  else if (to !== undefined) result.converted = await convertCached(entry, fetched.file, artifact.sha256, to, options.onMessage);
  return result;
}

/**
 * The TensorFlow.js model in an unpacked archive: model.json at its top, or in its one folder
 * (an archive made of the folder itself rather than of its files).
 */
function modelFolder(dir: string, where: { file: string; key: string }): string {
  if (isFile(join(dir, 'model.json'))) return dir;
  const entries = readdirSync(dir, { withFileTypes: true });
  if (entries.length === 1 && entries[0]!.isDirectory() && isFile(join(dir, entries[0]!.name, 'model.json'))) return join(dir, entries[0]!.name);
  throw new DoconvError('MODEL_INVALID', `the tfjs archive holds no model.json (at its top or in its one folder)`, { ...where, file: dir });
}

/** One artifact in the cache: downloaded and verified once (under a lock), unpacked if an archive. */
async function fetchArtifact(entry: Entry, artifact: Artifact, where: { file: string; key: string }, base: string, offline: boolean, options: PullOptions): Promise<{ file: string; path: string; fromCache: boolean }> {
  const network = options.lookup ? { lookup: options.lookup } : {};
  const sources = artifactSources(artifact, base, where);
  const dest = cachePath('artifacts', artifact.sha256, cacheFileName(artifact, { ...where, key: `${where.key}.filename` }));
  const unpacked = `${dest}.d`;
  const ready = () => isFile(dest) && (!artifact.archive || isFolder(unpacked));
  let fromCache = ready();
  if (!fromCache) {
    if (offline && !isFile(dest)) {
      throw new DoconvError('BAD_ARGUMENT', `'${entry.name}' is not in the cache (${dest}) and offline mode (--offline / DOCONV_ZOO_OFFLINE) forbids downloading it`, { key: entry.name });
    }
    const lock = cachePath('locks', `${artifact.sha256}.lock`);
    makeFolders(cachePath('locks'));
    const key = dest;
    let job = inFlight.get(key);
    if (job === undefined) {
      job = (async () => {
        const did = await withLock(
          lock,
          ready,
          async () => {
            let downloaded = false;
            if (!isFile(dest)) {
              await downloadVerified(sources, dest, {
                sha256: artifact.sha256,
                size: artifact.size,
                ...network,
                ...(options.onProgress ? { onProgress: options.onProgress } : {}),
                ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
                ...(options.backoffMs !== undefined ? { backoffMs: options.backoffMs } : {}),
                ...(options.attempts !== undefined ? { attempts: options.attempts } : {}),
                ...(options.minRate !== undefined ? { minRate: options.minRate } : {}),
                onRetry: (url, reason) => options.onMessage?.(`retrying ${url}: ${reason}`),
              });
              downloaded = true;
            }
            // Under the same lock: a second pull waits for this folder instead of unpacking beside it.
            if (artifact.archive && !isFolder(unpacked)) await extractVerified(dest, unpacked, unpackBound(artifact));
            return downloaded;
          },
          () => options.onMessage?.(`waiting for another download of ${entry.name}`),
        );
        return did === true;
      })().finally(() => inFlight.delete(key));
      inFlight.set(key, job);
    }
    fromCache = !(await job);
  }
  return { file: dest, path: artifact.archive ? unpacked : dest, fromCache };
}

async function convertCached(entry: Entry, source: string, sha256: string, to: 'onnx' | 'tfjs', onMessage?: (m: string) => void): Promise<string> {
  // The entry's architecture, as --arch takes it: a network is never re-recognised from its key names
  // (torchvision's cannot tell v1 from v1b). An entry without a name (an older registry) is recognised.
  const arch = entry.architecture.name;
  const options = { to, input: entry.input.size, ...(arch !== undefined ? { arch } : {}) };
  const key = createHash('sha256').update(JSON.stringify({ source: sha256, target: to, options, tool: VERSION })).digest('hex');
  const out = cachePath('converted', key, to === 'onnx' ? `${entry.name}.onnx` : entry.name);
  if (isFile(out) || isFolder(out)) return out;
  onMessage?.(`converting ${entry.name} to ${to}${arch !== undefined ? ` as ${arch}` : ''}`);
  await convertCheckpoint(source, out, { to, inputSize: entry.input.size, ...(arch !== undefined ? { arch } : {}) });
  return out;
}

/** How much an archive may unpack to, and where that bound comes from (for the error message). */
interface UnpackBound {
  bytes: number;
  why: string;
}

/** The entry's declared unpackedSize, else UNPACK_RATIO times the archive; never over UNPACK_MAX_BYTES. */
function unpackBound(artifact: Artifact): UnpackBound {
  const gib = `${UNPACK_MAX_BYTES / 1024 ** 3} GiB`;
  if (artifact.unpackedSize !== undefined) {
    return artifact.unpackedSize <= UNPACK_MAX_BYTES
      ? { bytes: artifact.unpackedSize, why: `the ${artifact.unpackedSize} bytes the manifest declares (unpackedSize)` }
      : { bytes: UNPACK_MAX_BYTES, why: `the ${gib} cap` };
  }
  const ratio = UNPACK_RATIO * artifact.size;
  return ratio <= UNPACK_MAX_BYTES ? { bytes: ratio, why: `${UNPACK_RATIO}x the archive's ${artifact.size} bytes (no unpackedSize declared)` } : { bytes: UNPACK_MAX_BYTES, why: `the ${gib} cap` };
}

class UnpackLimit extends Error {}

/**
 * Unpacks a verified .tar/.tar.gz to `out` (once, under the artifact's lock): node-tar in strict
 * mode refuses absolute paths, '..' and links that leave the folder; only files and folders are
 * written; every entry's header is counted before its bytes are written, and the unpack stops at
 * the bound. The folder is built under a temporary name removed on every way out (errors and
 * signals included) and appears by rename when complete.
 */
async function extractVerified(archive: string, out: string, bound: UnpackBound): Promise<void> {
  const tmp = `${out}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  trackTemp(tmp);
  try {
    makeFolders(tmp);
    await unpackBounded(archive, tmp, bound);
    renameSync(tmp, out);
    releaseTemp(tmp);
  } catch (err) {
    removeTemp(tmp);
    if (err instanceof DoconvError) throw err;
    if (err instanceof UnpackLimit) throw new DoconvError('LIMIT_EXCEEDED', `refused to unpack the archive: ${err.message}`, { file: archive });
    throw new DoconvError('CORRUPT', `cannot unpack the archive: ${(err as Error).message}`, { file: archive });
  }
}

async function unpackBounded(archive: string, cwd: string, bound: UnpackBound): Promise<void> {
  const tar = await import('tar');
  let bytes = 0;
  let entries = 0;
  let stop: UnpackLimit | undefined;
  const unpack = new tar.Unpack({
    cwd,
    strict: true,
    preservePaths: false,
    filter: (path, entry) => {
      if (stop !== undefined) return false;
      if ('type' in entry && entry.type !== 'File' && entry.type !== 'Directory') return false;
      entries++;
      bytes += 'size' in entry ? entry.size : 0;
      if (entries > UNPACK_MAX_ENTRIES) stop = new UnpackLimit(`more than ${UNPACK_MAX_ENTRIES} entries`);
      else if (bytes > bound.bytes) stop = new UnpackLimit(`at '${path}' it would unpack to more than ${bound.why}`);
      if (stop !== undefined) {
        unpack.abort(stop);
        return false;
      }
      return true;
    },
  });
  const source = createReadStream(archive);
  try {
    await new Promise<void>((resolve, reject) => {
      unpack.on('error', reject);
      unpack.on('close', () => resolve());
      source.on('error', reject);
      source.pipe(unpack);
    });
  } catch (err) {
    throw stop ?? err;
  } finally {
    source.destroy();
  }
  if (stop !== undefined) throw stop;
}
