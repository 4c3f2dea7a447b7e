import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DoconvError } from '../errors.js';
import type { ByteSource } from '../formats/byte-source.js';
import { hdf5, hdf5DType, hdf5Reason, quietHdf5 } from '../formats/hdf5.js';
import { PyDict } from '../formats/pickle-values.js';
import { ZipReader } from '../formats/zip.js';
import { DTYPE_SIZE } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import type { ReadResult } from './read-result.js';

type H5File = InstanceType<ReturnType<typeof hdf5>['h5']['File']>;
type H5Group = ReturnType<H5File['get']>;

/**
 * Opens bytes as an HDF5 file (h5wasm's node build reads real files: a private temporary one) and
 * runs `fn` on it with the library's diagnostics captured; any failure inside the library becomes a
 * DoconvError carrying its most specific reason.
 */
function withHdf5<T>(bytes: Uint8Array, fn: (f: H5File) => T): T {
  const { h5 } = hdf5();
  const tmp = join(tmpdir(), `doconv-zoo-${process.pid}-${randomBytes(6).toString('hex')}.h5`);
  writeFileSync(tmp, bytes, { mode: 0o600 });
  let file: H5File | undefined;
  let failure: unknown;
  const { value, diagnostics } = quietHdf5(() => {
    try {
      file = new h5.File(tmp, 'r');
      if (file.file_id < 0n) return undefined;
      return fn(file);
    } catch (err) {
      failure = err;
      return undefined;
    } finally {
      try {
        if (file !== undefined && file.file_id >= 0n) file.close();
      } catch {
        // closing a damaged file can fail; the temporary file goes regardless
      }
      rmSync(tmp, { force: true });
    }
  });
  if (failure instanceof DoconvError) throw failure;
  if (failure !== undefined || file === undefined || file.file_id < 0n) {
    const reason = diagnostics !== '' ? hdf5Reason(diagnostics) : failure instanceof Error ? failure.message : 'cannot open the file';
    throw new DoconvError('CORRUPT', `damaged or unsupported HDF5 file: ${reason}`, { offset: 0 });
  }
  return value as T;
}

function attrValue(obj: { attrs: Record<string, { value: unknown }> }, name: string): unknown {
  return name in obj.attrs ? obj.attrs[name]!.value : undefined;
}

/** A string-list attribute, joining Keras' chunks (`layer_names0`, `layer_names1`, ...) when it outgrew the header. */
function stringList(obj: { attrs: Record<string, { value: unknown }> }, name: string): string[] | undefined {
  const toList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);
  const whole = attrValue(obj, name);
  if (whole !== undefined) return toList(whole).map((s) => s.replace(/\0+$/, ''));
  if (!(`${name}0` in obj.attrs)) return undefined;
  const out: string[] = [];
  for (let i = 0; `${name}${i}` in obj.attrs; i++) out.push(...toList(attrValue(obj, `${name}${i}`)));
  return out.map((s) => s.replace(/\0+$/, ''));
}

/** Reads a dataset's bytes in its stored type (float16 included, which h5wasm's `value` refuses). */
function readDataset(f: H5File, path: string): Tensor {
  const { h5, module } = hdf5();
  const d = f.get(path);
  if (!(d instanceof h5.Dataset)) throw new DoconvError('CORRUPT', `'${path}' is not a dataset`, { key: path });
  const meta = d.metadata;
  const dtype = hdf5DType(meta, path);
  const shape = (meta.shape ?? []).map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const nbytes = n * DTYPE_SIZE[dtype];
  const out = new Uint8Array(nbytes);
  if (nbytes > 0) {
    const ptr = module._malloc(nbytes);
    try {
      module.get_dataset_data(d.file_id, d.path, null, null, null, BigInt(ptr));
      out.set(module.HEAPU8.subarray(ptr, ptr + nbytes));
    } catch (err) {
      throw new DoconvError('CORRUPT', `cannot read dataset: ${(err as Error).message}`, { key: path });
    } finally {
      module._free(ptr);
    }
  }
  return new Tensor(dtype, shape, out);
}

function isGroup(g: unknown): g is H5Group & { keys(): string[] } {
  return g !== null && typeof g === 'object' && 'keys' in g && typeof (g as { keys: unknown }).keys === 'function';
}

/** Every dataset under a group, depth first; numeric names (Keras 3 `vars/0..N`) in numeric order. */
function walkDatasets(f: H5File, path: string, out: string[]): void {
  const g = f.get(path);
  if (!isGroup(g)) {
    out.push(path);
    return;
  }
  const keys = g.keys().slice().sort((a, b) => (/^\d+$/.test(a) && /^\d+$/.test(b) ? Number(a) - Number(b) : 0));
  for (const k of keys) walkDatasets(f, path === '/' ? k : `${path}/${k}`, out);
}

function parseConfig(text: unknown, where: string): unknown {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new DoconvError('CORRUPT', `the ${where} is not valid JSON`, { key: where });
  }
}

/** Keras 2 `model.save()` / `save_weights()` HDF5 files, or a Keras 3 `.weights.h5`. */
function readKerasHdf5(bytes: Uint8Array, config?: unknown): ReadResult {
  return withHdf5(bytes, (f) => {
    const root = new PyDict(true);
    const notes: string[] = [];
    const modelConfig = config ?? parseConfig(attrValue(f, 'model_config'), 'model_config attribute');
    const hasModelWeights = f.keys().includes('model_weights');
    const weightsRoot = hasModelWeights ? f.get('model_weights') : f;
    const layerNames = isGroup(weightsRoot) ? stringList(weightsRoot as never, 'layer_names') : undefined;
    let format = 'keras-h5';
    if (layerNames !== undefined) {
      // Keras 2: layers in layer_names order, each layer's weights in weight_names order.
      const base = hasModelWeights ? 'model_weights/' : '';
      for (const layer of layerNames) {
        const g = f.get(`${base}${layer}`);
        if (!isGroup(g)) throw new DoconvError('CORRUPT', `layer_names lists '${layer}' but there is no such group`, { key: layer });
        for (const w of stringList(g as never, 'weight_names') ?? []) root.set(`${layer}/${w}`, readDataset(f, `${base}${layer}/${w}`));
      }
      if (!hasModelWeights) notes.push('save_weights() file: no model_config; the architecture comes from the layer names or --arch');
    } else if (f.keys().includes('layers') || f.keys().includes('vars')) {
      // Keras 3 .weights.h5: layers/<name>/vars/<i>, nested models as layers/<name>/layers/...
      format = 'keras3-weights-h5';
      const paths: string[] = [];
      for (const k of f.keys()) walkDatasets(f, k, paths);
      for (const p of paths) root.set(p, readDataset(f, p));
    } else {
      throw new DoconvError('WRONG_FORMAT', 'an HDF5 file that is not a Keras weights file (no model_weights, layer_names or layers group)', { offset: 0 });
    }
    const kerasVersion = attrValue(f, 'keras_version');
    if (typeof kerasVersion === 'string') notes.push(`written by Keras ${kerasVersion}`);
    return { format, framework: 'keras', root, notes, ...(modelConfig !== undefined ? { config: modelConfig } : {}) };
  });
}

export function readKerasH5File(source: ByteSource): ReadResult {
  return readKerasHdf5(source.read(0, source.size));
}

/** A Keras 3 `.keras` archive: config.json plus model.weights.h5. */
export function readKerasZipFile(source: ByteSource): ReadResult {
  const zip = new ZipReader(source);
  const config = parseConfig(Buffer.from(zip.read('config.json')).toString('utf8'), 'config.json');
  const weightsName = [...zip.entries.keys()].find((n) => n.endsWith('.weights.h5'))!;
  const r = readKerasHdf5(zip.read(weightsName), config);
  return { ...r, format: 'keras3-archive' };
}
