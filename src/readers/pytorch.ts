import { DoconvError } from '../errors.js';
import type { ByteSource } from '../formats/byte-source.js';
import { unpickle } from '../formats/pickle.js';
import { PyTuple, type PyValue } from '../formats/pickle-values.js';
import { checkStridedLayout, gatherStrided, isContiguous, type StridedLayout } from '../formats/strided.js';
import { looksLikeZip, MAX_METADATA_ENTRY, ZipReader } from '../formats/zip.js';
import { DTYPE_SIZE } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import type { ReadResult } from './read-result.js';
import { recordTensorOrigin } from '../checkpoint/budget.js';
import { replaceModules } from './torch-modules.js';
import { makeTorchGlobalResolver, StorageType, type TensorRebuild } from './torch-globals.js';

export type TorchFormat = 'pytorch-zip' | 'pytorch-legacy';

export interface TorchFile extends ReadResult {
  format: TorchFormat;
}

// torch/serialization.py: MAGIC_NUMBER = 0x1950a86a20f9469cfc6c, written as a pickled LONG1.
const LEGACY_MAGIC = Uint8Array.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]);
const LEGACY_PROTOCOL = 1001;

export function sniffTorchLegacy(head: Uint8Array): boolean {
  if (head.length < LEGACY_MAGIC.length) return false;
  return LEGACY_MAGIC.every((b, i) => head[i] === b);
}

/** The zip archive's folder holding data.pkl, or undefined when it is not a torch archive. */
export function torchArchivePrefix(zip: ZipReader): string | undefined {
  for (const name of zip.entries.keys()) {
    const m = /^([^/]*\/)?data\.pkl$/.exec(name);
    if (m) return m[1] ?? '';
  }
  return undefined;
}

/** A storage: its element type, element count, and (once known) where its bytes are. */
class Storage {
  bytes: (() => Uint8Array) | undefined;
  constructor(
    readonly key: string,
    readonly type: StorageType,
    readonly numel: number,
  ) {}
}

/** A view into a root storage (legacy view_metadata). */
interface StorageView {
  root: Storage;
  offset: number;
  numel: number;
}

function asInt(v: PyValue, what: string): number {
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  throw new DoconvError('PICKLE_INVALID', `${what} is not an integer`);
}

function asIntTuple(v: PyValue, what: string): number[] {
  if (!(v instanceof PyTuple)) throw new DoconvError('PICKLE_INVALID', `${what} is not a tuple`);
  return v.items.map((x) => asInt(x, what));
}

function makeTensor(r: TensorRebuild, notes: string[]): Tensor {
  const sv = r.storage;
  const view: StorageView | undefined = sv instanceof Storage ? { root: sv, offset: 0, numel: sv.numel } : (sv as StorageView | undefined);
  if (view === undefined || !(view.root instanceof Storage)) throw new DoconvError('PICKLE_INVALID', 'tensor rebuilt from something that is not a storage', { offset: r.at });
  const dtype = view.root.type.dtype;
  if (dtype === undefined) throw new DoconvError('DTYPE_UNSUPPORTED', `tensors of torch.${view.root.type.name} are not supported`, { offset: r.at });
  const layout: StridedLayout = { shape: asIntTuple(r.shape, 'tensor size'), stride: asIntTuple(r.stride, 'tensor stride'), offset: asInt(r.offset, 'storage offset') };
  checkStridedLayout(layout, view.numel);
  const es = DTYPE_SIZE[dtype];
  const root = view.root;
  const contiguous = isContiguous(layout.shape, layout.stride);
  if (!contiguous) notes.push(`a tensor of shape [${layout.shape.join(', ')}] is a non-contiguous view (stride [${layout.stride.join(', ')}]); it is copied`);
  const tensor = new Tensor(dtype, layout.shape, () => {
    if (root.bytes === undefined) throw new DoconvError('TRUNCATED', `storage '${root.key}' has no data`);
    const all = root.bytes();
    const base = all.subarray(view.offset * es, (view.offset + view.numel) * es);
    if (contiguous) {
      let n = 1;
      for (const d of layout.shape) n *= d;
      return base.subarray(layout.offset * es, (layout.offset + n) * es);
    }
    return gatherStrided(base, layout, es);
  });
  // Tensors over one storage share it: fusion and the pth writer see the aliasing through this.
  recordTensorOrigin(tensor, {
    storage: root,
    storageNumel: root.numel,
    storageByteLength: root.numel * es,
    readStorage: () => {
      if (root.bytes === undefined) throw new DoconvError('TRUNCATED', `storage '${root.key}' has no data`);
      return root.bytes().subarray(0, root.numel * es);
    },
    offset: view.offset + layout.offset,
    stride: layout.stride,
  });
  return tensor;
}

/** Reads a torch.save file (zip or legacy) into an inert object tree whose tensors are lazy. */
export function readTorchFile(source: ByteSource): TorchFile {
  const head = source.read(0, Math.min(16, source.size));
  if (looksLikeZip(head)) return withModuleStateDicts(readZipFormat(source));
  if (sniffTorchLegacy(head)) return withModuleStateDicts(readLegacyFormat(source));
  throw new DoconvError('WRONG_FORMAT', 'not a PyTorch checkpoint (neither a torch zip archive nor a legacy torch.save stream)', { offset: 0 });
}

const PLACEHOLDER_NOTE = /^class (\S+) is kept as an inert placeholder/;

/**
 * torch.save(model) pickles the whole nn.Module: it is read as the state dict the model saves
 * (one note says so, in place of a placeholder note per module class).
 */
function withModuleStateDicts(file: TorchFile): TorchFile {
  const r = replaceModules(file.root);
  if (r.notes.length === 0) return file;
  const notes = file.notes.filter((n) => !r.classes.has(PLACEHOLDER_NOTE.exec(n)?.[1] ?? ''));
  return { ...file, root: r.root, notes: [...r.notes, ...notes] };
}

function torchResolver(notes: string[]) {
  const placeholders = new Set<string>();
  return makeTorchGlobalResolver(
    (r) => makeTensor(r, notes),
    (name) => {
      if (placeholders.has(name)) return;
      placeholders.add(name);
      notes.push(`class ${name} is kept as an inert placeholder (never imported or executed)`);
    },
  );
}

function readZipFormat(source: ByteSource): TorchFile {
  const zip = new ZipReader(source);
  const prefix = torchArchivePrefix(zip);
  if (prefix === undefined) throw new DoconvError('WRONG_FORMAT', 'zip archive without data.pkl: not a torch.save checkpoint', { offset: 0 });
  if (zip.entries.has(`${prefix}constants.pkl`)) {
    throw new DoconvError('WRONG_FORMAT', 'this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; save model.state_dict() instead', { offset: 0 });
  }
  const notes: string[] = [];
  const storages = new Map<string, Storage>();
  const pklEntry = zip.entries.get(`${prefix}data.pkl`)!;
  const pkl = zip.readEntry(pklEntry, { maxBytes: MAX_METADATA_ENTRY });
  const resolve = torchResolver(notes);
  const { value } = unpickle(pkl, {
    resolveGlobal: resolve,
    baseOffset: pklEntry.localHeaderOffset,
    persistentLoad: (pid, at) => {
      // ('storage', storage_type, key, location, numel)
      if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage' || pid.items.length < 5) {
        throw new DoconvError('PICKLE_INVALID', 'unknown persistent id', { offset: at });
      }
      const [, type, key, , numelV] = pid.items;
      if (!(type instanceof StorageType)) throw new DoconvError('PICKLE_INVALID', 'persistent id without a storage type', { offset: at });
      if (typeof key !== 'string') throw new DoconvError('PICKLE_INVALID', 'storage key is not a string', { offset: at });
      const existing = storages.get(key);
      if (existing !== undefined) return existing;
      const numel = asInt(numelV!, 'storage size');
      const entryName = `${prefix}data/${key}`;
      const entry = zip.entries.get(entryName);
      if (entry === undefined) throw new DoconvError('TRUNCATED', `storage '${key}' has no entry ${entryName}`, { offset: at });
      const es = type.dtype === undefined ? 1 : DTYPE_SIZE[type.dtype];
      if (numel < 0 || entry.size < numel * es) {
        throw new DoconvError('TENSOR_OUT_OF_BOUNDS', `storage '${key}' claims ${numel} elements but its entry holds ${entry.size} bytes`, { offset: entry.localHeaderOffset });
      }
      const s = new Storage(key, type, numel);
      s.bytes = () => zip.readEntry(entry);
      storages.set(key, s);
      return s;
    },
  });
  return { format: 'pytorch-zip', framework: 'pytorch', root: value, notes };
}

function readLegacyFormat(source: ByteSource): TorchFile {
  const bytes = source.read(0, source.size);
  let pos = 0;
  const next = (opts: Parameters<typeof unpickle>[1]): PyValue => {
    const r = unpickle(bytes.subarray(pos), { ...opts, baseOffset: pos });
    pos += r.length;
    return r.value;
  };
  const refuse = () => {
    throw new DoconvError('PICKLE_FORBIDDEN_GLOBAL', 'legacy header pickles may not reference globals', { offset: pos });
  };
  next({ resolveGlobal: refuse }); // magic number, checked by the sniff
  const protocol = next({ resolveGlobal: refuse });
  if (protocol !== LEGACY_PROTOCOL) throw new DoconvError('CORRUPT', `legacy protocol version ${String(protocol)}, expected ${LEGACY_PROTOCOL}`, { offset: pos });
  const sysInfoAt = pos;
  const sysInfo = next({ resolveGlobal: refuse });
  if (sysInfo !== null && typeof sysInfo === 'object' && 'get' in sysInfo && typeof sysInfo.get === 'function') {
    if ((sysInfo as { get(k: string): PyValue }).get('little_endian') === false) {
      throw new DoconvError('DTYPE_UNSUPPORTED', 'big-endian legacy checkpoints are not supported', { offset: sysInfoAt });
    }
  }
  const notes: string[] = [];
  const storages = new Map<string, Storage>();
  const resolve = torchResolver(notes);
  const root = next({
    resolveGlobal: resolve,
    persistentLoad: (pid, at) => {
      if (!(pid instanceof PyTuple)) throw new DoconvError('PICKLE_INVALID', 'persistent id is not a tuple', { offset: at });
      if (pid.items[0] === 'module') return null; // source code of a pickled nn.Module class: never used
      // ('storage', storage_type, root_key, location, numel, view_metadata)
      if (pid.items[0] !== 'storage' || pid.items.length < 6) throw new DoconvError('PICKLE_INVALID', 'unknown persistent id', { offset: at });
      const [, type, key, , numelV, viewMeta] = pid.items;
      if (!(type instanceof StorageType) || typeof key !== 'string') throw new DoconvError('PICKLE_INVALID', 'malformed storage persistent id', { offset: at });
      let root = storages.get(key);
      if (root === undefined) {
        const numel = asInt(numelV!, 'storage size');
        if (numel < 0 || numel * (type.dtype === undefined ? 1 : DTYPE_SIZE[type.dtype]) > bytes.byteLength) {
          throw new DoconvError('TENSOR_OUT_OF_BOUNDS', `storage '${key}' claims ${numel} elements, more than the file holds`, { offset: at });
        }
        root = new Storage(key, type, numel);
        storages.set(key, root);
      }
      if (viewMeta instanceof PyTuple) {
        const [, offV, sizeV] = viewMeta.items;
        const offset = asInt(offV!, 'view offset');
        const numel = asInt(sizeV!, 'view size');
        if (offset < 0 || numel < 0 || offset + numel > root.numel) throw new DoconvError('TENSOR_OUT_OF_BOUNDS', `storage view [${offset}, ${offset + numel}) outside storage '${key}'`, { offset: at });
        return { root, offset, numel } satisfies StorageView;
      }
      return root;
    },
  });
  const keysAt = pos;
  const keys = next({ resolveGlobal: refuse });
  const keyList = keys !== null && typeof keys === 'object' && 'items' in keys ? (keys as { items: PyValue[] }).items : undefined;
  if (keyList === undefined) throw new DoconvError('PICKLE_INVALID', 'legacy storage key list missing', { offset: keysAt });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keyList) {
    if (typeof key !== 'string') throw new DoconvError('PICKLE_INVALID', 'storage key is not a string', { offset: keysAt });
    const s = storages.get(key);
    if (s === undefined) throw new DoconvError('CORRUPT', `storage '${key}' listed but never referenced`, { offset: pos });
    if (pos + 8 > bytes.byteLength) throw new DoconvError('TRUNCATED', `storage '${key}' header missing`, { offset: pos });
    const count = view.getBigUint64(pos, true);
    if (count !== BigInt(s.numel)) throw new DoconvError('CORRUPT', `storage '${key}' holds ${count} elements, the pickle says ${s.numel}`, { offset: pos });
    const es = s.type.dtype === undefined ? 1 : DTYPE_SIZE[s.type.dtype];
    const start = pos + 8;
    const end = start + s.numel * es;
    if (end > bytes.byteLength) throw new DoconvError('TRUNCATED', `storage '${key}' needs ${s.numel * es} bytes, the file ends first`, { offset: start });
    const data = bytes.subarray(start, end);
    s.bytes = () => data;
    pos = end;
  }
  for (const s of storages.values()) {
    if (s.bytes === undefined) throw new DoconvError('TRUNCATED', `storage '${s.key}' has no data in the file`, { offset: pos });
  }
  return { format: 'pytorch-legacy', framework: 'pytorch', root, notes };
}

