import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { DoconvError } from '../errors.js';

/**
 * Random access to a file's bytes. Memory-backed sources hand out views (zero copy); file-backed
 * sources read on demand, for files too large to hold in one Buffer (ZIP64 checkpoints).
 */
export interface ByteSource {
  readonly size: number;
  /** Bytes [offset, offset + length); throws TRUNCATED past the end. */
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(readonly buffer: Uint8Array) {
    this.size = buffer.byteLength;
  }
  read(offset: number, length: number): Uint8Array {
    checkRange(offset, length, this.size);
    return this.buffer.subarray(offset, offset + length);
  }
  close(): void {}
}

export class FileSource implements ByteSource {
  readonly size: number;
  private fd: number | undefined;
  constructor(path: string) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
  }
  read(offset: number, length: number): Uint8Array {
    checkRange(offset, length, this.size);
    if (this.fd === undefined) throw new Error('FileSource used after close');
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, out, done, length - done, offset + done);
      if (n <= 0) throw new DoconvError('TRUNCATED', 'file shrank while reading', { offset: offset + done });
      done += n;
    }
    return out;
  }
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function checkRange(offset: number, length: number, size: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new DoconvError('CORRUPT', `invalid byte range (${offset}, ${length})`, { offset: Math.max(0, offset) || 0 });
  }
  if (offset + length > size) {
    throw new DoconvError('TRUNCATED', `needs bytes up to ${offset + length} but the file has ${size}`, { offset });
  }
}
