import { readFileSync } from 'node:fs';
import { writeAll, writeFileAtomic } from '../emit/atomic.js';
import { DoconvError } from '../errors.js';
import { encodeNpy, readNpy } from '../formats/npy.js';
import { Tensor, toFloat32 } from '../tensor/tensor.js';
import { loadModel } from './load-model.js';
import { nchwToNhwc, nhwcToNchw } from '../tensor/layout.js';
import type { LoadModelOptions } from './types.js';

export interface PredictSummary {
  model: string;
  input: string;
  output: string;
  inputShape: number[];
  outputShape: number[];
  executionProvider: string;
  architecture: string | null;
  seconds: number;
}

/** `predict`: NCHW float32 .npy in (any float dtype is widened), model output as float32 .npy. */
export async function predictFile(modelPath: string, inputPath: string, outputPath: string, options: LoadModelOptions = {}): Promise<PredictSummary> {
  let x: Tensor;
  try {
    x = readNpy(new Uint8Array(readFileSync(inputPath)));
  } catch (err) {
    if (err instanceof DoconvError) throw err.inFile(inputPath);
    throw new DoconvError('FILE_NOT_FOUND', (err as Error).message, { file: inputPath });
  }
  if (x.shape.length !== 4) throw new DoconvError('BAD_ARGUMENT', `input must be 4-D (NCHW, or NHWC for Keras models), got shape [${x.shape.join(', ')}]`, { file: inputPath });
  // A checkpoint is converted for exactly this input's size: onnxruntime is faster with fixed shapes.
  const model = await loadModel(modelPath, { inputShape: x.shape, ...options });
  try {
    const t0 = performance.now();
    // TensorFlow.js models take NHWC; an NCHW batch (channels where the model expects them second) is turned.
    const c = model.inputShape[3];
    const turn = model.backend === 'tfjs' && typeof c === 'number' && x.shape[1] === c && x.shape[3] !== c;
    let y = turn ? await model.predict(nchwToNhwc(toFloat32(x), x.shape)) : await model.predict({ data: toFloat32(x), shape: x.shape });
    if (turn && y.shape.length === 4) y = nhwcToNchw(y.data, y.shape);
    const seconds = (performance.now() - t0) / 1000;
    const out = Tensor.fromFloat32(y.data, y.shape);
    writeFileAtomic(outputPath, (fd) => {
      for (const part of encodeNpy(out)) writeAll(fd, part);
    });
    return { model: modelPath, input: inputPath, output: outputPath, inputShape: [...x.shape], outputShape: y.shape, executionProvider: model.executionProvider, architecture: model.architecture ?? null, seconds };
  } finally {
    await model.dispose();
  }
}

