import { basename } from 'node:path';
import { PyCallable, PyGlobal, PyObject, PySet, type PyValue } from '../formats/pickle-values.js';
import { PickleWriter } from '../formats/pickle-writer.js';
import { ZipWriter } from '../formats/zip-writer.js';
import type { DType } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic.js';

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
export function writePth(path: string, root: PyValue, options: { forceZip64?: boolean } = {}): PthWriteResult {
  const storages: Tensor[] = [];
  const keyOf = new Map<Tensor, string>();
  const dropped: string[] = [];
  const writer = new PickleWriter((w, v) => {
    if (v instanceof Tensor) {
      let key = keyOf.get(v);
      if (key === undefined) {
        key = String(storages.length);
        keyOf.set(v, key);
        storages.push(v);
      }
      w.global('torch._utils', '_rebuild_tensor_v2');
      w.op(0x28); // MARK: args tuple
      w.tuple(['storage', new PyGlobalRef('torch', STORAGE_CLASS[v.dtype]), key, 'cpu', v.size]);
      w.op(0x51); // BINPERSID
      w.int(0);
      w.tuple([...v.shape]);
      w.tuple(contiguousStride(v.shape));
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
  const archive = basename(path).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_.-]/g, '_') || 'archive';
  let bytes = 0;
  writeFileAtomic(path, (fd) => {
    const zip = new ZipWriter(fd, 64, options.forceZip64 ?? false);
    zip.add(`${archive}/data.pkl`, pkl);
    zip.add(`${archive}/byteorder`, Buffer.from('little'));
    storages.forEach((t, i) => {
      const data = t.bytes();
      bytes += data.byteLength;
      zip.add(`${archive}/data/${i}`, data);
      t.release();
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
