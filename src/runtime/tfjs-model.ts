import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DoconvError } from '../errors.js';
import type { Preprocessing } from '../arch/spec.js';
import type { Model, PredictInput, Prediction } from './types.js';

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

/** @tensorflow/tfjs with the first backend that starts (the selection is tfjsBackendOrder). */
async function tfjs(prefer?: TfjsBackend): Promise<{ tf: Tf; backend: string; tried: string[] }> {
  tfModule ??= import('@tensorflow/tfjs').then((tf) => {
    tf.enableProdMode(); // no debug checks, and no "install tfjs-node" banner on stdout
    return tf;
  });
  const tf = await tfModule;
  const tfjsNode = (await importOptional('@tensorflow/tfjs-node-gpu')) || (await importOptional('@tensorflow/tfjs-node'));
  await importOptional('@tensorflow/tfjs-backend-wasm');
  const tried: string[] = [];
  for (const b of tfjsBackendOrder({ tfjsNode }, prefer)) {
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
  throw new DoconvError('BAD_ARGUMENT', `no TensorFlow.js backend could start (tried ${tried.join('; ')})`);
}

/** A tf.io.IOHandler over a model folder on disk (plain @tensorflow/tfjs has no file loader in Node). */
function folderHandler(dir: string) {
  return {
    load: async () => {
      const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as {
        modelTopology: unknown;
        weightsManifest: { paths: string[]; weights: unknown[] }[];
        format?: string;
        generatedBy?: string;
        convertedBy?: string;
        signature?: unknown;
        userDefinedMetadata?: Record<string, unknown>;
      };
      const parts = json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p))));
      const data = Buffer.concat(parts);
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
export async function loadTfjsModel(dir: string, prefer?: TfjsBackend): Promise<Model> {
  if (!existsSync(join(dir, 'model.json')) || !statSync(dir).isDirectory()) throw new DoconvError('FILE_NOT_FOUND', 'not a TensorFlow.js model folder (no model.json)', { file: dir });
  const { tf, backend } = await tfjs(prefer);
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { signature?: { inputs?: Record<string, { tensorShape?: { dim?: { size: string }[] } }> }; userDefinedMetadata?: Record<string, unknown> };
  const model = await tf.loadGraphModel(folderHandler(dir) as never);
  const sigIn = Object.values(json.signature?.inputs ?? {})[0];
  const inputShape = (sigIn?.tensorShape?.dim ?? []).map((d) => (Number(d.size) < 0 ? 'batch' : Number(d.size)));
  const meta = json.userDefinedMetadata ?? {};
  const preprocessing = meta.preprocessing as Preprocessing | undefined;
  return {
    backend: 'tfjs',
    executionProvider: `tfjs-${backend}`,
    inputShape,
    outputShape: [],
    preprocessing,
    architecture: typeof meta.architecture === 'string' ? meta.architecture : undefined,
    metadata: Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])),
    async predict(input: PredictInput): Promise<Prediction> {
      const data = input instanceof Float32Array ? input : input.data;
      const dims = input instanceof Float32Array ? [data.length / inputShape.slice(1).reduce<number>((a, b) => a * Number(b), 1), ...inputShape.slice(1).map(Number)] : [...input.shape];
      const x = tf.tensor(data, dims, 'float32');
      try {
        const y = model.predict(x) as import('@tensorflow/tfjs').Tensor;
        const values = (await y.data()) as Float32Array;
        const shape = [...y.shape];
        y.dispose();
        return { data: values, shape };
      } finally {
        x.dispose();
      }
    },
    async dispose() {
      model.dispose();
    },
  };
}
