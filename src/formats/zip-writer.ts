import { writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { DoconvError } from '../errors.js';

// A streaming writer of stored (uncompressed) zip entries, each entry's data aligned as torch aligns
// it (extra field padding), switching to ZIP64 records only where a size or offset needs them.

const U32_MAX = 0xffffffff;

interface Written {
  name: Uint8Array;
  crc: number;
  size: number;
  offset: number;
}

/** A zip name field is a u16. */
const MAX_NAME_BYTES = 0xffff;

/**
 * Why `name` may not be a zip entry name, or undefined when it may: entry names come from checkpoint
 * keys, and whoever unzips the archive must not be led outside its folder. Refused: empty names,
 * absolute paths, backslashes, drive letters, NUL, empty, `.` and `..` segments.
 */
export function unsafeEntryName(name: string): string | undefined {
  if (name === '') return 'an empty name';
  if (name.includes('\0')) return 'a NUL character';
  if (name.includes('\\')) return 'a backslash';
  if (name.startsWith('/')) return 'an absolute path';
  if (/^[A-Za-z]:(\/|$)/.test(name)) return 'a drive letter';
  for (const seg of name.split('/')) {
    if (seg === '') return 'an empty path segment';
    if (seg === '.' || seg === '..') return `a '${seg}' path segment`;
  }
  return undefined;
}

export class ZipWriter {
  private position = 0;
  private readonly written: Written[] = [];
  private readonly names = new Set<string>();

  /** `forceZip64` writes ZIP64 records even for small archives (to exercise readers on them). */
  constructor(private readonly fd: number, private readonly alignment = 64, private readonly forceZip64 = false) {}

  /** Adds a stored entry; an unsafe, overlong or repeated name is refused (UNSAFE_PATH, LIMIT_EXCEEDED, BAD_ARGUMENT). */
  add(name: string, data: Uint8Array): void {
    const unsafe = unsafeEntryName(name);
    if (unsafe !== undefined) throw new DoconvError('UNSAFE_PATH', `zip entry name '${name}' has ${unsafe}`, { key: name });
    if (this.names.has(name)) throw new DoconvError('BAD_ARGUMENT', `two zip entries are both named '${name}'`, { key: name });
    const nameBytes = new TextEncoder().encode(name);
    if (nameBytes.byteLength > MAX_NAME_BYTES) throw new DoconvError('LIMIT_EXCEEDED', `zip entry name of ${nameBytes.byteLength} bytes is over the ${MAX_NAME_BYTES}-byte limit`, { key: name.slice(0, 80) });
    this.names.add(name);
    const needZip64 = this.forceZip64 || data.byteLength >= U32_MAX || this.position >= U32_MAX;
    const zip64Extra = needZip64 ? 20 : 0;
    const headerEnd = this.position + 30 + nameBytes.byteLength + zip64Extra;
    // Padding rides in an extra field 'FB' (4 bytes of header plus filler), as torch's writer does.
    let pad = (this.alignment - ((headerEnd + 4) % this.alignment)) % this.alignment;
    const padField = this.alignment > 1 ? 4 + pad : 0;
    if (this.alignment <= 1) pad = 0;
    const header = Buffer.alloc(30 + nameBytes.byteLength + zip64Extra + padField);
    const crc = crc32(data);
    header.writeUInt32LE(0x04034b50, 0);
    header.writeUInt16LE(needZip64 ? 45 : 20, 4);
    header.writeUInt16LE(0x0800, 6); // UTF-8 names
    header.writeUInt16LE(0, 8);
    header.writeUInt32LE(0, 10);
    header.writeUInt32LE(crc >>> 0, 14);
    header.writeUInt32LE(needZip64 ? U32_MAX : data.byteLength, 18);
    header.writeUInt32LE(needZip64 ? U32_MAX : data.byteLength, 22);
    header.writeUInt16LE(nameBytes.byteLength, 26);
    header.writeUInt16LE(zip64Extra + padField, 28);
    header.set(nameBytes, 30);
    let x = 30 + nameBytes.byteLength;
    if (needZip64) {
      header.writeUInt16LE(1, x);
      header.writeUInt16LE(16, x + 2);
      header.writeBigUInt64LE(BigInt(data.byteLength), x + 4);
      header.writeBigUInt64LE(BigInt(data.byteLength), x + 12);
      x += 20;
    }
    if (padField > 0) {
      header.writeUInt16LE(0x4246, x); // 'FB'
      header.writeUInt16LE(pad, x + 2);
    }
    const offset = this.position;
    this.write(header);
    this.write(data);
    this.written.push({ name: nameBytes, crc: crc >>> 0, size: data.byteLength, offset });
  }

  /** Writes the central directory and end records; the caller closes the file. */
  finish(): void {
    const cdStart = this.position;
    for (const e of this.written) {
      const big = this.forceZip64 || e.size >= U32_MAX || e.offset >= U32_MAX;
      const extra = big ? 28 : 0;
      const h = Buffer.alloc(46 + e.name.byteLength + extra);
      h.writeUInt32LE(0x02014b50, 0);
      h.writeUInt16LE(big ? 45 : 20, 4);
      h.writeUInt16LE(big ? 45 : 20, 6);
      h.writeUInt16LE(0x0800, 8);
      h.writeUInt16LE(0, 10);
      h.writeUInt32LE(0, 12);
      h.writeUInt32LE(e.crc, 16);
      h.writeUInt32LE(big ? U32_MAX : e.size, 20);
      h.writeUInt32LE(big ? U32_MAX : e.size, 24);
      h.writeUInt16LE(e.name.byteLength, 28);
      h.writeUInt16LE(extra, 30);
      h.writeUInt32LE(big ? U32_MAX : e.offset, 42);
      h.set(e.name, 46);
      if (big) {
        const x = 46 + e.name.byteLength;
        h.writeUInt16LE(1, x);
        h.writeUInt16LE(24, x + 2);
        h.writeBigUInt64LE(BigInt(e.size), x + 4);
        h.writeBigUInt64LE(BigInt(e.size), x + 12);
        h.writeBigUInt64LE(BigInt(e.offset), x + 20);
      }
      this.write(h);
    }
    const cdSize = this.position - cdStart;
    const count = this.written.length;
    const zip64 = this.forceZip64 || count >= 0xffff || cdStart >= U32_MAX || cdSize >= U32_MAX;
    if (zip64) {
      const z = Buffer.alloc(56 + 20);
      const z64At = this.position;
      z.writeUInt32LE(0x06064b50, 0);
      z.writeBigUInt64LE(44n, 4);
      z.writeUInt16LE(45, 12);
      z.writeUInt16LE(45, 14);
      z.writeBigUInt64LE(BigInt(count), 24);
      z.writeBigUInt64LE(BigInt(count), 32);
      z.writeBigUInt64LE(BigInt(cdSize), 40);
      z.writeBigUInt64LE(BigInt(cdStart), 48);
      z.writeUInt32LE(0x07064b50, 56);
      z.writeBigUInt64LE(BigInt(z64At), 64);
      z.writeUInt32LE(1, 72);
      this.write(z);
    }
    const e = Buffer.alloc(22);
    e.writeUInt32LE(0x06054b50, 0);
    e.writeUInt16LE(zip64 ? 0xffff : count, 8);
    e.writeUInt16LE(zip64 ? 0xffff : count, 10);
    e.writeUInt32LE(zip64 ? U32_MAX : cdSize, 12);
    e.writeUInt32LE(zip64 ? U32_MAX : cdStart, 16);
    this.write(e);
  }

  private write(b: Uint8Array): void {
    let done = 0;
    while (done < b.byteLength) done += writeSync(this.fd, b, done, b.byteLength - done);
    this.position += b.byteLength;
  }
}
