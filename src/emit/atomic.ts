import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DoconvError } from '../errors.js';
import { releaseTemp, trackTemp } from '../temp-files.js';


/**
 * Writes `path` through a temporary sibling and renames it into place only when `write` finished:
 * a failed or interrupted run leaves nothing half-written (and never clobbers an existing file).
 */
export function writeFileAtomic(path: string, write: (fd: number) => void): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  trackTemp(tmp);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx');
    write(fd);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    if (err instanceof DoconvError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code !== undefined) throw new DoconvError('OUTPUT_FAILED', `cannot write output: ${e.message}`, { file: path });
    throw err;
  } finally {
    releaseTemp(tmp);
  }
}

/** writeSync until every byte is out (a single call may write less, and caps at 2 GiB). */
export function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.byteLength) done += writeSync(fd, data, done, Math.min(data.byteLength - done, 1 << 30));
}
