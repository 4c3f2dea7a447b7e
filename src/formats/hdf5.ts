import { readFileSync, writeFileSync } from 'node:fs';
import { DoconvError } from '../errors.js';
import { DTYPE_SIZE, type DType } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';

// HDF5 through h5wasm (the HDF5 C library compiled to WebAssembly), its ESM build only, in Node as
// in the browser: that build keeps files in Emscripten's in-memory file system, which holds
// nothing but the one input being read (or the one output being built). The h5wasm/node build is
// never imported: its NODERAWFS hands the host file system to any HDF5 feature that opens another
// file (external storage, external links, virtual datasets). The library starts asynchronously
// (~150 ms), so only for files that sniff as HDF5; after hdf5Ready() every call here is synchronous.

type H5Lib = typeof import('h5wasm').default;
type H5Module = Awaited<H5Lib['ready']>;
/** An h5wasm file handle (output files are built through it). */
export type H5File = InstanceType<H5Lib['File']>;

/** The few Emscripten FS calls used here (h5wasm's typings declare only part of FS). */
interface MemFs {
  mkdir(path: string): void;
  open(path: string, flags: string): { fd: number };
  write(stream: { fd: number }, buffer: Uint8Array, offset: number, length: number, position: number, canOwn?: boolean): number;
  close(stream: { fd: number }): void;
  closeStream(fd: number): void;
  createDevice(parent: string, name: string, input: (() => number | null) | null, output: (byte: number | null | undefined) => void): void;
  readFile(path: string): Uint8Array;
  unlink(path: string): void;
}

/**
 * The bounds of the README's "Bad input" section for HDF5. Every dataset read from one file,
 * counted once however many links name it, may decode to at most
 * `dataFloorBytes + dataPerFileByte x the file's size` bytes together: HDF5 lets a dataset claim
 * any size (never-written chunks read as the fill value, deflated chunks expand up to ~1000x), while
 * a real checkpoint's weights barely compress. Groups nest at most `maxDepth` deep.
 */
export const HDF5_LIMITS = {
  dataFloorBytes: 64 * 2 ** 20,
  dataPerFileByte: 16,
  maxDepth: 64,
  /** Continuation blocks followed in one object header (each at most once). */
  maxHeaderBlocks: 4096,
} as const;

/** The HDF5 filters a dataset may use: deflate (1), shuffle (2), fletcher32 (3). */
const ALLOWED_FILTERS: ReadonlySet<number> = new Set([1, 2, 3]);
/** Where the input and output files live inside the in-memory file system. */
const WORK_DIR = '/doconv';
const DIAGNOSTICS_DEVICE = 'doconv-hdf5-diagnostics';

let h5: H5Lib | undefined;
let module: H5Module | undefined;
let memfs: MemFs | undefined;
let starting: Promise<void> | undefined;

/** The library's stdout and stderr (HDF5-DIAG stacks), kept here: never the process's own stderr. */
const diagnostics = { bytes: new Uint8Array(16 << 10), length: 0 };

function keepDiagnosticByte(byte: number | null | undefined): void {
  if (typeof byte === 'number' && diagnostics.length < diagnostics.bytes.length) diagnostics.bytes[diagnostics.length++] = byte;
}

/**
 * Points the library's file descriptors 1 and 2 at a device that collects what it prints, so no
 * global of the process (fs.writeSync, process.stderr) is ever patched; removes the devices that
 * would produce data if some HDF5 feature opened them as a file.
 */
function isolateFileSystem(fs: MemFs): void {
  fs.createDevice('/dev', DIAGNOSTICS_DEVICE, null, keepDiagnosticByte);
  for (const fd of [1, 2]) {
    fs.closeStream(fd);
    const stream = fs.open(`/dev/${DIAGNOSTICS_DEVICE}`, 'w');
    if (stream.fd !== fd) throw new Error(`h5wasm: descriptor ${fd} could not be redirected (got ${stream.fd})`);
  }
  for (const device of ['/dev/random', '/dev/urandom']) {
    try {
      fs.unlink(device);
    } catch {
      // absent in this build: nothing to remove
    }
  }
  fs.mkdir(WORK_DIR);
}

export async function hdf5Ready(): Promise<void> {
  starting ??= (async () => {
    const lib = (await import('h5wasm')).default;
    const m = await lib.ready;
    const fs = m.FS as unknown as MemFs;
    isolateFileSystem(fs);
    module = m;
    memfs = fs;
    h5 = lib;
  })();
  return starting;
}

function library(): { h5: H5Lib; module: H5Module; fs: MemFs } {
  if (h5 === undefined || module === undefined || memfs === undefined) throw new Error('hdf5Ready() was not awaited');
  return { h5, module, fs: memfs };
}

/**
 * Runs synchronous HDF5 work and returns what the library printed meanwhile (HDF5-DIAG stacks,
 * at most 16 KiB) beside its result: a damaged file must give one line, not forty.
 */
export function quietHdf5<T>(fn: () => T): { value: T; diagnostics: string } {
  diagnostics.length = 0;
  const value = fn();
  return { value, diagnostics: printedSoFar() };
}

function printedSoFar(): string {
  return Buffer.from(diagnostics.bytes.subarray(0, diagnostics.length)).toString('utf8');
}

/** The most specific reason in an HDF5-DIAG stack (its last 'minor:' line), for one-line errors. */
export function hdf5Reason(text: string): string {
  const minors = [...text.matchAll(/#\d+: .*? in (\w+)\(\): ([^\n]+)/g)];
  const last = minors[minors.length - 1];
  return last ? `${last[2]!.trim()} (${last[1]})` : 'the HDF5 library could not read it';
}

/** The reason for a failed library call: its HDF5-DIAG stack, else the error h5wasm threw. */
function failureReason(err: unknown): string {
  const printed = printedSoFar();
  if (printed !== '') return hdf5Reason(printed);
  return err instanceof Error ? err.message : 'the HDF5 library could not read it';
}

/** h5wasm dtype strings to ours ('<f4' etc.; float16 is read as raw bytes). */
export function hdf5DType(meta: { type: number; size: number; signed: boolean; littleEndian: boolean }, where: string): DType {
  // h5wasm metadata.type: 0 integer, 1 float (H5T_class_t)
  if (!meta.littleEndian && meta.size > 1) throw new DoconvError('DTYPE_UNSUPPORTED', 'big-endian HDF5 datasets are not supported', { key: where });
  if (meta.type === 1) {
    if (meta.size === 4) return 'float32';
    if (meta.size === 2) return 'float16';
    if (meta.size === 8) return 'float64';
  }
  if (meta.type === 0) {
    const ints: Record<string, DType> = { '1s': 'int8', '1u': 'uint8', '2s': 'int16', '4s': 'int32', '8s': 'int64' };
    const t = ints[`${meta.size}${meta.signed ? 's' : 'u'}`];
    if (t !== undefined) return t;
  }
  throw new DoconvError('DTYPE_UNSUPPORTED', `HDF5 dataset of class ${meta.type}, ${meta.size} bytes is not supported`, { key: where });
}

function randomName(kind: string): string {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return `${WORK_DIR}/${kind}-${Buffer.from(bytes).toString('hex')}.h5`;
}

function writeMemFile(fs: MemFs, path: string, bytes: Uint8Array): void {
  const stream = fs.open(path, 'w');
  try {
    // canOwn: the in-memory file takes the bytes as they are, no second copy of the input
    fs.write(stream, bytes, 0, bytes.byteLength, 0, true);
  } finally {
    fs.close(stream);
  }
}

/**
 * Opens bytes as an HDF5 file (alone in the in-memory file system, under a random name nothing in
 * the file can guess) and runs `fn` on it; the in-memory copy is gone on every way out. A failure
 * inside the library becomes a DoconvError carrying its most specific reason.
 */
export function withHdf5Input<T>(bytes: Uint8Array, fn: (input: Hdf5Input) => T): T {
  const { h5, fs } = library();
  const path = randomName('input');
  writeMemFile(fs, path, bytes);
  let file: H5File | undefined;
  try {
    diagnostics.length = 0;
    try {
      file = new h5.File(path, 'r');
    } catch (err) {
      throw new DoconvError('CORRUPT', `damaged or unsupported HDF5 file: ${failureReason(err)}`, { offset: 0 });
    }
    if (file.file_id < 0n) throw new DoconvError('CORRUPT', `damaged or unsupported HDF5 file: ${failureReason(undefined)}`, { offset: 0 });
    return fn(new Hdf5Input(file.file_id, bytes));
  } catch (err) {
    if (err instanceof DoconvError) throw err;
    throw new DoconvError('CORRUPT', `damaged or unsupported HDF5 file: ${failureReason(err)}`, { offset: 0 });
  } finally {
    try {
      if (file !== undefined && file.file_id >= 0n) file.close();
    } catch {
      // closing a damaged file can fail; the in-memory copy goes regardless
    }
    fs.unlink(path);
  }
}

/**
 * Builds an HDF5 file in the in-memory file system with `build` and returns its bytes (the caller
 * writes them out atomically); nothing is written to disk by the library itself.
 */
export function buildHdf5(build: (file: H5File) => void): Uint8Array {
  const { h5, fs } = library();
  const path = randomName('output');
  let file: H5File | undefined;
  diagnostics.length = 0;
  try {
    file = new h5.File(path, 'w');
    build(file);
    file.close();
    file = undefined;
    return fs.readFile(path);
  } catch (err) {
    if (err instanceof DoconvError) throw err;
    throw new DoconvError('OUTPUT_FAILED', `cannot build the HDF5 file: ${failureReason(err)}`);
  } finally {
    try {
      file?.close();
    } catch {
      // already failed
    }
    try {
      fs.unlink(path);
    } catch {
      // never created
    }
  }
}

/** What a path in an HDF5 file names (h5wasm's H5G_* numbers, symbolic links followed). */
export type Hdf5Kind = 'group' | 'dataset' | 'datatype' | 'broken-soft-link' | 'external-link' | 'missing';

interface Superblock {
  /** Absolute file position that object addresses count from. */
  base: number;
  offsetSize: number;
  lengthSize: number;
}

interface HeaderMessage {
  type: number;
  start: number;
  size: number;
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const MSG_EXTERNAL_FILES = 0x0007;
const MSG_LAYOUT = 0x0008;
const MSG_CONTINUATION = 0x0010;
const LAYOUT_VIRTUAL = 3;

/**
 * One open input file: navigation, attributes read once per object, datasets read once per object
 * (by address) and bounded together by the file's size, with HDF5 features that read other files
 * refused before any read.
 */
export class Hdf5Input {
  private readonly attributeNameCache = new Map<string, ReadonlySet<string>>();
  private readonly datasetsByAddress = new Map<string, Tensor>();
  private decodedBytes = 0;
  private superblockCache: Superblock | undefined;
  private readonly text = new TextDecoder('utf-8');

  constructor(
    private readonly fileId: bigint,
    private readonly bytes: Uint8Array,
  ) {}

  /** Bytes all datasets of this file may decode to together (HDF5_LIMITS). */
  get dataBudget(): number {
    return HDF5_LIMITS.dataFloorBytes + HDF5_LIMITS.dataPerFileByte * this.bytes.byteLength;
  }

  kind(path: string): Hdf5Kind {
    const { module } = library();
    const type = module.get_type(this.fileId, path);
    if (type === module.H5G_GROUP) return 'group';
    if (type === module.H5G_DATASET) return 'dataset';
    if (type === module.H5G_TYPE) return 'datatype';
    if (type === module.H5G_LINK) return 'broken-soft-link';
    if (type === module.H5G_UDLINK) return 'external-link';
    return 'missing';
  }

  /** The names of a group's links, in the file's order. */
  childNames(path: string): string[] {
    return library().module.get_names(this.fileId, path, false);
  }

  /** The object's address in the file: the same for every link (hard or soft) that names it. */
  address(path: string): string {
    const ref = Array.from(library().module.create_object_reference(this.fileId, path) as ArrayLike<number>);
    if (ref.every((b) => b === 0) || ref.every((b) => b === 0xff)) throw new DoconvError('CORRUPT', 'cannot locate the object in the file', { key: path });
    let address = 0;
    for (let i = ref.length - 1; i >= 0; i--) address = address * 256 + ref[i]!;
    return String(address);
  }

  private attributeNames(path: string): ReadonlySet<string> {
    let names = this.attributeNameCache.get(path);
    if (names === undefined) {
      names = new Set(library().module.get_attribute_names(this.fileId, path));
      this.attributeNameCache.set(path, names);
    }
    return names;
  }

  hasAttribute(path: string, name: string): boolean {
    return this.attributeNames(path).has(name);
  }

  /** A text attribute (scalar or 1-D, fixed or variable length) as its strings; undefined when absent. */
  stringAttribute(path: string, name: string): string[] | undefined {
    if (!this.hasAttribute(path, name)) return undefined;
    const { module } = library();
    const meta = module.get_attribute_metadata(this.fileId, path, name);
    // Keras 2 writes a layer without weights as an empty float array (np.asarray([])).
    if (meta.shape === null || meta.total_size === 0) return [];
    if (meta.type !== module.H5T_class_t.H5T_STRING.value) throw new DoconvError('CORRUPT', `attribute '${name}' is not text`, { key: path });
    const count = meta.total_size;
    const itemSize = meta.vlen ? 4 : meta.size;
    const nbytes = count * itemSize;
    // Fixed-length strings are stored in the file; variable-length ones are 4-byte pointers here.
    if (!Number.isSafeInteger(nbytes) || count > this.bytes.byteLength || nbytes > 4 * this.bytes.byteLength) {
      throw new DoconvError('LIMIT_EXCEEDED', `attribute '${name}' claims ${count} strings of ${meta.size} bytes, more than the file holds`, { key: path });
    }
    return this.withHeap(nbytes, `attribute '${name}'`, path, (ptr) => {
      diagnostics.length = 0;
      const status = module.get_attribute_data(this.fileId, path, name, BigInt(ptr));
      try {
        if (status < 0) throw new DoconvError('CORRUPT', `cannot read attribute '${name}': ${failureReason(undefined)}`, { key: path });
        return meta.vlen ? this.vlenStrings(ptr, count) : this.fixedStrings(ptr, count, meta.size);
      } finally {
        if (meta.vlen) module.reclaim_vlen_memory(this.fileId, path, name, BigInt(ptr));
      }
    });
  }

  private fixedStrings(ptr: number, count: number, size: number): string[] {
    const heap = library().module.HEAPU8;
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      let item = heap.subarray(ptr + i * size, ptr + (i + 1) * size);
      const nul = item.indexOf(0);
      if (nul >= 0) item = item.subarray(0, nul);
      out.push(this.text.decode(item));
    }
    return out;
  }

  private vlenStrings(ptr: number, count: number): string[] {
    const heap = library().module.HEAPU8;
    const view = new DataView(heap.buffer, heap.byteOffset);
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      const at = view.getUint32(ptr + 4 * i, true);
      if (at === 0) {
        out.push('');
        continue;
      }
      // A string read from the file is no longer than the file.
      const window = heap.subarray(at, Math.min(heap.byteLength, at + this.bytes.byteLength + 1));
      const nul = window.indexOf(0);
      out.push(this.text.decode(nul >= 0 ? window.subarray(0, nul) : window));
    }
    return out;
  }

  /** Zeroed wasm memory for `fn`, freed afterwards; a failed allocation is a typed refusal. */
  private withHeap<T>(nbytes: number, what: string, key: string, fn: (ptr: number) => T): T {
    const { module } = library();
    if (nbytes > module.MAXIMUM_MEMORY) throw new DoconvError('LIMIT_EXCEEDED', `${what} needs ${nbytes} bytes, more than the HDF5 library's ${module.MAXIMUM_MEMORY}-byte memory`, { key });
    const ptr = module._malloc(Math.max(nbytes, 1));
    if (ptr === 0) throw new DoconvError('LIMIT_EXCEEDED', `${what} needs ${nbytes} bytes; the HDF5 library's memory is full`, { key });
    try {
      module.HEAPU8.fill(0, ptr, ptr + nbytes);
      return fn(ptr);
    } finally {
      module._free(ptr);
    }
  }

  /**
   * A dataset's bytes in its stored type (float16 included, which h5wasm's `value` refuses). A
   * dataset named by several links is read once and the same Tensor returned for each.
   */
  readDataset(path: string): Tensor {
    const address = this.address(path);
    const known = this.datasetsByAddress.get(address);
    if (known !== undefined) return known;
    const { module } = library();
    const meta = module.get_dataset_metadata(this.fileId, path);
    this.refuseForeignStorage(path, Number(address), meta);
    const dtype = hdf5DType(meta, path);
    if (meta.shape === null) throw new DoconvError('CORRUPT', 'the dataset has no dataspace (H5S_NULL)', { key: path });
    const shape = meta.shape.map(Number);
    const nbytes = shape.reduce((a, b) => a * b, 1) * DTYPE_SIZE[dtype];
    this.spend(nbytes, path);
    const out = new Uint8Array(nbytes);
    if (nbytes > 0) {
      this.withHeap(nbytes, 'the dataset', path, (ptr) => {
        diagnostics.length = 0;
        let status: number;
        try {
          status = module.get_dataset_data(this.fileId, path, null, null, null, BigInt(ptr));
        } catch (err) {
          throw new DoconvError('CORRUPT', `cannot read the dataset: ${failureReason(err)}`, { key: path });
        }
        if (status < 0) throw new DoconvError('CORRUPT', `cannot read the dataset: ${failureReason(undefined)}`, { key: path });
        out.set(module.HEAPU8.subarray(ptr, ptr + nbytes));
      });
    }
    const tensor = new Tensor(dtype, shape, out);
    this.datasetsByAddress.set(address, tensor);
    return tensor;
  }

  private spend(nbytes: number, path: string): void {
    if (!Number.isSafeInteger(nbytes) || this.decodedBytes + nbytes > this.dataBudget) {
      throw new DoconvError(
        'LIMIT_EXCEEDED',
        `the dataset would decode to ${nbytes} bytes; all datasets of this ${this.bytes.byteLength}-byte file may decode to ${this.dataBudget} bytes together (64 MiB + ${HDF5_LIMITS.dataPerFileByte} x the file size)`,
        { key: path },
      );
    }
    this.decodedBytes += nbytes;
  }

  /** Refuses external storage, virtual datasets and filters other than deflate/shuffle/fletcher32. */
  private refuseForeignStorage(path: string, address: number, meta: { virtual_sources?: unknown[] }): void {
    if (meta.virtual_sources !== undefined) throw new DoconvError('UNSUPPORTED_FEATURE', 'a virtual dataset (it maps data of other files) is refused', { key: path });
    for (const m of this.headerMessages(address, path)) {
      if (m.type === MSG_EXTERNAL_FILES) throw new DoconvError('UNSUPPORTED_FEATURE', 'the dataset keeps its data in other files (HDF5 external storage); refused', { key: path });
      if (m.type === MSG_LAYOUT && m.size >= 3) {
        const version = this.bytes[m.start]!;
        const layoutClass = version < 3 ? this.bytes[m.start + 2] : this.bytes[m.start + 1];
        if (layoutClass === LAYOUT_VIRTUAL) throw new DoconvError('UNSUPPORTED_FEATURE', 'a virtual dataset (it maps data of other files) is refused', { key: path });
      }
    }
    for (const filter of library().module.get_dataset_filters(this.fileId, path)) {
      if (!ALLOWED_FILTERS.has(filter.id)) {
        throw new DoconvError('UNSUPPORTED_FEATURE', `HDF5 filter ${filter.id} ('${filter.name}') is not supported (only deflate, shuffle, fletcher32)`, { key: path });
      }
    }
  }

  private superblock(): Superblock {
    if (this.superblockCache !== undefined) return this.superblockCache;
    const b = this.bytes;
    for (let at = 0; at + 16 <= b.byteLength; at = at === 0 ? 512 : at * 2) {
      if (!HDF5_SIGNATURE.every((v, i) => b[at + i] === v)) continue;
      const version = b[at + 8]!;
      const offsetSize = version <= 1 ? b[at + 13]! : b[at + 9]!;
      const lengthSize = version <= 1 ? b[at + 14]! : b[at + 10]!;
      if (![2, 4, 8].includes(offsetSize) || ![2, 4, 8].includes(lengthSize)) break;
      this.superblockCache = { base: at, offsetSize, lengthSize };
      return this.superblockCache;
    }
    throw new DoconvError('CORRUPT', 'no usable HDF5 superblock', { offset: 0 });
  }

  private uint(at: number, size: number, key: string): number {
    if (at < 0 || at + size > this.bytes.byteLength) throw new DoconvError('CORRUPT', 'an object header runs past the end of the file', { key, offset: at });
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.bytes[at + i]!;
    return v;
  }

  /**
   * The messages of the object header at `address` (version 1 or 2 layout), continuation blocks
   * followed once each: the library exposes no external-storage query, so the header is read here.
   */
  private headerMessages(address: number, key: string): HeaderMessage[] {
    const sb = this.superblock();
    const start = sb.base + address;
    const v2 = this.uint(start, 4, key) === 0x5244484f; // 'OHDR'
    const blocks: [number, number][] = [];
    const seen = new Set<number>();
    let flags = 0;
    if (v2) {
      flags = this.bytes[start + 5]!;
      let pos = start + 6 + (flags & 0x20 ? 16 : 0) + (flags & 0x10 ? 4 : 0);
      const sizeBytes = 1 << (flags & 3);
      const size = this.uint(pos, sizeBytes, key);
      pos += sizeBytes;
      blocks.push([pos, pos + size]);
    } else {
      if (this.bytes[start] !== 1) throw new DoconvError('CORRUPT', 'unknown object header version', { key, offset: start });
      blocks.push([start + 16, start + 16 + this.uint(start + 8, 4, key)]);
    }
    const messages: HeaderMessage[] = [];
    while (blocks.length > 0) {
      const [from, to] = blocks.pop()!;
      if (seen.has(from)) continue;
      seen.add(from);
      if (seen.size > HDF5_LIMITS.maxHeaderBlocks || to > this.bytes.byteLength) throw new DoconvError('CORRUPT', 'a malformed object header', { key, offset: from });
      for (const m of v2 ? this.v2Messages(from, to, flags, key) : this.v1Messages(from, to, key)) {
        if (m.type === MSG_CONTINUATION) {
          const at = sb.base + this.uint(m.start, sb.offsetSize, key);
          const length = this.uint(m.start + sb.offsetSize, sb.lengthSize, key);
          // version 2 continuation blocks: 'OCHK', messages, a 4-byte checksum
          blocks.push(v2 ? [at + 4, at + length - 4] : [at, at + length]);
        } else messages.push(m);
      }
    }
    return messages;
  }

  private v1Messages(from: number, to: number, key: string): HeaderMessage[] {
    const out: HeaderMessage[] = [];
    for (let pos = from; pos + 8 <= to; ) {
      const type = this.uint(pos, 2, key);
      const size = this.uint(pos + 2, 2, key);
      out.push({ type, start: pos + 8, size });
      pos += 8 + size;
    }
    return out;
  }

  private v2Messages(from: number, to: number, headerFlags: number, key: string): HeaderMessage[] {
    const out: HeaderMessage[] = [];
    const prefix = headerFlags & 0x04 ? 6 : 4;
    for (let pos = from; pos + prefix <= to; ) {
      const type = this.bytes[pos]!;
      const size = this.uint(pos + 1, 2, key);
      out.push({ type, start: pos + prefix, size });
      pos += prefix + size;
    }
    return out;
  }
}

/**
 * h5wasm's classes for callers that name HDF5 files by host path (tests, tools): `File` copies the
 * named file into the in-memory file system to open it, and a file opened for writing is copied out
 * to that path by close(). Only the caller's path is ever touched; what the HDF5 content names
 * still finds nothing but this one file.
 */
export function hdf5(): { h5: H5Lib; module: H5Module } {
  const { h5: lib, module: m, fs } = library();
  hostFile ??= hostFileClass(lib, fs);
  return { h5: { ...lib, File: hostFile }, module: m };
}

let hostFile: H5Lib['File'] | undefined;

function hostFileClass(lib: H5Lib, fs: MemFs): H5Lib['File'] {
  return class HostFile extends lib.File {
    private readonly hostPath: string;
    private readonly memPath: string;
    private readonly copyOut: boolean;

    constructor(path: string, mode: 'r' | 'a' | 'w' | 'x' | 'Sa' | 'Sr' = 'r', options?: { track_order?: boolean }) {
      const memPath = randomName('host');
      if (mode === 'r' || mode === 'a' || mode === 'Sr' || mode === 'Sa') writeMemFile(fs, memPath, readFileSync(path));
      super(memPath, mode, options);
      this.hostPath = path;
      this.memPath = memPath;
      this.copyOut = mode !== 'r' && mode !== 'Sr';
    }

    override close(): number {
      const status = super.close();
      try {
        if (this.copyOut) writeFileSync(this.hostPath, fs.readFile(this.memPath));
      } finally {
        fs.unlink(this.memPath);
      }
      return status;
    }
  } as unknown as H5Lib['File'];
}
