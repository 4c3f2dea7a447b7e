import { MAX_INPUT_SIDE } from '../arch/network.js';
import { readRegularFile } from '../formats/regular-file.js';
import { writeAll, writeFileAtomic } from '../emit/atomic.js';
import { DoconvError } from '../errors.js';
import { encodeNpy, readFloatNpy } from '../formats/npy.js';
import { Tensor, toFloat32 } from '../tensor/tensor.js';
import { loadModel } from './load-model.js';
import { nchwToNhwc, nhwcToNchw } from '../tensor/layout.js';
import type { LoadModelOptions, Model } from './types.js';
import { checkInputShape } from './input-shape.js';

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

/** The input .npy is read whole; one Node read holds at most 2 GiB. */
export const MAX_INPUT_BYTES = 2 ** 31 - 1;

/**
 * What the input's header may claim before anything is built from it: 4-D, at least one image,
 * every dimension 1..MAX_INPUT_SIDE (the largest side a network is built for; channels too). A checkpoint is converted at the input's size, and the Keras
 * zero-padding mask is H x W floats: an empty batch claiming 80000 x 80000 must stop here.
 */
function checkInputBounds(shape: readonly number[], file: string): void {
  const shown = `[${shape.join(', ')}]`;
  if (shape.length !== 4) throw new DoconvError('BAD_ARGUMENT', `input must be 4-D (NCHW, or NHWC for Keras models), got shape ${shown}`, { file });
  if (shape[0] === 0) throw new DoconvError('BAD_ARGUMENT', `input of shape ${shown} holds no images`, { file });
  if (shape.slice(1).some((d) => d < 1 || d > MAX_INPUT_SIDE)) throw new DoconvError('LIMIT_EXCEEDED', `input of shape ${shown}: channels, height and width must be 1..${MAX_INPUT_SIDE}`, { file });
}

/**
 * The shape the model will be fed: the input as it is, or for a TensorFlow.js model (NHWC) an NCHW
 * batch turned, when its channels sit where the model's are not.
 */
function fedShape(shape: readonly number[], model: Model): { shape: number[]; turn: boolean } {
  const c = model.inputShape[3];
  const turn = model.backend === 'tfjs' && shape.length === 4 && typeof c === 'number' && shape[1] === c && shape[3] !== c;
  return { shape: turn ? [shape[0]!, shape[2]!, shape[3]!, shape[1]!] : [...shape], turn };
}

/** `predict`: NCHW float32 .npy in (any float dtype is widened), model output as float32 .npy. */
export async function predictFile(modelPath: string, inputPath: string, outputPath: string, options: LoadModelOptions = {}): Promise<PredictSummary> {
  let x: Tensor;
  try {
    x = readFloatNpy(readRegularFile(inputPath, MAX_INPUT_BYTES), inputPath);
  } catch (err) {
    if (err instanceof DoconvError) throw err.inFile(inputPath);
    throw new DoconvError('FILE_NOT_FOUND', (err as Error).message, { file: inputPath });
  }
  checkInputBounds(x.shape, inputPath);
  // A checkpoint is converted for exactly this input's size: onnxruntime is faster with fixed shapes.
  const model = await loadModel(modelPath, { inputShape: x.shape, ...options });
  try {
    // Checked before the batch is turned or handed to the engine: a size the model was not built for
    // is the user's to fix (BAD_ARGUMENT, exit 1), not an engine failure.
    const fed = fedShape(x.shape, model);
    checkInputShape(fed.shape, model.inputShape, model.layout, { file: inputPath, ...(fed.turn ? { asGiven: x.shape } : {}) });
    const t0 = performance.now();
    // TensorFlow.js models take NHWC; an NCHW batch (channels where the model expects them second) is turned.
    const turn = fed.turn;
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

