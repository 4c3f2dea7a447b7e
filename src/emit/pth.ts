import { basename } from 'node:path';
import { PyCallable, PyGlobal, PyObject, PySet, type PyValue } from '../formats/pickle-values.js';
import { PickleWriter } from '../formats/pickle-writer.js';
import { ZipWriter } from '../formats/zip-writer.js';
import type { DType } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic.js';
import { tensorOrigin } from '../checkpoint/budget.js';
import { DoconvError } from '../errors.js';

const STORAGE_CLASS: Readonly<Record<DType, string>> = {
  float32: 'FloatStorage',
  float16: 'HalfStorage',
  bfloat16: 'BFloat16Storage',
  float64: 'DoubleStorage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  int16: 'ShortStorage',
  int8: 'CharStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

export interface PthWriteOptions {
  forceZip64?: boolean;
  /** Refuse (LIMIT_EXCEEDED, nothing written) a file larger than this; convert passes budget.outputLimit(ckpt). */
  maxBytes?: number;
}

/** One storage entry of the archive: its bytes, read when it is written. */
interface StorageToWrite {
  bytes: () => Uint8Array;
  byteLength: number;
  release?: () => void;
}

export interface PthWriteResult {
  tensors: number;
  bytes: number;
  /** Values that could not be written as plain data (inert placeholders of unknown classes). */
  dropped: string[];
}

/**
 * Writes an object tree in torch's zip format (torch >= 1.6 `torch.save`): `<archive>/data.pkl`
 * (protocol 2, tensors as `_rebuild_tensor_v2` over persistent storage ids), one stored entry per
 * storage under `<archive>/data/`, aligned to 64 bytes, then `version`. Placeholders of classes we
 * never executed are not re-emitted (the output must load with weights_only=True); they are reported.
 */
export function writePth(path: string, root: PyValue, options: PthWriteOptions = {}): PthWriteResult {
  const storages: StorageToWrite[] = [];
  const keyOf = new Map<object, string>();
  const dropped: string[] = [];
  /** A tensor that views a storage of its file refers to that storage (written once); others own theirs. */
  const storageKey = (t: Tensor): { key: string; numel: number; offset: number; stride: readonly number[] } => {
    const origin = tensorOrigin(t);
    const owner: object = origin?.storage ?? t;
    let key = keyOf.get(owner);
    if (key === undefined) {
      key = String(storages.length);
      keyOf.set(owner, key);
      storages.push(origin !== undefined ? { bytes: origin.readStorage, byteLength: origin.storageByteLength } : { bytes: () => t.bytes(), byteLength: t.byteLength, release: () => t.release() });
    }
    return origin !== undefined
      ? { key, numel: origin.storageNumel, offset: origin.offset, stride: origin.stride }
      : { key, numel: t.size, offset: 0, stride: contiguousStride(t.shape) };
  };
  const writer = new PickleWriter((w, v) => {
    if (v instanceof Tensor) {
      const s = storageKey(v);
      w.global('torch._utils', '_rebuild_tensor_v2');
      w.op(0x28); // MARK: args tuple
      w.tuple(['storage', new PyGlobalRef('torch', STORAGE_CLASS[v.dtype]), s.key, 'cpu', s.numel]);
      w.op(0x51); // BINPERSID
      w.int(s.offset);
      w.tuple([...v.shape]);
      w.tuple([...s.stride]);
      w.op(0x89); // requires_grad False
      w.global('collections', 'OrderedDict');
      w.op(0x29, 0x52); // OrderedDict() backward hooks
      w.op(0x74, 0x52); // TUPLE, REDUCE
      return true;
    }
    if (v instanceof PyGlobalRef) {
      w.global(v.module, v.name);
      return true;
    }
    if (v instanceof PyObject || v instanceof PyGlobal || v instanceof PyCallable || v instanceof PySet) {
      dropped.push(v instanceof PyObject ? v.cls.qualifiedName : v instanceof PyGlobal ? v.qualifiedName : 'set');
      w.op(0x4e);
      return true;
    }
    return false;
  });
  writer.value(root);
  const pkl = writer.finish();
  if (storages.length === 0 && dropped.length > 0) {
    // What is left would load as None (or containers of None): never written.
    throw new DoconvError(
      'NO_TENSORS',
      `the .pth would hold no tensors: ${root instanceof PyObject ? 'its top level is' : 'every tensor is inside'} an object of class ${[...new Set(dropped)].slice(0, 3).join(', ')}, which is not written as plain data; nothing was written. Write -o x.safetensors or x.npz (every tensor by its path), or save a state dict (torch.save(model.state_dict()))`,
      { file: path },
    );
  }
  const total = storages.reduce((n, s) => n + s.byteLength, pkl.byteLength);
  if (options.maxBytes !== undefined && total > options.maxBytes) {
    throw new DoconvError('LIMIT_EXCEEDED', `the .pth would hold ${total} bytes, more than the ${options.maxBytes} this input allows`, { file: path });
  }
  const archive = basename(path).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_.-]/g, '_') || 'archive';
  let bytes = 0;
  writeFileAtomic(path, (fd) => {
    const zip = new ZipWriter(fd, 64, options.forceZip64 ?? false);
    zip.add(`${archive}/data.pkl`, pkl);
    zip.add(`${archive}/byteorder`, Buffer.from('little'));
    storages.forEach((s, i) => {
      const data = s.bytes();
      bytes += data.byteLength;
      zip.add(`${archive}/data/${i}`, data);
      s.release?.();
    });
    zip.add(`${archive}/version`, Buffer.from('3\n'));
    zip.finish();
  });
  return { tensors: storages.length, bytes, dropped };
}

/** Marker for a global written by reference (a storage class inside a persistent id). */
class PyGlobalRef {
  constructor(readonly module: string, readonly name: string) {}
}

export function contiguousStride(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i]!;
  }
  return stride;
}
