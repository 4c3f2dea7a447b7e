import { existsSync, mkdtempSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, sep } from 'node:path';
import { checkKernelPatterns, checkpointToOnnx, convertCheckpoint } from '../convert.js';
import { loadCheckpointBytes } from '../checkpoint/load.js';
import { parseKernelOverride } from '../doconv/kernel-spec.js';
import { DoconvError } from '../errors.js';
import { FileSource, MemorySource } from '../formats/byte-source.js';
import { readOnnxExternalData, readOnnxInfo } from '../formats/onnx-info.js';
import { fileKind, readRegularFile } from '../formats/regular-file.js';
import { sniffFormat } from '../readers/sniff.js';
import type { Preprocessing } from '../arch/spec.js';
import { float32ToHalf, halfToFloat32 } from '../tensor/half.js';
import { describeCandidate, gpuPlan, noGpuMessage, TFJS_NODE_GPU, type ModelKind } from './execution-providers.js';
import { importOptional, loadTfjsModel, quietTensorflowLogs } from './tfjs-model.js';
import { probeProvider } from './gpu-probe.js';
import { checkInputShape, type InputLayout } from './input-shape.js';
import { removeTemp, trackTemp } from '../temp-files.js';
import { pull } from '../registry/pull.js';
import type { LoadModelOptions, Model, PredictInput, Prediction } from './types.js';

const ONNX_FLOAT16 = 10;
/** A model file read whole: protobuf caps a message at 2 GiB, and so does one Node read. */
export const MAX_MODEL_BYTES = 2 ** 31 - 1;
/** onnxruntime's log severity for sessions: 4 is fatal only (DOCONV_ZOO_DEBUG=1 shows warnings). */
const SESSION_LOG_SEVERITY = process.env.DOCONV_ZOO_DEBUG ? 2 : 4;

type Ort = typeof import('onnxruntime-node');
let ortModule: Promise<Ort> | undefined;

/** onnxruntime-node, loaded on first use (the converter works without it). */
async function ort(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node').then((m) => {
    // Before the first session (onnxruntime creates its logging environment once): its own log
    // lines are coloured and multi-line; what they say reaches the user in our one-line error.
    if (!process.env.DOCONV_ZOO_DEBUG) m.env.logLevel = 'fatal';
    return m;
  }, (err: Error) => {
    ortModule = undefined;
    throw new DoconvError('BAD_ARGUMENT', `onnxruntime-node is not usable here (${err.message.split('\n')[0]}); npm install onnxruntime-node`);
  });
  return ortModule;
}

/** ONNX bytes for a path or buffer: an .onnx model as is, a DO-Conv checkpoint converted in memory. */
async function onnxBytes(source: string | Uint8Array, options: LoadModelOptions): Promise<{ bytes: Uint8Array; name: string }> {
  const name = typeof source === 'string' ? source : '<buffer>';
  const bytes = typeof source === 'string' ? readRegularFile(source, MAX_MODEL_BYTES) : source;
  const format = sniffFormat(new MemorySource(bytes));
  if (format === 'pytorch-zip' || format === 'pytorch-legacy' || format === 'mxnet-ndarray-list' || format === 'hdf5' || format === 'keras-zip') {
    const kernels = (options.kernels ?? []).map(parseKernelOverride);
    const ckpt = await loadCheckpointBytes(bytes, name, { kernels });
    checkKernelPatterns(ckpt.layers, kernels, name);
    const { model } = checkpointToOnnx(ckpt, {
      ...(options.arch ? { arch: options.arch } : {}),
      ...(options.inputSize ? { inputSize: options.inputSize } : options.inputShape ? { inputShapeHint: options.inputShape } : options.fixedSize ? {} : { dynamicSize: true }),
    });
    return { bytes: model.toBytes(), name };
  }
  if (format !== 'unknown') throw new DoconvError('WRONG_FORMAT', `cannot run this file directly; convert it first`, { file: name });
  return { bytes, name };
}

function parsePreprocessing(meta: Record<string, string>): Preprocessing | undefined {
  if (meta.preprocessing === undefined) return undefined;
  try {
    return JSON.parse(meta.preprocessing) as Preprocessing;
  } catch {
    return undefined;
  }
}

const ZOO_NAME = /^[a-z0-9_]+$/;

/** A string that names no file but looks like a zoo name. */
function isZooName(source: string | Uint8Array): source is string {
  return typeof source === 'string' && !existsSync(source) && ZOO_NAME.test(source);
}

/** What a model reference is: an .onnx file, a TensorFlow.js folder, a checkpoint, or a zoo name. */
function modelKind(source: string | Uint8Array): ModelKind {
  if (typeof source !== 'string') return sniffFormat(new MemorySource(source)) === 'unknown' ? 'onnx-file' : 'checkpoint';
  if (isZooName(source)) return 'zoo-name';
  if (!existsSync(source)) throw new DoconvError('FILE_NOT_FOUND', 'no such file', { file: source });
  const stats = statSync(source);
  if (stats.isDirectory()) return 'tfjs-folder';
  // Sniffing opens the file: a FIFO would block the open, a device never end.
  if (!stats.isFile()) throw new DoconvError('NOT_REGULAR_FILE', `not a regular file (${fileKind(stats)})`, { file: source });
  const file = new FileSource(source);
  try {
    return sniffFormat(file) === 'unknown' ? 'onnx-file' : 'checkpoint';
  } catch {
    return 'checkpoint'; // damaged: the reader will say what is wrong
  } finally {
    file.close();
  }
}

/**
 * Loads a model for inference: an .onnx file (or its bytes), a TensorFlow.js folder, a DO-Conv
 * checkpoint (fused and converted in memory first), or a zoo name (pulled and converted).
 * `device: 'gpu'` takes the first GPU engine that starts (execution-providers.ts: onnxruntime's CUDA,
 * then its WebGPU provider, then @tensorflow/tfjs-node-gpu) and says what was tried when none does.
 */
export async function loadModel(source: string | Uint8Array, options: LoadModelOptions = {}): Promise<Model> {
  const backend = options.backend ?? 'onnx';
  if (backend !== 'onnx' && backend !== 'tfjs') throw new DoconvError('BAD_ARGUMENT', `backend '${String(backend)}' is not available; use 'onnx' or 'tfjs'`);
  if ((options.device ?? 'cpu') === 'gpu') return loadOnGpu(source, options);
  if (isZooName(source)) {
    // A zoo name: pulled (or found in the cache), converted for the backend (as the entry's
    // architecture names it), or the entry's own ONNX / TensorFlow.js model as it is; then loaded.
    const pulled = await pull(source, { ...(options.registry ? { registry: options.registry } : {}), to: backend === 'tfjs' ? 'tfjs' : 'onnx' });
    return loadModel(pulled.converted ?? pulled.path, options);
  }
  if (backend === 'tfjs') return withTfjsFolder(source, modelKind(source), options, (dir) => loadTfjsModel(dir, options.tfjsBackend, { verbose: isVerbose(options) }));
  return loadOnnx(source, options, 'cpu');
}

/** Whether native libraries may speak on stderr: options.verbose, or DOCONV_ZOO_DEBUG. */
function isVerbose(options: LoadModelOptions): boolean {
  return options.verbose ?? Boolean(process.env.DOCONV_ZOO_DEBUG);
}

/**
 * Runs `use` on a TensorFlow.js model folder for `source`: a folder as it is; a DO-Conv checkpoint
 * (a path or bytes) converted into a temporary folder first, which is removed once `use` is done
 * (loading reads every weight, so a loaded model no longer needs it).
 */
async function withTfjsFolder<T>(source: string | Uint8Array, kind: ModelKind, options: LoadModelOptions, use: (dir: string) => Promise<T>): Promise<T> {
  if (kind === 'tfjs-folder') return use(source as string);
  if (kind === 'onnx-file') {
    throw new DoconvError('BAD_ARGUMENT', "backend 'tfjs' takes a TensorFlow.js model folder or a DO-Conv checkpoint, not an ONNX model; run it with backend 'onnx'", typeof source === 'string' ? { file: source } : {});
  }
  const tmp = mkdtempSync(join(tmpdir(), 'doconv-zoo-tfjs-'));
  trackTemp(tmp);
  try {
    let input = source as string;
    if (typeof source !== 'string') {
      input = join(tmp, 'checkpoint');
      writeFileSync(input, source);
    }
    const dir = join(tmp, 'model');
    await convertCheckpoint(input, dir, {
      to: 'tfjs',
      ...(options.arch ? { arch: options.arch } : {}),
      kernels: options.kernels ?? [],
      ...(options.inputSize ? { inputSize: options.inputSize } : options.inputShape ? { inputShapeHint: options.inputShape } : {}),
    });
    return await use(dir);
  } finally {
    removeTemp(tmp);
  }
}

async function loadOnGpu(source: string | Uint8Array, options: LoadModelOptions): Promise<Model> {
  const kind = modelKind(source);
  const verbose = isVerbose(options);
  quietTensorflowLogs(verbose); // before libtensorflow loads: its CUDA warnings are not ours to print
  const plan = gpuPlan(options.backend ?? 'onnx', kind, { tfjsNodeGpu: await importOptional(TFJS_NODE_GPU) });
  const tried: string[] = [];
  let onnxSource: string | Uint8Array | undefined; // a zoo name is pulled once, for all providers
  for (const c of plan.candidates) {
    try {
      if (c.engine === 'onnx') {
        // Probed in a child process first: a provider that cannot start here (no CUDA libraries,
        // no Vulkan adapter) prints native warnings this process could not keep off the terminal.
        const probe = await probeProvider(c.provider, verbose);
        if (!probe.ok) throw new Error(probe.message ?? 'did not start');
        onnxSource ??= kind === 'zoo-name' ? (await pull(source as string, { ...(options.registry ? { registry: options.registry } : {}), to: 'onnx' })).converted! : source;
        return await loadOnnx(onnxSource, options, c.provider);
      }
      return await loadTfjsOnGpu(source, kind, options);
    } catch (err) {
      tried.push(`${describeCandidate(c)}: ${briefly(err as Error)}`);
    }
  }
  throw new DoconvError('BAD_ARGUMENT', noGpuMessage(tried, plan.skipped), typeof source === 'string' ? { file: source } : {});
}

/** The first line of an engine's error, without onnxruntime's source location and assertion text. */
function briefly(err: Error): string {
  const text = err instanceof DoconvError ? err.reason : err.message;
  return (text.split('\n')[0] ?? '').replace(/^\/onnxruntime_src\/\S+ [^ ]*.*? was false\. /, '').replace(/^OrtSessionOptionsAppendExecutionProvider_\w+: /, '');
}

/** TensorFlow.js on @tensorflow/tfjs-node-gpu; checkpoints are converted to a temporary folder first. */
async function loadTfjsOnGpu(source: string | Uint8Array, kind: ModelKind, options: LoadModelOptions): Promise<Model> {
  const load = async (dir: string): Promise<Model> => {
    const model = await loadTfjsModel(dir, 'tensorflow', { verbose: isVerbose(options) });
    if (model.executionProvider !== 'tfjs-tensorflow') {
      await model.dispose();
      throw new DoconvError('BAD_ARGUMENT', `TensorFlow.js started ${model.executionProvider}, not ${TFJS_NODE_GPU}`);
    }
    return model;
  };
  if (kind === 'zoo-name') return load((await pull(source as string, { ...(options.registry ? { registry: options.registry } : {}), to: 'tfjs' })).converted!);
  return withTfjsFolder(source, kind, options, load);
}

/** An onnxruntime session on one execution provider. */
async function loadOnnx(source: string | Uint8Array, options: LoadModelOptions, provider: string): Promise<Model> {
  const { bytes, name } = await onnxBytes(source, options);
  const info = (() => {
    try {
      return readOnnxInfo(bytes);
    } catch (err) {
      throw err instanceof DoconvError ? err.inFile(name) : err;
    }
  })();
  const externalFolder = checkExternalData(bytes, typeof source === 'string' && name === source ? source : undefined, name);
  const rt = await ort();
  const probing = provider !== 'cpu';
  let session: import('onnxruntime-node').InferenceSession;
  try {
    session = await rt.InferenceSession.create(bytes, {
      executionProviders: [provider],
      graphOptimizationLevel: 'all',
      logSeverityLevel: SESSION_LOG_SEVERITY,
      ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
      extra: {
        session: {
          // Spinning inference threads would take the cores that decoding threads need.
          ...(options.spinning === false ? { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } : {}),
          // A model handed over as bytes has its external data resolved here, not in the CWD.
          ...(externalFolder !== undefined ? { model_external_initializers_file_folder_path: externalFolder } : {}),
        },
      },
    });
  } catch (err) {
    throw probing ? new DoconvError('BAD_ARGUMENT', briefly(err as Error)) : new DoconvError('MODEL_INVALID', `onnxruntime cannot load the model: ${provider}: ${oneLine(err)}`, { file: name });
  }
  return new OnnxModel(rt, session, provider, info.inputs[0]!.dims, info.outputs[0]?.dims ?? [], info.metadata, info.inputs[0]!.elemType === ONNX_FLOAT16, name);
}

/** onnxruntime's message, first line only, without its terminal colour codes. */
function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.replace(/\x1b\[[0-9;]*m/g, '').split('\n')[0] ?? '').trim();
}

/**
 * Checks every external-data reference of an ONNX model before onnxruntime sees it and returns
 * the folder to resolve them in (undefined when there are none). A model from bytes (a buffer, a
 * checkpoint converted in memory) may have none: there is no folder it belongs to. For a file,
 * each location is relative, has no '..', stays inside the model's folder after links are
 * resolved, names a regular file, and offset + length lie inside that file.
 */
function checkExternalData(bytes: Uint8Array, modelFile: string | undefined, name: string): string | undefined {
  let refs: ReturnType<typeof readOnnxExternalData>;
  try {
    refs = readOnnxExternalData(bytes);
  } catch (err) {
    throw err instanceof DoconvError ? err.inFile(name) : err;
  }
  if (refs.length === 0) return undefined;
  if (modelFile === undefined) throw new DoconvError('UNSUPPORTED_FEATURE', `a model given as bytes cannot use external data (tensor '${refs[0]!.tensor}' names '${refs[0]!.location}')`, { file: name });
  const folder = realpathSync(dirname(modelFile));
  for (const ref of refs) {
    const where = { file: name, key: ref.tensor };
    if (ref.location === '' || ref.location.includes('\0') || isAbsolute(ref.location) || ref.location.split(/[\\/]/).includes('..')) {
      throw new DoconvError('UNSAFE_PATH', `external data '${ref.location}' is outside the model folder`, where);
    }
    const shown = join(dirname(modelFile), ref.location);
    let real: string;
    try {
      real = realpathSync(shown);
    } catch {
      throw new DoconvError('FILE_NOT_FOUND', `external data '${ref.location}' is not in the model folder`, where);
    }
    if (!real.startsWith(folder + sep)) throw new DoconvError('UNSAFE_PATH', `external data '${ref.location}' is outside the model folder (a link to ${real})`, where);
    const stats = statSync(real);
    if (!stats.isFile()) throw new DoconvError('NOT_REGULAR_FILE', `external data ${shown} is not a regular file (${fileKind(stats)})`, where);
    const end = ref.offset + (ref.length ?? 0);
    if (ref.offset > stats.size || end > stats.size) throw new DoconvError('TRUNCATED', `external data ${shown} holds ${stats.size} bytes; offset ${ref.offset} + length ${ref.length ?? 0} runs past its end`, where);
  }
  return folder;
}

class OnnxModel implements Model {
  readonly backend = 'onnx' as const;
  readonly preprocessing: Preprocessing | undefined;
  readonly architecture: string | undefined;
  /** The layout callers feed: NHWC for networks from Keras checkpoints (their metadata says so), else NCHW. */
  readonly layout: InputLayout;

  constructor(
    private readonly rt: Ort,
    private readonly session: import('onnxruntime-node').InferenceSession,
    readonly executionProvider: string,
    readonly inputShape: (number | string)[],
    readonly outputShape: (number | string)[],
    readonly metadata: Record<string, string>,
    private readonly halfIo: boolean,
    /** The model's file (or '<buffer>'), for errors at run time. */
    private readonly file: string,
  ) {
    this.preprocessing = parsePreprocessing(metadata);
    this.architecture = metadata.architecture;
    this.layout = this.preprocessing?.layout === 'NHWC' ? 'NHWC' : 'NCHW';
  }

  private shapeFor(input: PredictInput): number[] {
    if (!(input instanceof Float32Array)) return [...input.shape];
    const nhwc = this.layout === 'NHWC';
    const [c, h, w] = nhwc ? [this.inputShape[3], this.inputShape[1], this.inputShape[2]] : this.inputShape.slice(1);
    const size = this.preprocessing?.inputSize;
    const [dh, dw] = [typeof h === 'number' ? h : size?.[0], typeof w === 'number' ? w : size?.[1]];
    const dims = nhwc ? [dh, dw, c] : [c, dh, dw];
    if (dims.some((d) => typeof d !== 'number')) throw new DoconvError('BAD_ARGUMENT', 'the model has a symbolic input size; pass {data, shape}');
    const per = (dims as number[]).reduce((a, b) => a * b, 1);
    if (input.length % per !== 0) throw new DoconvError('BAD_ARGUMENT', `input of ${input.length} values is not a whole number of ${dims.join('x')} images`);
    return [input.length / per, ...(dims as number[])];
  }

  async predict(input: PredictInput): Promise<Prediction> {
    const data = input instanceof Float32Array ? input : input.data;
    const shape = this.shapeFor(input);
    // Before onnxruntime sees it (its error would be a multi-line dump) and before a tensor is made.
    checkInputShape(shape, this.inputShape, this.layout);
    const expected = shape.reduce((a, b) => a * b, 1);
    if (data.length !== expected) throw new DoconvError('BAD_ARGUMENT', `input has ${data.length} values but shape [${shape.join(', ')}] needs ${expected}`);
    const inputName = this.session.inputNames[0]!;
    const outputName = this.session.outputNames[0]!;
    // Models written with --fp16-io take and give float16; callers always deal in float32.
    const feed = this.halfIo ? new this.rt.Tensor('float16', float32ToHalf(data), shape) : new this.rt.Tensor('float32', data, shape);
    let result: import('onnxruntime-node').InferenceSession.OnnxValueMapType;
    try {
      result = await this.session.run({ [inputName]: feed });
    } catch (err) {
      throw new DoconvError('MODEL_INVALID', `onnxruntime failed to run the model on input [${shape.join(', ')}]: ${oneLine(err)}`, { file: this.file });
    }
    const out = result[outputName]!;
    const values = out.type === 'float16' ? halfToFloat32(out.data as Uint16Array) : (out.data as Float32Array);
    return { data: values, shape: [...out.dims] };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
