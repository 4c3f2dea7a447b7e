import { inferShapes, type Graph, type GraphNode } from '../graph/ir.js';
import { ProtoMessage } from '../formats/protobuf.js';
import { encodeFloat32, Tensor, toFloat32 } from '../tensor/tensor.js';
import { VERSION } from '../version.js';
import { writeAll, writeFileAtomic } from './atomic.js';

// onnx/onnx.proto field numbers (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
// ValueInfoProto, TypeProto). Opset 17 with ir_version 8, which Debian's onnx checker accepts.
const IR_VERSION = 8;
const OPSET = 17;
const FLOAT = 1;
const FLOAT16 = 10;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;
const ATTR_STRING = 3;
const INT64 = 7;

export interface OnnxOptions {
  /** Weights and compute in float16; input and output stay float32 unless `fp16Io`. */
  fp16?: boolean;
  fp16Io?: boolean;
  /** Declare the graph's spatial input size (default); false makes height and width symbolic. */
  fixedInputSize?: boolean;
  metadata?: Record<string, string>;
  graphName?: string;
}

type Attr = { name: string; int?: number; ints?: number[]; float?: number; str?: string };

function attribute(a: Attr): ProtoMessage {
  const m = new ProtoMessage().string(1, a.name);
  if (a.str !== undefined) m.bytes(4, Buffer.from(a.str)).int(20, ATTR_STRING);
  else if (a.float !== undefined) m.float(2, a.float).int(20, ATTR_FLOAT);
  else if (a.int !== undefined) m.int(3, a.int).int(20, ATTR_INT);
  else m.packedInts(8, a.ints!).int(20, ATTR_INTS);
  return m;
}

function node(opType: string, name: string, inputs: string[], outputs: string[], attrs: Attr[] = []): ProtoMessage {
  const m = new ProtoMessage();
  for (const i of inputs) m.string(1, i);
  for (const o of outputs) m.string(2, o);
  m.string(3, name).string(4, opType);
  for (const a of attrs) m.message(5, attribute(a));
  return m;
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): ProtoMessage {
  const shape = new ProtoMessage();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new ProtoMessage().int(1, d) : new ProtoMessage().string(2, d));
  const tensorType = new ProtoMessage().int(1, elemType).message(2, shape);
  return new ProtoMessage().string(1, name).message(2, new ProtoMessage().message(1, tensorType));
}

/**
 * Emits a Graph as an ONNX ModelProto: one Conv/BatchNormalization/Relu/MaxPool/GlobalAveragePool/
 * Add/Flatten/Gemm node per IR node, nothing else (no Identity, Einsum or shape arithmetic); input
 * `input` NCHW with a symbolic batch, output `logits`; weights little-endian raw_data initializers.
 */
export function buildOnnxModel(graph: Graph, options: OnnxOptions = {}): ProtoMessage {
  const fp16 = options.fp16 ?? false;
  const weightType = fp16 ? FLOAT16 : FLOAT;
  const ioType = fp16 && options.fp16Io ? FLOAT16 : FLOAT;
  const g = new ProtoMessage();
  const initializers: ProtoMessage[] = [];
  const addInit = (name: string, t: Tensor): string => {
    const values = fp16 || t.dtype !== 'float32' ? encodeFloat32(toFloat32(t), fp16 ? 'float16' : 'float32') : t.bytes();
    const m = new ProtoMessage();
    for (const d of t.shape) m.int(1, d);
    m.int(2, weightType).string(8, name).bytes(9, values);
    initializers.push(m);
    return name;
  };
  const addInt64 = (name: string, values: number[]): string => {
    const raw = new BigInt64Array(values.map(BigInt));
    initializers.push(new ProtoMessage().int(1, values.length).int(2, INT64).string(8, name).bytes(9, new Uint8Array(raw.buffer)));
    return name;
  };
  const ones = (n: number) => Tensor.fromFloat32(new Float32Array(n).fill(1), [n]);
  const zeros = (n: number) => Tensor.fromFloat32(new Float32Array(n), [n]);

  const castIn = fp16 && !options.fp16Io;
  const nhwc = graph.ioLayout === 'NHWC';
  const shapes = inferShapes(graph);
  const outRank = shapes.get(graph.output)!.length;
  const outputName = outRank === 4 ? 'output' : 'logits';
  const rename = new Map<string, string>();
  const valueName = (v: string) => rename.get(v) ?? v;
  let current = 'input';
  if (castIn) {
    g.message(1, node('Cast', 'input.cast', [current], ['input.fp16'], [{ name: 'to', int: FLOAT16 }]));
    current = 'input.fp16';
  }
  if (nhwc) {
    g.message(1, node('Transpose', 'input.to_nchw', [current], ['input.nchw'], [{ name: 'perm', ints: [0, 3, 1, 2] }]));
    current = 'input.nchw';
  }
  rename.set(graph.input, current);
  const backToNhwc = nhwc && outRank === 4;
  const finalName = castIn || backToNhwc ? `${outputName}.pre` : outputName;
  for (const n of graph.nodes) {
    const out = n.output === graph.output ? finalName : n.output;
    const ins = n.inputs.map(valueName);
    if (n.op.kind === 'MaxPool' && n.op.zeroPad !== undefined) {
      for (const m of zeroPaddedMaxPool(n, ins, out, shapes.get(n.inputs[0]!)!, options.fixedInputSize !== false, addInit, addInt64)) g.message(1, m);
      continue;
    }
    g.message(1, emitNode(n, ins, out, addInit, ones, zeros, addInt64));
  }
  let tail = finalName;
  if (backToNhwc) {
    const next = castIn ? `${outputName}.nhwc` : outputName;
    g.message(1, node('Transpose', 'output.to_nhwc', [tail], [next], [{ name: 'perm', ints: [0, 2, 3, 1] }]));
    tail = next;
  }
  if (castIn) g.message(1, node('Cast', `${outputName}.cast`, [tail], [outputName], [{ name: 'to', int: FLOAT }]));
  g.string(2, options.graphName ?? 'doconv_zoo');
  for (const init of initializers) g.message(5, init);
  const [c, h, w] = graph.inputShape;
  const spatial: (number | string)[] = options.fixedInputSize === false ? ['height', 'width'] : [h, w];
  g.message(11, valueInfo('input', ioType, nhwc ? ['batch', ...spatial, c] : ['batch', c, ...spatial]));
  const outShape = shapes.get(graph.output)!;
  const dims: (number | string)[] = outShape.map((d, i) => (i === 0 ? 'batch' : options.fixedInputSize === false && i >= 2 ? `out_${i}` : d));
  if (backToNhwc) dims.push(dims.splice(1, 1)[0]!);
  g.message(12, valueInfo(outputName, ioType, dims));

  const model = new ProtoMessage()
    .int(1, IR_VERSION)
    .string(2, 'doconv-zoo')
    .string(3, VERSION)
    .message(7, g)
    .message(8, new ProtoMessage().string(1, '').int(2, OPSET));
  for (const [k, v] of Object.entries(options.metadata ?? {})) model.message(14, new ProtoMessage().string(1, k).string(2, v));
  return model;
}

function emitNode(
  n: GraphNode,
  inputs: string[],
  output: string,
  addInit: (name: string, t: Tensor) => string,
  ones: (n: number) => Tensor,
  zeros: (n: number) => Tensor,
  addInt64: (name: string, values: number[]) => string,
): ProtoMessage {
  const op = n.op;
  switch (op.kind) {
    case 'Conv': {
      const ins = [...inputs, addInit(`${n.name}.weight`, op.weight)];
      if (op.bias) ins.push(addInit(`${n.name}.bias`, op.bias));
      const [, , kh, kw] = op.weight.shape as number[];
      const [t, l, b, r] = op.pads;
      return node('Conv', n.name, ins, [output], [
        { name: 'kernel_shape', ints: [kh!, kw!] },
        { name: 'strides', ints: op.stride },
        { name: 'pads', ints: [t, l, b, r] },
        { name: 'dilations', ints: op.dilation },
        { name: 'group', int: op.groups },
      ]);
    }
    case 'BatchNorm': {
      const c = op.mean.shape[0]!;
      const ins = [
        ...inputs,
        addInit(`${n.name}.scale`, op.scale ?? ones(c)),
        addInit(`${n.name}.shift`, op.shift ?? zeros(c)),
        addInit(`${n.name}.mean`, op.mean),
        addInit(`${n.name}.var`, op.variance),
      ];
      return node('BatchNormalization', n.name, ins, [output], [{ name: 'epsilon', float: op.epsilon }]);
    }
    case 'Relu':
      return node('Relu', n.name, inputs, [output]);
    case 'Pad': {
      const [t, l, b, r] = op.pads;
      const pads = addInt64(`${n.name}.pads`, [0, 0, t, l, 0, 0, b, r]);
      return node('Pad', n.name, [...inputs, pads], [output], [{ name: 'mode', str: 'constant' }]);
    }
    case 'MaxPool': {
      const [t, l, b, r] = op.pads;
      return node('MaxPool', n.name, inputs, [output], [
        { name: 'kernel_shape', ints: op.kernel },
        { name: 'strides', ints: op.stride },
        { name: 'pads', ints: [t, l, b, r] },
      ]);
    }
    case 'GlobalAvgPool':
      return node('GlobalAveragePool', n.name, inputs, [output]);
    case 'Add':
      return node('Add', n.name, inputs, [output]);
    case 'Flatten':
      return node('Flatten', n.name, inputs, [output], [{ name: 'axis', int: 1 }]);
    case 'Dense': {
      const ins = [...inputs, addInit(`${n.name}.weight`, op.weight)];
      if (op.bias) ins.push(addInit(`${n.name}.bias`, op.bias));
      return node('Gemm', n.name, ins, [output], [{ name: 'transB', int: 1 }]);
    }
  }
}

/**
 * Writes the model atomically. Large chunks (weights) go out as they are, never copied into one
 * buffer; the many small ones (tags, names, attributes) are gathered into 1 MiB writes.
 */
export function writeOnnx(path: string, model: ProtoMessage): number {
  writeFileAtomic(path, (fd) => {
    const pending = Buffer.allocUnsafe(1 << 20);
    let used = 0;
    const flush = () => {
      if (used > 0) writeAll(fd, pending.subarray(0, used));
      used = 0;
    };
    for (const c of model.chunks) {
      if (c.byteLength > 64 * 1024) {
        flush();
        writeAll(fd, c);
        continue;
      }
      if (used + c.byteLength > pending.byteLength) flush();
      pending.set(c, used);
      used += c.byteLength;
    }
    flush();
  });
  return model.length;
}

/**
 * Max-pooling over zero padding. A Pad(0) + MaxPool pair is what the op means, but onnxruntime's
 * level-1 PadFusion folds the Pad into MaxPool's pads, which act as -inf, and changes the result
 * wherever a border window holds only negative values (the same bug onnxsim/onnx-optimizer have).
 * With a fixed input size the exact equivalent is MaxPool with those pads, then Max with a constant
 * mask: 0 where the window reaches into the padding, -inf elsewhere. With symbolic sizes the mask
 * cannot be known, and the Pad + MaxPool pair is emitted.
 */
function zeroPaddedMaxPool(
  n: GraphNode,
  inputs: string[],
  output: string,
  inShape: number[],
  fixed: boolean,
  addInit: (name: string, t: Tensor) => string,
  addInt64: (name: string, values: number[]) => string,
): ProtoMessage[] {
  if (n.op.kind !== 'MaxPool' || n.op.zeroPad === undefined) throw new Error('not a zero-padded MaxPool');
  const op = n.op;
  const z = op.zeroPad!;
  const attrs: Attr[] = [
    { name: 'kernel_shape', ints: op.kernel },
    { name: 'strides', ints: op.stride },
  ];
  if (!fixed) {
    const padded = `${n.name}.padded`;
    const padsInit = addInt64(`${n.name}.zero_pad`, [0, 0, z[0], z[1], 0, 0, z[2], z[3]]);
    return [
      node('Pad', `${n.name}.zero_pad`, [...inputs, padsInit], [padded], [{ name: 'mode', str: 'constant' }]),
      node('MaxPool', n.name, [padded], [output], [...attrs, { name: 'pads', ints: op.pads }]),
    ];
  }
  const pads = [op.pads[0] + z[0], op.pads[1] + z[1], op.pads[2] + z[2], op.pads[3] + z[3]];
  const H = inShape[2]!;
  const W = inShape[3]!;
  const outH = Math.floor((H + pads[0]! + pads[2]! - op.kernel[0]) / op.stride[0]) + 1;
  const outW = Math.floor((W + pads[1]! + pads[3]! - op.kernel[1]) / op.stride[1]) + 1;
  // A window reaches the zero border when it starts before row 0 or ends after the last row.
  const touches = (i: number, size: number, k: number, s: number, before: number) => i * s - before < 0 || i * s - before + k - 1 > size - 1;
  const mask = new Float32Array(outH * outW).fill(-Infinity);
  for (let i = 0; i < outH; i++)
    for (let j = 0; j < outW; j++)
      if (touches(i, H, op.kernel[0], op.stride[0], pads[0]!) || touches(j, W, op.kernel[1], op.stride[1], pads[1]!)) mask[i * outW + j] = 0;
  const maskName = addInit(`${n.name}.zero_border`, Tensor.fromFloat32(mask, [1, 1, outH, outW]));
  return [
    node('MaxPool', n.name, inputs, [`${n.name}.pooled`], [...attrs, { name: 'pads', ints: pads }]),
    node('Max', `${n.name}.zero_border`, [`${n.name}.pooled`, maskName], [output]),
  ];
}
