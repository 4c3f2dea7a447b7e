import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { DoconvError } from '../errors.js';

/** What kind of thing a stat names, in the words an error message uses ('a FIFO', 'a folder', ...). */
export function fileKind(st: Stats): string {
  if (st.isFile()) return 'a regular file';
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** An errno failure of a file-system call on `file` as a DoconvError naming the file. */
export function fsError(err: unknown, file: string, what: string): DoconvError {
  if (err instanceof DoconvError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return new DoconvError('FILE_NOT_FOUND', 'no such file or folder', { file });
  return new DoconvError('BAD_ARGUMENT', `${what}: ${e.code ?? 'error'} (${(e.message ?? String(err)).split('\n')[0]})`, { file });
}

/**
 * The bytes of a regular file of at most `maxBytes`. Whatever else the path names (a FIFO that
 * would block the open, a device that never ends, a socket, a folder) is refused from its stat
 * before it is opened; the open itself does not block (O_NONBLOCK) and the opened file is checked
 * again, so a path swapped for a FIFO in between is refused too. Never more than the size the
 * open file reports is read.
 */
export function readRegularFile(file: string, maxBytes: number): Uint8Array {
  let stats: Stats | undefined;
  try {
    stats = statSync(file, { throwIfNoEntry: false });
  } catch (err) {
    throw fsError(err, file, 'cannot read this file');
  }
  if (stats === undefined) throw new DoconvError('FILE_NOT_FOUND', 'no such file', { file });
  if (!stats.isFile()) throw new DoconvError('NOT_REGULAR_FILE', `not a regular file (${fileKind(stats)})`, { file });
  let opened: OpenedFile;
  try {
    opened = openRegularFile(file);
  } catch (err) {
    throw fsError(err, file, 'cannot open this file');
  }
  try {
    const { size } = opened.stats;
    if (size > maxBytes) throw new DoconvError('LIMIT_EXCEEDED', `file of ${size} bytes is larger than the ${maxBytes} allowed`, { file });
    if (size === 0) throw new DoconvError('FILE_EMPTY', 'empty file', { file });
    return readExactly(opened.fd, size, file, 'its size says (the file shrank)');
  } catch (err) {
    throw fsError(err, file, 'cannot read this file');
  } finally {
    closeSync(opened.fd);
  }
}

/** An open regular file and what fstat said of it. */
export interface OpenedFile {
  fd: number;
  stats: Stats;
}

/**
 * Opens `path` for reading without ever blocking (O_NONBLOCK: a FIFO would wait for a writer)
 * and checks what was opened: anything but a regular file is closed again and refused, with
 * `notRegular(kind)` as the reason (naming `shown`). Errors of the open itself propagate as they are.
 */
export function openRegularFile(path: string, notRegular = (kind: string) => `not a regular file (${kind})`, shown = path): OpenedFile {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  let stats: Stats;
  try {
    stats = fstatSync(fd);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (!stats.isFile()) {
    closeSync(fd);
    throw new DoconvError('NOT_REGULAR_FILE', notRegular(fileKind(stats)), { file: shown });
  }
  return { fd, stats };
}

/** Exactly `length` bytes from the start of `fd`; a file shorter than that is TRUNCATED (`why` ends the message). */
export function readExactly(fd: number, length: number, file: string, why: string): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, done);
    if (n <= 0) throw new DoconvError('TRUNCATED', `read ${done} of the ${length} bytes ${why}`, { file, offset: done });
    done += n;
  }
  return out;
}
