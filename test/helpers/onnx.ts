import { readFileSync } from 'node:fs';
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

/** NodeProto op_type (field 4) of every node of the model's graph (field 7), in order. */
export function opTypes(onnxPath: string): string[] {
  const model = new Uint8Array(readFileSync(onnxPath));
  const ops: string[] = [];
  const fields = function* (b: Uint8Array): Generator<[number, number, Uint8Array | number]> {
    let p = 0;
    const varint = () => {
      let r = 0;
      let s = 0;
      for (;;) {
        const x = b[p++]!;
        r += (x & 0x7f) * 2 ** s;
        if (!(x & 0x80)) return r;
        s += 7;
      }
    };
    while (p < b.length) {
      const k = varint();
      const f = Math.floor(k / 8);
      const w = k & 7;
      if (w === 0) yield [f, w, varint()];
      else if (w === 2) {
        const n = varint();
        yield [f, w, b.subarray(p, p + n)];
        p += n;
      } else if (w === 5) p += 4;
      else if (w === 1) p += 8;
    }
  };
  for (const [f, , v] of fields(model)) {
    if (f !== 7 || typeof v === 'number') continue;
    for (const [gf, , gv] of fields(v)) {
      if (gf !== 1 || typeof gv === 'number') continue;
      for (const [nf, , nv] of fields(gv)) if (nf === 4 && typeof nv !== 'number') ops.push(Buffer.from(nv).toString());
    }
  }
  return ops;
}
