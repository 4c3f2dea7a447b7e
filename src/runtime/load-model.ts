import { readFileSync, existsSync } from 'node:fs';
import { checkpointToOnnx } from '../convert.js';
import { loadCheckpointBytes } from '../checkpoint/load.js';
import { parseKernelOverride } from '../doconv/kernel-spec.js';
import { DoconvError } from '../errors.js';
import { MemorySource } from '../formats/byte-source.js';
import { readOnnxInfo } from '../formats/onnx-info.js';
import { sniffFormat } from '../readers/sniff.js';
import type { Preprocessing } from '../arch/spec.js';
import { float32ToHalf, halfToFloat32 } from '../tensor/half.js';
import { GPU_HELP, providersFor } from './execution-providers.js';
import { loadTfjsModel } from './tfjs-model.js';
import { pull } from '../registry/pull.js';
import type { LoadModelOptions, Model, PredictInput, Prediction } from './types.js';

const ONNX_FLOAT16 = 10;

type Ort = typeof import('onnxruntime-node');
let ortModule: Promise<Ort> | undefined;

/** onnxruntime-node, loaded on first use (the converter works without it). */
async function ort(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node').catch((err: Error) => {
    ortModule = undefined;
    throw new DoconvError('BAD_ARGUMENT', `onnxruntime-node is not usable here (${err.message.split('\n')[0]}); npm install onnxruntime-node`);
  });
  return ortModule;
}

/** ONNX bytes for a path or buffer: an .onnx model as is, a DO-Conv checkpoint converted in memory. */
async function onnxBytes(source: string | Uint8Array, options: LoadModelOptions): Promise<{ bytes: Uint8Array; name: string }> {
  const name = typeof source === 'string' ? source : '<buffer>';
  if (typeof source === 'string' && !existsSync(source)) throw new DoconvError('FILE_NOT_FOUND', 'no such file', { file: source });
  const bytes = typeof source === 'string' ? new Uint8Array(readFileSync(source)) : source;
  const format = sniffFormat(new MemorySource(bytes));
  if (format === 'pytorch-zip' || format === 'pytorch-legacy' || format === 'mxnet-ndarray-list' || format === 'hdf5' || format === 'keras-zip') {
    const ckpt = await loadCheckpointBytes(bytes, name, { kernels: (options.kernels ?? []).map(parseKernelOverride) });
    const { model } = checkpointToOnnx(ckpt, {
      ...(options.arch ? { arch: options.arch } : {}),
      ...(options.inputSize ? { inputSize: options.inputSize } : options.inputShape ? { inputShapeHint: options.inputShape } : { dynamicSize: true }),
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

/**
 * Loads a model for inference: an .onnx file (or its bytes), or a DO-Conv checkpoint, which is
 * fused and converted to ONNX in memory first. `device: 'gpu'` takes the first GPU execution
 * provider that starts (CUDA, then WebGPU) and says what was tried when none does.
 */
export async function loadModel(source: string | Uint8Array, options: LoadModelOptions = {}): Promise<Model> {
  if (typeof source === 'string' && !existsSync(source) && /^[a-z0-9_]+$/.test(source)) {
    // A zoo name: pulled (or found in the cache), converted for the backend, then loaded.
    const pulled = await pull(source, { ...(options.registry ? { registry: options.registry } : {}), to: options.backend === 'tfjs' ? 'tfjs' : 'onnx' });
    return loadModel(pulled.converted ?? pulled.path, options);
  }
  if (options.backend === 'tfjs') {
    if (typeof source !== 'string') throw new DoconvError('BAD_ARGUMENT', "backend 'tfjs' loads a model folder (convert with --to tfjs first)");
    return loadTfjsModel(source, options.tfjsBackend);
  }
  if ((options.backend ?? 'onnx') !== 'onnx') throw new DoconvError('BAD_ARGUMENT', `backend '${String(options.backend)}' is not available; use 'onnx' or 'tfjs'`);
  const { bytes, name } = await onnxBytes(source, options);
  const info = (() => {
    try {
      return readOnnxInfo(bytes);
    } catch (err) {
      throw err instanceof DoconvError ? err.inFile(name) : err;
    }
  })();
  const rt = await ort();
  const device = options.device ?? 'cpu';
  const tried: string[] = [];
  // Absent GPU providers fail loudly in onnxruntime's own log; the reasons are collected in `tried`.
  if (device === 'gpu') rt.env.logLevel = 'fatal';
  let session: import('onnxruntime-node').InferenceSession | undefined;
  let provider = '';
  for (const ep of providersFor(device)) {
    try {
      session = await rt.InferenceSession.create(bytes, {
        executionProviders: [ep],
        graphOptimizationLevel: 'all',
        // Probing GPU providers that are absent logs errors we already collect into `tried`.
        ...(device === 'gpu' ? { logSeverityLevel: 4 as const } : {}),
        ...(options.threads ? { intraOpNumThreads: options.threads, interOpNumThreads: 1 } : {}),
      });
      provider = ep;
      break;
    } catch (err) {
      tried.push(`${ep}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (session === undefined) {
    if (device === 'gpu') throw new DoconvError('BAD_ARGUMENT', `${GPU_HELP} (tried ${tried.join('; ')})`, { file: name });
    throw new DoconvError('CORRUPT', `onnxruntime cannot load the model: ${tried.join('; ')}`, { file: name });
  }
  return new OnnxModel(rt, session, provider, info.inputs[0]!.dims, info.outputs[0]?.dims ?? [], info.metadata, info.inputs[0]!.elemType === ONNX_FLOAT16);
}

class OnnxModel implements Model {
  readonly backend = 'onnx' as const;
  readonly preprocessing: Preprocessing | undefined;
  readonly architecture: string | undefined;

  constructor(
    private readonly rt: Ort,
    private readonly session: import('onnxruntime-node').InferenceSession,
    readonly executionProvider: string,
    readonly inputShape: (number | string)[],
    readonly outputShape: (number | string)[],
    readonly metadata: Record<string, string>,
    private readonly halfIo: boolean,
  ) {
    this.preprocessing = parsePreprocessing(metadata);
    this.architecture = metadata.architecture;
  }

  private shapeFor(input: PredictInput): number[] {
    if (!(input instanceof Float32Array)) return [...input.shape];
    const [, c, h, w] = this.inputShape;
    const size = this.preprocessing?.inputSize;
    const dims = [c, typeof h === 'number' ? h : size?.[0], typeof w === 'number' ? w : size?.[1]];
    if (dims.some((d) => typeof d !== 'number')) throw new DoconvError('BAD_ARGUMENT', 'the model has a symbolic input size; pass {data, shape}');
    const per = (dims as number[]).reduce((a, b) => a * b, 1);
    if (input.length % per !== 0) throw new DoconvError('BAD_ARGUMENT', `input of ${input.length} values is not a whole number of ${dims.join('x')} images`);
    return [input.length / per, ...(dims as number[])];
  }

  async predict(input: PredictInput): Promise<Prediction> {
    const data = input instanceof Float32Array ? input : input.data;
    const shape = this.shapeFor(input);
    const expected = shape.reduce((a, b) => a * b, 1);
    if (data.length !== expected) throw new DoconvError('BAD_ARGUMENT', `input has ${data.length} values but shape [${shape.join(', ')}] needs ${expected}`);
    if (shape.length !== this.inputShape.length) throw new DoconvError('BAD_ARGUMENT', `the model takes ${this.inputShape.length}-D input [${this.inputShape.join(', ')}], got [${shape.join(', ')}]`);
    const inputName = this.session.inputNames[0]!;
    const outputName = this.session.outputNames[0]!;
    // Models written with --fp16-io take and give float16; callers always deal in float32.
    const feed = this.halfIo ? new this.rt.Tensor('float16', float32ToHalf(data), shape) : new this.rt.Tensor('float32', data, shape);
    const result = await this.session.run({ [inputName]: feed });
    const out = result[outputName]!;
    const values = out.type === 'float16' ? halfToFloat32(out.data as Uint16Array) : (out.data as Float32Array);
    return { data: values, shape: [...out.dims] };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
