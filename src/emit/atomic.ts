import { closeSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync, writeSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { DoconvError } from '../errors.js';
import { fileKind } from '../formats/regular-file.js';
import { releaseTemp, trackTemp } from '../temp-files.js';

/** `-o -`: single-file outputs go to standard output (once complete). */
export const STDOUT = '-';

const writtenSizes = new Map<string, number>();


/** stat (or lstat) that says undefined for a missing path and one clear line for the rest. */
export function statOrUndefined(path: string, follow: boolean): Stats | undefined {
  try {
    return follow ? statSync(path) : lstatSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return undefined;
    if (e.code === 'ENOTDIR') throw new DoconvError('OUTPUT_FAILED', 'cannot write output: a parent of this path is a file, not a folder', { file: path });
    throw new DoconvError('OUTPUT_FAILED', `cannot write output: ${e.message}`, { file: path });
  }
}

/**
 * An output file may replace a regular file only: a FIFO, device node, socket or folder at that
 * path (including `/dev/stdout` and `/dev/null`, through their links) is refused, never replaced.
 */
export function checkFileOutput(path: string): void {
  if (path === STDOUT) return;
  const st = statOrUndefined(path, true) ?? statOrUndefined(path, false);
  if (st !== undefined && !st.isFile()) {
    throw new DoconvError('NOT_REGULAR_FILE', `the output path is ${fileKind(st)}, not a regular file; only regular files are replaced (-o - writes to standard output)`, { file: path });
  }
}

function folderError(err: unknown, file: string): DoconvError {
  if (err instanceof DoconvError) return err;
  const e = err as NodeJS.ErrnoException;
  const why =
    e.code === 'ENOTDIR' || e.code === 'EEXIST'
      ? 'a parent of this path is a file, not a folder'
      : e.code === 'EROFS'
        ? 'the file system is read-only'
        : e.code === 'ENOENT'
          ? 'this file system does not allow new folders there'
          : (e.message ?? String(err));
  return new DoconvError('OUTPUT_FAILED', `cannot create the folder: ${why}`, { file });
}

/**
 * `mkdir -p` that always ends: Node's own recursive mkdirSync loops forever where a missing
 * folder cannot be made inside an existing one (e.g. under /proc), so each level is made in turn.
 * Failures are one-line DoconvErrors naming `file` (default: the folder).
 */
export function makeFolders(dir: string, file = dir): void {
  try {
    const missing: string[] = [];
    let at = resolve(dir);
    for (;;) {
      const st = statOrUndefined(at, true);
      if (st !== undefined) {
        if (!st.isDirectory()) throw Object.assign(new Error(`${at} is not a folder`), { code: 'ENOTDIR' });
        break;
      }
      missing.push(at);
      const up = dirname(at);
      if (up === at) break;
      at = up;
    }
    for (const level of missing.reverse()) {
      try {
        mkdirSync(level);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(level).isDirectory()) throw err;
      }
    }
  } catch (err) {
    throw folderError(err, file);
  }
}

/** Creates the output's folder (errors name the output). */
export function makeParentFolder(path: string): void {
  makeFolders(dirname(path), path);
}

function outputFailed(err: unknown, path: string): never {
  if (err instanceof DoconvError) throw err;
  const e = err as NodeJS.ErrnoException;
  if (e.code !== undefined) throw new DoconvError('OUTPUT_FAILED', `cannot write output: ${e.message}`, { file: path });
  throw err;
}

/**
 * Writes `path` through a temporary sibling and renames it into place only when `write` finished:
 * a failed or interrupted run leaves nothing half-written (and never clobbers an existing file).
 * `-` writes to standard output, also only once the whole output exists (in a temporary file).
 * Returns the number of bytes written.
 */
export function writeFileAtomic(path: string, write: (fd: number) => void): number {
  checkFileOutput(path);
  const toStdout = path === STDOUT;
  const dir = toStdout ? tmpdir() : dirname(path);
  if (!toStdout) makeParentFolder(path);
  const tmp = join(dir, `.${toStdout ? 'stdout' : basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  trackTemp(tmp);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, toStdout ? 'wx+' : 'wx', 0o644);
    write(fd);
    const size = fstatSync(fd).size;
    if (toStdout) copyToStdout(fd, size);
    else fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    if (toStdout) rmSync(tmp, { force: true });
    else {
      checkFileOutput(path);
      renameSync(tmp, path);
    }
    writtenSizes.set(path, size);
    return size;
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    return outputFailed(err, path);
  } finally {
    releaseTemp(tmp);
  }
}

/** The size of the output last written to `path` by this process (works for `-` too). */
export function writtenSize(path: string): number {
  const known = writtenSizes.get(path);
  return known ?? statSync(path).size;
}

function copyToStdout(fd: number, size: number): void {
  const buf = Buffer.allocUnsafe(Math.min(size, 4 << 20));
  for (let pos = 0; pos < size; ) {
    const n = readSync(fd, buf, 0, Math.min(buf.byteLength, size - pos), pos);
    if (n <= 0) break;
    writeAll(1, buf.subarray(0, n));
    pos += n;
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** writeSync until every byte is out (a single call may write less, and caps at 2 GiB). */
export function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.byteLength) {
    try {
      done += writeSync(fd, data, done, Math.min(data.byteLength - done, 1 << 30));
    } catch (err) {
      // A non-blocking pipe (standard output read by a slow consumer) says EAGAIN: wait, retry.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(pause, 0, 0, 5);
    }
  }
}
