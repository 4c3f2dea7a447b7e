import { readFileSync } from 'node:fs';
import { readOnnxInfo } from '../../src/formats/onnx-info.js';
import { loadModel } from '../../src/runtime/load-model.js';
import { toFloat32 } from '../../src/tensor/tensor.js';
import { readNpyFile } from './npz.js';

export function argmaxRows(data: Float32Array, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < data.length / cols; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (data[r * cols + c]! > data[r * cols + best]!) best = c;
    out.push(best);
  }
  return out;
}

/** Runs a model (path or ONNX bytes) on an .npy input; returns outputs and the reference's. */
export async function runOnNpy(model: string | Uint8Array, inputNpy: string, expectedNpy: string) {
  const x = readNpyFile(inputNpy);
  const m = await loadModel(model);
  try {
    const y = await m.predict({ data: toFloat32(x), shape: x.shape });
    const ref = toFloat32(readNpyFile(expectedNpy));
    const cols = y.shape[1]!;
    return { y: y.data, ref, shape: y.shape, top1: argmaxRows(y.data, cols), refTop1: argmaxRows(ref, cols), model: m };
  } finally {
    await m.dispose();
  }
}

/** op_type of every node of the model's graph, in order. */
export function opTypes(onnxPath: string): string[] {
  return readOnnxInfo(new Uint8Array(readFileSync(onnxPath))).ops;
}
