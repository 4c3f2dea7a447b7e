import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFolderAtomic } from './atomic-folder.js';
import { DoconvError } from '../errors.js';
import { inferShapes, type Graph, type GraphNode } from '../graph/ir.js';
import { Tensor, toFloat32 } from '../tensor/tensor.js';
import { oihwToHwio, transpose2d } from '../tensor/layout.js';
import { float32ToHalf } from '../tensor/half.js';
import { VERSION } from '../version.js';

// A TensorFlow.js graph model (tfjs-converter's "graph-model" format): model.json holds a GraphDef
// in protobuf-JSON form (string attributes base64, int64 lists as strings) and a weightsManifest;
// weights are little-endian and cut into 4 MB shards. Everything computes in NHWC, as TF does.

/**
 * 'float16' and 'uint8' are tensorflowjs_converter's (uint8: affine, one min/scale per tensor).
 * 'uint8-channel' keeps one min/scale per output channel: each filter is stored as uint8 codes and
 * dequantized in the graph (Mul by the channel scales, Add the channel offsets), which any tfjs runs.
 */
export type Quantization = 'none' | 'float16' | 'uint8' | 'uint8-channel';

export interface TfjsOptions {
  quantize?: Quantization;
  /** Grouped convolutions (tfjs has none): 'split' into one conv per group (default), or one 'dense' conv with a block-diagonal filter. */
  groupedConv?: 'split' | 'dense';
  metadata?: Record<string, unknown>;
  shardBytes?: number;
}

interface Weight {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
  /** uint8 codes stored exactly (min 0, scale 1): a per-channel quantized filter's integer part. */
  codes?: boolean;
}

type Attr = Record<string, unknown>;
interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, Attr>;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const ints = (xs: readonly number[]) => ({ list: { i: xs.map(String) } });
const FLOAT = { type: 'DT_FLOAT' };
const dims = (shape: readonly number[]) => ({ dim: shape.map((d) => ({ size: String(d) })) });

/** (C_out, C_in/g, H, W) -> (H, W, C_in/g, C_out), TensorFlow's filter layout. */
function hwio(w: Float32Array, o: number, i: number, h: number, k: number): Float32Array {
  return toFloat32(oihwToHwio(Tensor.fromFloat32(w, [o, i, h, k])));
}

class GraphDefBuilder {
  readonly nodes: TfNode[] = [];
  readonly weights: Weight[] = [];
  private readonly names = new Set<string>();

  constructor(private readonly perChannel = false) {}

  /**
   * A filter or dense kernel whose last axis is the output channel. With per-channel quantization it
   * becomes uint8 codes q and the graph computes q * scale[c] + min[c].
   */
  filter(base: string, shape: number[], data: Float32Array): string {
    if (!this.perChannel) return this.const(base, shape, data);
    const channels = shape[shape.length - 1]!;
    const min = new Float32Array(channels).fill(Infinity);
    const max = new Float32Array(channels).fill(-Infinity);
    for (let i = 0; i < data.length; i++) {
      const c = i % channels;
      if (data[i]! < min[c]!) min[c] = data[i]!;
      if (data[i]! > max[c]!) max[c] = data[i]!;
    }
    const scale = new Float32Array(channels);
    for (let c = 0; c < channels; c++) scale[c] = max[c]! > min[c]! ? (max[c]! - min[c]!) / 255 : 1;
    const q = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) q[i] = Math.round((data[i]! - min[i % channels]!) / scale[i % channels]!);
    const codes = this.const(`${base}/codes`, shape, q);
    this.weights[this.weights.length - 1]!.codes = true;
    const mul = this.op(`${base}/scaled`, 'Mul', [codes, this.const(`${base}/scale`, [channels], scale)], { T: FLOAT });
    return this.op(base, 'AddV2', [mul, this.const(`${base}/min`, [channels], min)], { T: FLOAT });
  }

  name(base: string): string {
    let n = base.replace(/[^A-Za-z0-9_./-]/g, '_');
    for (let i = 1; this.names.has(n); i++) n = `${base}_${i}`;
    this.names.add(n);
    return n;
  }

  const(base: string, shape: number[], data: Float32Array | Int32Array): string {
    const name = this.name(base);
    const dtype = data instanceof Int32Array ? 'int32' : 'float32';
    const tfType = dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT';
    this.nodes.push({ name, op: 'Const', attr: { value: { tensor: { dtype: tfType, tensorShape: dims(shape) } }, dtype: { type: tfType } } });
    this.weights.push({ name, shape, dtype, data });
    return name;
  }

  op(base: string, op: string, input: string[], attr: Record<string, Attr> = {}): string {
    const name = this.name(base);
    this.nodes.push({ name, op, input, attr });
    return name;
  }
}

/** The graph as a tfjs GraphDef (NHWC) with its weights; `relu` after a conv is fused into it. */
export function buildTfjsGraph(graph: Graph, groupedConv: 'split' | 'dense' = 'split', perChannel = false): { nodes: TfNode[]; weights: Weight[]; input: string; output: string; inputShape: number[]; outputShape: number[] } {
  const shapes = inferShapes(graph);
  const b = new GraphDefBuilder(perChannel);
  const [c, h, w] = graph.inputShape;
  const input = b.op('input', 'Placeholder', [], { dtype: FLOAT, shape: { shape: dims([-1, h, w, c]) } });
  b.nodes[0]!.input = undefined;
  const value = new Map<string, string>([[graph.input, input]]);
  const consumers = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const fusedRelu = new Set<GraphNode>();
  const byInput = new Map<string, GraphNode>();
  for (const n of graph.nodes) if (n.op.kind === 'Relu') byInput.set(n.inputs[0]!, n);

  for (const n of graph.nodes) {
    if (fusedRelu.has(n)) continue;
    const x = value.get(n.inputs[0]!)!;
    const op = n.op;
    const base = n.name.replace(/\./g, '/');
    switch (op.kind) {
      case 'Conv': {
        const [cOut, ipg, kh, kw] = op.weight.shape as [number, number, number, number];
        const relu = byInput.get(n.output);
        const fuseRelu = relu !== undefined && consumers.get(n.output) === 1;
        if (fuseRelu) fusedRelu.add(relu!);
        const bias = op.bias ? toFloat32(op.bias) : new Float32Array(cOut);
        const [t, l, bt, r] = op.pads;
        const padAttr: Record<string, Attr> =
          t === 0 && l === 0 && bt === 0 && r === 0 ? { padding: { s: b64('VALID') } } : { padding: { s: b64('EXPLICIT') }, explicit_paddings: ints([0, 0, t, bt, l, r, 0, 0]) };
        const common = {
          T: FLOAT,
          strides: ints([1, op.stride[0], op.stride[1], 1]),
          dilations: ints([1, op.dilation[0], op.dilation[1], 1]),
          data_format: { s: b64('NHWC') },
          fused_ops: { list: { s: (fuseRelu ? ['BiasAdd', 'Relu'] : ['BiasAdd']).map(b64) } },
          num_args: { i: '1' },
          epsilon: { f: 0 },
          ...padAttr,
        };
        const wv = toFloat32(op.weight);
        const cIn = ipg * op.groups;
        let out: string;
        if (op.groups === 1) {
          const filter = b.filter(`${base}/filter`, [kh, kw, ipg, cOut], hwio(wv, cOut, ipg, kh, kw));
          const bi = b.const(`${base}/bias`, [cOut], bias);
          out = b.op(base, '_FusedConv2D', [x, filter, bi], common);
        } else if (ipg === 1) {
          // Depthwise: channel multiplier m = C_out / C_in, filter (H, W, C_in, m) with out channel c*m + j.
          const m = cOut / cIn;
          const f = new Float32Array(wv.length);
          for (let ch = 0; ch < cIn; ch++) for (let j = 0; j < m; j++) for (let y = 0; y < kh; y++) for (let z = 0; z < kw; z++) f[((y * kw + z) * cIn + ch) * m + j] = wv[((ch * m + j) * kh + y) * kw + z]!;
          const filter = b.filter(`${base}/filter`, [kh, kw, cIn, m], f);
          const bi = b.const(`${base}/bias`, [cOut], bias);
          out = b.op(base, 'FusedDepthwiseConv2dNative', [x, filter, bi], common);
        } else if (groupedConv === 'dense') {
          // One ordinary conv whose filter is zero outside each group's block: g times the arithmetic.
          const g = op.groups;
          const opg = cOut / g;
          const full = new Float32Array(cOut * cIn * kh * kw);
          for (let o = 0; o < cOut; o++) {
            const k = Math.floor(o / opg);
            for (let ci = 0; ci < ipg; ci++) for (let y = 0; y < kh * kw; y++) full[(o * cIn + k * ipg + ci) * kh * kw + y] = wv[(o * ipg + ci) * kh * kw + y]!;
          }
          const filter = b.filter(`${base}/filter`, [kh, kw, cIn, cOut], hwio(full, cOut, cIn, kh, kw));
          const bi = b.const(`${base}/bias`, [cOut], bias);
          out = b.op(base, '_FusedConv2D', [x, filter, bi], common);
        } else {
          // tfjs has no grouped conv: split the channels, one conv per group, concatenate.
          const g = op.groups;
          const opg = cOut / g;
          const axis = b.const(`${base}/split_axis`, [], Int32Array.of(3));
          const split = b.op(`${base}/split`, 'Split', [axis, x], { num_split: { i: String(g) }, T: FLOAT });
          const parts: string[] = [];
          for (let k = 0; k < g; k++) {
            const part = wv.subarray(k * opg * ipg * kh * kw, (k + 1) * opg * ipg * kh * kw);
            const filter = b.filter(`${base}/g${k}/filter`, [kh, kw, ipg, opg], hwio(part, opg, ipg, kh, kw));
            const bi = b.const(`${base}/g${k}/bias`, [opg], bias.subarray(k * opg, (k + 1) * opg));
            parts.push(b.op(`${base}/g${k}`, '_FusedConv2D', [k === 0 ? split : `${split}:${k}`, filter, bi], common));
          }
          const cat = b.const(`${base}/concat_axis`, [], Int32Array.of(3));
          out = b.op(base, 'ConcatV2', [...parts, cat], { N: { i: String(g) }, T: FLOAT, Tidx: { type: 'DT_INT32' } });
        }
        value.set(n.output, out);
        if (fuseRelu) value.set(relu!.output, out);
        break;
      }
      case 'BatchNorm': {
        const mean = toFloat32(op.mean);
        const v = toFloat32(op.variance);
        const gamma = op.scale ? toFloat32(op.scale) : undefined;
        const beta = op.shift ? toFloat32(op.shift) : undefined;
        const scale = new Float32Array(mean.length);
        const shift = new Float32Array(mean.length);
        for (let i = 0; i < mean.length; i++) {
          scale[i] = (gamma ? gamma[i]! : 1) / Math.sqrt(v[i]! + op.epsilon);
          shift[i] = (beta ? beta[i]! : 0) - mean[i]! * scale[i]!;
        }
        const mul = b.op(`${base}/mul`, 'Mul', [x, b.const(`${base}/scale`, [mean.length], scale)], { T: FLOAT });
        value.set(n.output, b.op(base, 'AddV2', [mul, b.const(`${base}/shift`, [mean.length], shift)], { T: FLOAT }));
        break;
      }
      case 'Relu':
        value.set(n.output, b.op(base, 'Relu', [x], { T: FLOAT }));
        break;
      case 'Pad': {
        const [t, l, bt, r] = op.pads;
        const p = b.const(`${base}/paddings`, [4, 2], Int32Array.of(0, 0, t, bt, l, r, 0, 0));
        value.set(n.output, b.op(base, 'Pad', [x, p], { T: FLOAT, Tpaddings: { type: 'DT_INT32' } }));
        break;
      }
      case 'MaxPool': {
        let y = x;
        const pad = (vals: readonly number[], fill: number, tag: string) => {
          const [t, l, bt, r] = vals;
          if (t === 0 && l === 0 && bt === 0 && r === 0) return;
          const p = b.const(`${base}/${tag}/paddings`, [4, 2], Int32Array.of(0, 0, t!, bt!, l!, r!, 0, 0));
          const cv = b.const(`${base}/${tag}/value`, [], Float32Array.of(fill));
          y = b.op(`${base}/${tag}`, 'PadV2', [y, p, cv], { T: FLOAT, Tpaddings: { type: 'DT_INT32' } });
        };
        pad(op.zeroPad ?? [0, 0, 0, 0], 0, 'zero_pad');
        // ONNX/torch pool padding never wins the max: pad with -inf, then pool without padding.
        pad(op.pads, -Infinity, 'pad');
        value.set(
          n.output,
          b.op(base, 'MaxPool', [y], { T: FLOAT, ksize: ints([1, op.kernel[0], op.kernel[1], 1]), strides: ints([1, op.stride[0], op.stride[1], 1]), padding: { s: b64('VALID') }, data_format: { s: b64('NHWC') } }),
        );
        break;
      }
      case 'GlobalAvgPool': {
        const axes = b.const(`${base}/axes`, [2], Int32Array.of(1, 2));
        value.set(n.output, b.op(base, 'Mean', [x, axes], { T: FLOAT, Tidx: { type: 'DT_INT32' }, keep_dims: { b: false } }));
        break;
      }
      case 'Flatten': {
        const s = shapes.get(n.inputs[0]!)!;
        const producer = graph.nodes.find((m) => m.output === n.inputs[0]);
        if (producer?.op.kind !== 'GlobalAvgPool' && s.length !== 2) throw new DoconvError('BAD_ARGUMENT', `${n.name}: Flatten of a [${s.join(', ')}] map in NHWC would reorder features; not supported`);
        value.set(n.output, x); // Mean over H and W already gave [N, C]
        break;
      }
      case 'Add':
        value.set(n.output, b.op(base, 'AddV2', [x, value.get(n.inputs[1]!)!], { T: FLOAT }));
        break;
      case 'Dense': {
        const [outF, inF] = op.weight.shape as [number, number];
        const wt = toFloat32(transpose2d(op.weight));
        const mm = b.op(`${base}/matmul`, 'MatMul', [x, b.filter(`${base}/kernel`, [inF, outF], wt)], { T: FLOAT, transpose_a: { b: false }, transpose_b: { b: false } });
        const bias = op.bias ? toFloat32(op.bias) : new Float32Array(outF);
        value.set(n.output, b.op(base, 'BiasAdd', [mm, b.const(`${base}/bias`, [outF], bias)], { T: FLOAT, data_format: { s: b64('NHWC') } }));
        break;
      }
    }
  }
  const outShape = shapes.get(graph.output)!;
  const outputShape = outShape.length === 4 ? [outShape[0]!, outShape[2]!, outShape[3]!, outShape[1]!] : outShape;
  return { nodes: b.nodes, weights: b.weights, input, output: value.get(graph.output)!, inputShape: [-1, h, w, c], outputShape };
}

/** tfjs-converter's affine uint8 quantization of one tensor: q = round((x - min) / scale). */
function quantizeUint8(data: Float32Array): { bytes: Uint8Array; min: number; scale: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of data) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  if (!Number.isFinite(min)) min = max = 0;
  const scale = max > min ? (max - min) / 255 : 1;
  const bytes = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) bytes[i] = Math.round((data[i]! - min) / scale);
  return { bytes, min, scale };
}

/** Writes model.json and its weight shards into `dir` (through a temporary folder renamed when complete). */
export function writeTfjsModel(dir: string, graph: Graph, options: TfjsOptions = {}): { files: string[]; bytes: number } {
  const quantize = options.quantize ?? 'none';
  const built = buildTfjsGraph(graph, options.groupedConv ?? 'split', quantize === 'uint8-channel');
  const shardBytes = options.shardBytes ?? 4 * 1024 * 1024;
  const specs: Record<string, unknown>[] = [];
  const chunks: Uint8Array[] = [];
  for (const w of built.weights) {
    const spec: Record<string, unknown> = { name: w.name, shape: w.shape, dtype: w.dtype };
    if (w.codes) {
      // integers 0..255: uint8 with min 0 and scale 1 is exact
      chunks.push(Uint8Array.from(w.data as Float32Array));
      spec.quantization = { dtype: 'uint8', min: 0, scale: 1 };
    } else if (w.dtype === 'int32' || quantize === 'none' || quantize === 'uint8-channel' || w.data.length === 0) {
      chunks.push(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
    } else if (quantize === 'float16') {
      const h = float32ToHalf(w.data as Float32Array);
      chunks.push(new Uint8Array(h.buffer, h.byteOffset, h.byteLength));
      spec.quantization = { dtype: 'float16' };
    } else {
      // -inf/+inf constants (pool padding) cannot be quantized affinely: they stay float32.
      if ((w.data as Float32Array).some((v) => !Number.isFinite(v))) chunks.push(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength));
      else {
        const q = quantizeUint8(w.data as Float32Array);
        chunks.push(q.bytes);
        spec.quantization = { dtype: 'uint8', min: q.min, scale: q.scale };
      }
    }
    specs.push(spec);
  }
  const all = Buffer.concat(chunks);
  const nShards = Math.max(1, Math.ceil(all.byteLength / shardBytes));
  const paths = Array.from({ length: nShards }, (_, i) => `group1-shard${i + 1}of${nShards}.bin`);
  const sig = (name: string, shape: number[]) => ({ name: `${name}:0`, dtype: 'DT_FLOAT', tensorShape: dims(shape) });
  const modelJson = {
    format: 'graph-model',
    generatedBy: `doconv-zoo ${VERSION}`,
    convertedBy: `doconv-zoo ${VERSION}`,
    modelTopology: { node: built.nodes, library: {}, versions: { producer: 1987 } },
    weightsManifest: [{ paths, weights: specs }],
    signature: { inputs: { input: sig(built.input, built.inputShape) }, outputs: { [built.outputShape.length === 4 ? 'output' : 'logits']: sig(built.output, built.outputShape) } },
    userDefinedMetadata: { layout: 'NHWC', ...(options.metadata ?? {}) },
  };
  writeFolderAtomic(dir, (tmp) => {
    writeFileSync(join(tmp, 'model.json'), JSON.stringify(modelJson));
    paths.forEach((p, i) => writeFileSync(join(tmp, p), all.subarray(i * shardBytes, Math.min(all.byteLength, (i + 1) * shardBytes))));
  });
  return { files: ['model.json', ...paths], bytes: all.byteLength };
}

