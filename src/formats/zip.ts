import { inflateRawSync } from 'node:zlib';
import { DoconvError } from '../errors.js';
import type { ByteSource } from './byte-source.js';

// ZIP as PKWARE's APPNOTE.TXT describes it: the central directory is the truth, local headers only
// locate each entry's data. torch.save writes stored (uncompressed) entries aligned to 64 bytes.

const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const MAX_COMMENT = 0xffff;
const U32_MAX = 0xffffffff;

export interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly crc32: number;
  readonly localHeaderOffset: number;
}

export function looksLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/**
 * Deflate cannot expand more than about 1032:1 (a 258-byte match in two 1-bit codes): a deflated
 * entry that declares more than this many times its compressed size is a lie (a zip bomb).
 */
export const MAX_DEFLATE_RATIO = 1100;
/** The most one deflated entry may inflate to unless its consumer asks for more (real checkpoints store, not deflate). */
export const MAX_INFLATED_ENTRY = 1024 ** 3;
/** A metadata entry (data.pkl, config.json) has no business being larger: what consumers pass as maxBytes. */
export const MAX_METADATA_ENTRY = 64 * 1024 ** 2;
/** All deflated entries of one archive together inflate to at most this many bytes, or INFLATE_BUDGET_FACTOR x the archive. */
export const INFLATE_BUDGET_FLOOR = 1024 ** 3;
export const INFLATE_BUDGET_FACTOR = 64;

export interface ReadEntryOptions {
  /** The most bytes this consumer needs from the entry: a larger declared size is refused before anything is read. */
  maxBytes?: number;
}

export class ZipReader {
  readonly entries: ReadonlyMap<string, ZipEntry>;
  /** Inflated entries, kept so that an entry read again (a storage shared by many tensors) is inflated once. */
  private readonly inflated = new Map<string, Uint8Array>();
  private inflateBudget: number;

  constructor(private readonly source: ByteSource) {
    this.entries = readCentralDirectory(source);
    this.inflateBudget = Math.max(INFLATE_BUDGET_FLOOR, INFLATE_BUDGET_FACTOR * source.size);
  }

  /** The entry's bytes: a view of the source for stored entries of memory-backed files. */
  read(name: string, options: ReadEntryOptions = {}): Uint8Array {
    const entry = this.entries.get(name);
    if (entry === undefined) throw new DoconvError('ZIP_INVALID', `zip archive has no entry '${name}'`);
    return this.readEntry(entry, options);
  }

  readEntry(entry: ZipEntry, options: ReadEntryOptions = {}): Uint8Array {
    const local = this.source.read(entry.localHeaderOffset, 30);
    const lv = dv(local);
    if (lv.getUint32(0, true) !== SIG_LOCAL) {
      throw new DoconvError('ZIP_INVALID', `bad local header signature for '${entry.name}'`, { offset: entry.localHeaderOffset });
    }
    const dataOffset = entry.localHeaderOffset + 30 + lv.getUint16(26, true) + lv.getUint16(28, true);
    if (options.maxBytes !== undefined && entry.size > options.maxBytes) {
      throw new DoconvError('LIMIT_EXCEEDED', `entry '${entry.name}' declares ${entry.size} bytes, over the ${options.maxBytes}-byte limit for it`, { offset: entry.localHeaderOffset });
    }
    if (entry.method === 0) {
      if (entry.compressedSize !== entry.size) {
        throw new DoconvError('ZIP_INVALID', `stored entry '${entry.name}' has differing sizes`, { offset: entry.localHeaderOffset });
      }
      return this.source.read(dataOffset, entry.size);
    }
    if (entry.method === 8) return this.inflateEntry(entry, dataOffset, options.maxBytes ?? MAX_INFLATED_ENTRY);
    throw new DoconvError('ZIP_UNSUPPORTED', `entry '${entry.name}' uses compression method ${entry.method}`, { offset: entry.localHeaderOffset });
  }

  /**
   * Inflates a deflated entry after checking its declared size against the deflate ratio, the
   * consumer's limit and the archive's budget; zlib stops as soon as the output passes the
   * declared size, so the allocation is never more than what was checked.
   */
  private inflateEntry(entry: ZipEntry, dataOffset: number, limit: number): Uint8Array {
    const cached = this.inflated.get(entry.name);
    if (cached !== undefined) return cached;
    const where = { key: entry.name, offset: entry.localHeaderOffset };
    if (entry.size > MAX_DEFLATE_RATIO * entry.compressedSize) {
      throw new DoconvError('ZIP_INVALID', `deflated entry '${entry.name}' declares ${entry.size} bytes from ${entry.compressedSize}, more than deflate's ${MAX_DEFLATE_RATIO}:1 can give (a zip bomb?)`, where);
    }
    if (entry.size > limit) {
      throw new DoconvError('LIMIT_EXCEEDED', `deflated entry '${entry.name}' declares ${entry.size} bytes, over the ${limit}-byte limit for one deflated entry`, where);
    }
    if (entry.size > this.inflateBudget) {
      throw new DoconvError('LIMIT_EXCEEDED', `deflated entry '${entry.name}' (${entry.size} bytes) would take the archive's deflated entries past ${Math.max(INFLATE_BUDGET_FLOOR, INFLATE_BUDGET_FACTOR * this.source.size)} bytes (${INFLATE_BUDGET_FACTOR}x the archive, at least ${INFLATE_BUDGET_FLOOR})`, where);
    }
    const packed = this.source.read(dataOffset, entry.compressedSize);
    let out: Buffer;
    try {
      // maxOutputLength bounds the allocation by what the directory promised, whatever the stream says.
      out = inflateRawSync(packed, { maxOutputLength: Math.max(1, entry.size) });
    } catch {
      throw new DoconvError('ZIP_INVALID', `entry '${entry.name}' does not inflate to its declared ${entry.size} bytes`, { offset: dataOffset });
    }
    if (out.byteLength !== entry.size) {
      throw new DoconvError('ZIP_INVALID', `entry '${entry.name}' inflates to ${out.byteLength} bytes, expected ${entry.size}`, { offset: dataOffset });
    }
    this.inflateBudget -= out.byteLength;
    this.inflated.set(entry.name, out);
    return out;
  }
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u64(view: DataView, at: number, what: string, offset: number): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new DoconvError('ZIP_INVALID', `${what} is out of range`, { offset });
  return Number(v);
}

function findEndOfCentralDirectory(source: ByteSource): number {
  const tailLength = Math.min(source.size, 22 + MAX_COMMENT);
  const tailStart = source.size - tailLength;
  const tail = source.read(tailStart, tailLength);
  const view = dv(tail);
  for (let i = tailLength - 22; i >= 0; i--) {
    if (view.getUint32(i, true) === SIG_EOCD) return tailStart + i;
  }
  throw new DoconvError('ZIP_INVALID', 'no end-of-central-directory record (truncated zip?)', { offset: source.size });
}

function readCentralDirectory(source: ByteSource): Map<string, ZipEntry> {
  if (source.size < 22) throw new DoconvError('TRUNCATED', 'file too short for a zip archive', { offset: source.size });
  const eocdOffset = findEndOfCentralDirectory(source);
  const eocd = dv(source.read(eocdOffset, 22));
  let count = eocd.getUint16(10, true);
  let cdSize = eocd.getUint32(12, true);
  let cdOffset = eocd.getUint32(16, true);
  if (count === 0xffff || cdSize === U32_MAX || cdOffset === U32_MAX) {
    if (eocdOffset < 20) throw new DoconvError('ZIP_INVALID', 'ZIP64 locator missing', { offset: eocdOffset });
    const loc = dv(source.read(eocdOffset - 20, 20));
    if (loc.getUint32(0, true) !== SIG_ZIP64_LOCATOR) throw new DoconvError('ZIP_INVALID', 'ZIP64 locator missing', { offset: eocdOffset - 20 });
    const z64Offset = u64(loc, 8, 'ZIP64 record offset', eocdOffset - 20);
    const z64 = dv(source.read(z64Offset, 56));
    if (z64.getUint32(0, true) !== SIG_ZIP64_EOCD) throw new DoconvError('ZIP_INVALID', 'bad ZIP64 end record', { offset: z64Offset });
    count = u64(z64, 32, 'entry count', z64Offset);
    cdSize = u64(z64, 40, 'central directory size', z64Offset);
    cdOffset = u64(z64, 48, 'central directory offset', z64Offset);
  }
  if (cdOffset + cdSize > source.size) {
    throw new DoconvError('TRUNCATED', `central directory (${cdSize} bytes at ${cdOffset}) runs past the end of the file`, { offset: cdOffset });
  }
  if (count * 46 > cdSize) throw new DoconvError('ZIP_INVALID', `${count} entries cannot fit in a ${cdSize}-byte central directory`, { offset: cdOffset });
  const cd = source.read(cdOffset, cdSize);
  const view = dv(cd);
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let p = 0;
  for (let i = 0; i < count; i++) {
    const at = cdOffset + p;
    if (p + 46 > cdSize || view.getUint32(p, true) !== SIG_CENTRAL) {
      throw new DoconvError('ZIP_INVALID', `bad central directory entry ${i}`, { offset: at });
    }
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc32 = view.getUint32(p + 16, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLength = view.getUint16(p + 28, true);
    const extraLength = view.getUint16(p + 30, true);
    const commentLength = view.getUint16(p + 32, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    const end = p + 46 + nameLength + extraLength + commentLength;
    if (end > cdSize) throw new DoconvError('ZIP_INVALID', `central directory entry ${i} overruns the directory`, { offset: at });
    let name: string;
    try {
      name = decoder.decode(cd.subarray(p + 46, p + 46 + nameLength));
    } catch {
      throw new DoconvError('ZIP_INVALID', `entry ${i} has a name that is not UTF-8`, { offset: at });
    }
    if ((flags & 1) !== 0) throw new DoconvError('ZIP_UNSUPPORTED', `entry '${name}' is encrypted`, { offset: at });
    // ZIP64 extended information (header id 1): the 64-bit values of the fields that read 0xFFFFFFFF, in this order.
    let x = p + 46 + nameLength;
    const xEnd = x + extraLength;
    while (x + 4 <= xEnd) {
      const id = view.getUint16(x, true);
      const len = view.getUint16(x + 2, true);
      if (x + 4 + len > xEnd) throw new DoconvError('ZIP_INVALID', `extra field of '${name}' overruns`, { offset: cdOffset + x });
      if (id === 1) {
        let q = x + 4;
        const take = (): number => {
          if (q + 8 > x + 4 + len) throw new DoconvError('ZIP_INVALID', `short ZIP64 field for '${name}'`, { offset: cdOffset + q });
          const v = u64(view, q, 'ZIP64 value', cdOffset + q);
          q += 8;
          return v;
        };
        if (size === U32_MAX) size = take();
        if (compressedSize === U32_MAX) compressedSize = take();
        if (localHeaderOffset === U32_MAX) localHeaderOffset = take();
      }
      x += 4 + len;
    }
    if (localHeaderOffset + 30 + compressedSize > source.size) {
      throw new DoconvError('TRUNCATED', `entry '${name}' runs past the end of the file`, { offset: localHeaderOffset });
    }
    if (entries.has(name)) throw new DoconvError('ZIP_INVALID', `duplicate entry '${name}'`, { offset: at });
    entries.set(name, { name, method, compressedSize, size, crc32, localHeaderOffset });
    p = end;
  }
  return entries;
}
