import { closeSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, sep } from 'node:path';
import { DoconvError } from '../errors.js';
import { fileKind, openRegularFile, readExactly, readRegularFile } from '../formats/regular-file.js';
import { MAX_MODEL_JSON_BYTES } from '../emit/atomic-folder.js';
import type { Preprocessing } from '../arch/spec.js';
import type { Model, PredictInput, Prediction } from './types.js';
import { checkInputShape } from './input-shape.js';

type Tf = typeof import('@tensorflow/tfjs');
export type TfjsBackend = 'wasm' | 'cpu' | 'tensorflow';

/**
 * The tfjs backends to try, in order: @tensorflow/tfjs-node(-gpu) when the user has it installed
 * (it downloads libtensorflow at install time, so it is optional), then WebAssembly (SIMD), then the
 * plain JavaScript cpu backend. `prefer` puts one first.
 */
export function tfjsBackendOrder(available: { tfjsNode: boolean }, prefer?: TfjsBackend): TfjsBackend[] {
  const order: TfjsBackend[] = [...(available.tfjsNode ? (['tensorflow'] as const) : []), 'wasm', 'cpu'];
  return prefer === undefined ? order : [prefer, ...order.filter((b) => b !== prefer)];
}

let tfModule: Promise<Tf> | undefined;

/** Whether an optional package is installed (and loads). */
export async function importOptional(name: string): Promise<boolean> {
  try {
    await import(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * libtensorflow (under @tensorflow/tfjs-node and -gpu) logs CPU-feature and CUDA-library warnings on
 * stderr as it loads; unless verbose (or the user set its level), only its errors are let through.
 * Called before the package is first imported: the library reads the variable once.
 */
export function quietTensorflowLogs(verbose: boolean): void {
  if (!verbose && process.env.TF_CPP_MIN_LOG_LEVEL === undefined) process.env.TF_CPP_MIN_LOG_LEVEL = '2';
}

const TFJS_NODE = '@tensorflow/tfjs-node';

/**
 * @tensorflow/tfjs on a backend: the one asked for, which must start (an error names the backends
 * that can, and how to install tfjs-node), or else the first that starts (tfjsBackendOrder).
 */
async function tfjs(prefer: TfjsBackend | undefined, verbose: boolean): Promise<{ tf: Tf; backend: string; tried: string[] }> {
  quietTensorflowLogs(verbose);
  tfModule ??= import('@tensorflow/tfjs').then((tf) => {
    tf.enableProdMode(); // no debug checks, and no "install tfjs-node" banner on stdout
    return tf;
  });
  const tf = await tfModule;
  const tfjsNode = (await importOptional('@tensorflow/tfjs-node-gpu')) || (await importOptional(TFJS_NODE));
  const wasm = await importOptional('@tensorflow/tfjs-backend-wasm');
  const available = [...(tfjsNode ? ['tensorflow'] : []), ...(wasm ? ['wasm'] : []), 'cpu'];
  if (prefer === 'tensorflow' && !tfjsNode) {
    throw new DoconvError('BAD_ARGUMENT', `the tfjs backend 'tensorflow' needs ${TFJS_NODE}, which is not installed: npm install ${TFJS_NODE} (or @tensorflow/tfjs-node-gpu for CUDA); backends available here: ${available.join(', ')}`);
  }
  const tried: string[] = [];
  for (const b of prefer !== undefined ? [prefer] : tfjsBackendOrder({ tfjsNode })) {
    try {
      if (await tf.setBackend(b)) {
        await tf.ready();
        return { tf, backend: b, tried };
      }
      tried.push(`${b}: not registered`);
    } catch (err) {
      tried.push(`${b}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (prefer !== undefined) throw new DoconvError('BAD_ARGUMENT', `the tfjs backend '${prefer}' did not start (${tried.join('; ')}); backends available here: ${available.filter((b) => b !== prefer).join(', ') || 'none'}`);
  throw new DoconvError('BAD_ARGUMENT', `no TensorFlow.js backend could start (tried ${tried.join('; ')})`);
}

/** The weights of one folder, all shards together (what one ArrayBuffer for tfjs may hold here). */
export const MAX_TFJS_WEIGHT_BYTES = 2 ** 31 - 1;

/** Bytes per stored element, by dtype or quantization dtype (strings are refused: variable size). */
const STORED_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, uint16: 2, float16: 2 };

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string };
}

interface ModelJson {
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  signature?: { inputs?: Record<string, { tensorShape?: { dim?: { size: string }[] } }> };
  userDefinedMetadata?: Record<string, unknown>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The bytes one weight takes in its shard, from shape x dtype (the quantized dtype when quantized). */
function weightBytes(w: unknown, file: string, index: number): number {
  if (!isObject(w) || typeof w.name !== 'string') throw new DoconvError('MODEL_INVALID', `weightsManifest weight ${index} has no name`, { file });
  const key = w.name;
  if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) throw new DoconvError('MODEL_INVALID', 'weight shape is not a list of non-negative integers', { file, key });
  const stored = isObject(w.quantization) ? w.quantization.dtype : w.dtype;
  const size = typeof stored === 'string' && Object.hasOwn(STORED_BYTES, stored) ? STORED_BYTES[stored]! : undefined;
  if (size === undefined) throw new DoconvError('UNSUPPORTED_FEATURE', `weight dtype '${String(stored)}' is not supported`, { file, key });
  const bytes = (w.shape as number[]).reduce((a, b) => a * b, size);
  if (!Number.isSafeInteger(bytes) || bytes > MAX_TFJS_WEIGHT_BYTES) throw new DoconvError('LIMIT_EXCEEDED', `weight of shape [${(w.shape as number[]).join(', ')}] needs more than ${MAX_TFJS_WEIGHT_BYTES} bytes`, { file, key });
  return bytes;
}

/** Parses and checks model.json: a regular file of bounded size, a manifest of string paths and well-formed weights. */
function readModelJson(dir: string): ModelJson {
  const file = join(dir, 'model.json');
  const text = Buffer.from(readRegularFile(file, MAX_MODEL_JSON_BYTES)).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    // V8's message quotes the text around the error: of a linked-in stranger's file, say nothing but where.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new DoconvError('MODEL_INVALID', `not JSON${at !== undefined ? ` (at character ${at})` : ''}`, { file, ...(at !== undefined ? { offset: Number(at) } : {}) });
  }
  if (!isObject(json) || !isObject(json.modelTopology)) throw new DoconvError('MODEL_INVALID', 'no modelTopology object', { file });
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest)) throw new DoconvError('MODEL_INVALID', 'weightsManifest is not a list', { file });
  manifest.forEach((g, i) => {
    if (!isObject(g) || !Array.isArray(g.paths) || !g.paths.every((p) => typeof p === 'string') || !Array.isArray(g.weights)) {
      throw new DoconvError('MODEL_INVALID', `weightsManifest group ${i} needs a list of string paths and a list of weights`, { file });
    }
  });
  return json as unknown as ModelJson;
}

/**
 * The path of a shard named by the manifest, inside the model folder: relative, no '..' segment,
 * and still inside after links are resolved. Refused otherwise, before anything is opened.
 */
function shardPath(dir: string, realDir: string, name: string, modelJson: string): string {
  const segments = name.split(/[\\/]/);
  if (name === '' || name.includes('\0') || isAbsolute(name) || segments.includes('..')) {
    throw new DoconvError('UNSAFE_PATH', `weight path '${name}' is outside the model folder`, { file: modelJson });
  }
  const path = join(dir, name);
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new DoconvError('FILE_NOT_FOUND', 'weight shard named by model.json is missing', { file: path });
  }
  if (!real.startsWith(realDir + sep)) throw new DoconvError('UNSAFE_PATH', `weight path '${name}' is outside the model folder (a link to ${real})`, { file: modelJson });
  return real;
}

/** Reads one shard of exactly `size` bytes: a regular file (never a FIFO or device opened), its size checked first. */
function readShard(path: string, shown: string, size: number, last: boolean, cutWeight: (held: number) => string): Uint8Array {
  const stats = statSync(path);
  if (!stats.isFile()) throw new DoconvError('NOT_REGULAR_FILE', `not a regular file (${fileKind(stats)})`, { file: shown });
  const { fd, stats: opened } = openRegularFile(path, undefined, shown);
  try {
    if (opened.size < size) throw new DoconvError('TRUNCATED', `shard holds ${opened.size} bytes, its weights need ${size}: weight runs past its end`, { file: shown, key: cutWeight(opened.size) });
    if (last && opened.size > size) throw new DoconvError('CORRUPT', `shard holds ${opened.size - size} bytes more than its weights need`, { file: shown });
    return readExactly(fd, size, shown, 'its weights need (the shard shrank while reading)');
  } finally {
    closeSync(fd);
  }
}

/**
 * Every group's weights from its shards. A group's shards are its weights' bytes end to end
 * (tensorflowjs_converter cuts them at 4 MiB), so their sizes are known from the manifest before
 * any shard is read: each shard must be the size that leaves the rest for the next ones.
 */
function readWeights(dir: string, json: ModelJson): Uint8Array {
  const modelJson = join(dir, 'model.json');
  const realDir = realpathSync(dir);
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const group of json.weightsManifest) {
    const sizes = group.weights.map((w, i) => weightBytes(w, modelJson, i));
    let need = sizes.reduce((a, b) => a + b, 0);
    total += need;
    if (total > MAX_TFJS_WEIGHT_BYTES) throw new DoconvError('LIMIT_EXCEEDED', `weights need more than ${MAX_TFJS_WEIGHT_BYTES} bytes`, { file: modelJson });
    const paths = group.paths.map((p) => shardPath(dir, realDir, p, modelJson));
    const groupBytes = need;
    const lastName = group.weights.at(-1)?.name ?? '';
    paths.forEach((path, i) => {
      const shown = join(dir, group.paths[i]!);
      const last = i === paths.length - 1;
      const size = last ? need : Math.min(need, statSync(path).size);
      const cut = (held: number) => weightAt(group.weights, sizes, groupBytes - need + held) ?? lastName;
      parts.push(readShard(path, shown, size, last, cut));
      need -= size;
    });
    if (paths.length === 0 && need > 0) throw new DoconvError('MODEL_INVALID', `weights need ${need} bytes but the group names no shard`, { file: modelJson, key: lastName });
  }
  return Buffer.concat(parts, total);
}

/** The name of the weight that holds byte `offset` of its group (the one a short shard cuts). */
function weightAt(weights: WeightSpec[], sizes: number[], offset: number): string | undefined {
  let end = 0;
  for (let i = 0; i < weights.length; i++) {
    end += sizes[i]!;
    if (offset < end) return weights[i]!.name;
  }
  return undefined;
}

/** A tf.io.IOHandler over a model folder on disk (plain @tensorflow/tfjs has no file loader in Node). */
function folderHandler(dir: string, json: ModelJson) {
  return {
    load: async () => {
      const data = readWeights(dir, json);
      return {
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
        weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature,
        userDefinedMetadata: json.userDefinedMetadata,
      };
    },
  };
}

/** Loads a graph-model folder written by doconv-zoo (or tensorflowjs_converter) for inference. */
export async function loadTfjsModel(dir: string, prefer?: TfjsBackend, options: { verbose?: boolean } = {}): Promise<Model> {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory() || !statSync(join(dir, 'model.json'), { throwIfNoEntry: false })) throw new DoconvError('FILE_NOT_FOUND', 'not a TensorFlow.js model folder (no model.json)', { file: dir });
  const json = readModelJson(dir);
  const { tf, backend } = await tfjs(prefer, options.verbose ?? Boolean(process.env.DOCONV_ZOO_DEBUG));
  const modelJson = join(dir, 'model.json');
  let model: import('@tensorflow/tfjs').GraphModel;
  try {
    model = await tf.loadGraphModel(folderHandler(dir, json) as never);
  } catch (err) {
    throw err instanceof DoconvError ? err : new DoconvError('MODEL_INVALID', `TensorFlow.js cannot load this model: ${(err as Error).message.split('\n')[0]}`, { file: modelJson });
  }
  const inputShape = signatureInputShape(json);
  const meta = isObject(json.userDefinedMetadata) ? json.userDefinedMetadata : {};
  const preprocessing = meta.preprocessing as Preprocessing | undefined;
  return {
    backend: 'tfjs',
    layout: 'NHWC',
    executionProvider: `tfjs-${backend}`,
    inputShape,
    outputShape: [],
    preprocessing,
    architecture: typeof meta.architecture === 'string' ? meta.architecture : undefined,
    metadata: Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])),
    async predict(input: PredictInput): Promise<Prediction> {
      const data = input instanceof Float32Array ? input : input.data;
      const dims = input instanceof Float32Array ? [data.length / inputShape.slice(1).reduce<number>((a, b) => a * Number(b), 1), ...inputShape.slice(1).map(Number)] : [...input.shape];
      if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0) || dims.reduce((a, b) => a * b, 1) !== data.length) throw new DoconvError('BAD_ARGUMENT', `input of ${data.length} values does not fit shape [${dims.join(', ')}]`);
      // Before a tensor is made for it: TensorFlow.js graph models take NHWC.
      checkInputShape(dims, inputShape, 'NHWC');
      let x: import('@tensorflow/tfjs').Tensor;
      try {
        x = tf.tensor(data, dims, 'float32');
      } catch (err) {
        // A backend that an earlier hostile graph made fault cannot even hold the input.
        throw new DoconvError('MODEL_INVALID', `TensorFlow.js cannot take the input: ${(err as Error).message.split('\n')[0]}`, { file: modelJson });
      }
      try {
        let y: import('@tensorflow/tfjs').Tensor;
        let values: Float32Array;
        try {
          y = model.predict(x) as import('@tensorflow/tfjs').Tensor;
          values = (await y.data()) as Float32Array;
        } catch (err) {
          throw new DoconvError('MODEL_INVALID', `TensorFlow.js failed to run the model: ${(err as Error).message.split('\n')[0]}`, { file: modelJson });
        }
        const shape = [...y.shape];
        disposeQuietly(() => y.dispose());
        return { data: values, shape };
      } finally {
        disposeQuietly(() => x.dispose());
      }
    },
    async dispose() {
      disposeQuietly(() => model.dispose());
    },
  };
}

/**
 * Frees tfjs memory without letting a failure there replace the error that matters: after a
 * hostile graph made the WebAssembly backend fault, freeing its tensors faults too.
 */
function disposeQuietly(free: () => void): void {
  try {
    free();
  } catch {
    // The backend is already broken; the model's own error (MODEL_INVALID) has been thrown.
  }
}

/** The declared input shape from the signature ('batch' for -1); [] when absent or malformed. */
function signatureInputShape(json: ModelJson): (number | string)[] {
  const inputs = isObject(json.signature) && isObject(json.signature.inputs) ? Object.values(json.signature.inputs) : [];
  const dims = inputs[0]?.tensorShape?.dim;
  if (!Array.isArray(dims)) return [];
  return dims.map((d) => {
    const n = Number(isObject(d) ? d.size : NaN);
    return Number.isSafeInteger(n) && n >= 0 ? n : 'batch';
  });
}
