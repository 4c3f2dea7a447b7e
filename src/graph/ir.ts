import { DoconvError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';

/** Pads as [top, left, bottom, right] (asymmetric pads are what TensorFlow 'same' needs). */
export type Pads4 = [number, number, number, number];

export type Op =
  | { kind: 'Conv'; weight: Tensor; bias?: Tensor; stride: [number, number]; pads: Pads4; dilation: [number, number]; groups: number }
  | { kind: 'BatchNorm'; scale?: Tensor; shift?: Tensor; mean: Tensor; variance: Tensor; epsilon: number }
  | { kind: 'Relu' }
  /** Zero padding (Keras ZeroPadding2D), for where the next op must not pad with its own value. */
  | { kind: 'Pad'; pads: Pads4 }
  /** `zeroPad`: pad with zeros first (Keras ZeroPadding2D + MaxPooling2D), unlike `pads`, which never win the max. */
  | { kind: 'MaxPool'; kernel: [number, number]; stride: [number, number]; pads: Pads4; zeroPad?: Pads4 }
  | { kind: 'GlobalAvgPool' }
  | { kind: 'Add' }
  | { kind: 'Flatten' }
  | { kind: 'Dense'; weight: Tensor; bias?: Tensor };

/** One operation: named inputs and one named output; `name` is the structural name (stage1.block0.conv1). */
export interface GraphNode {
  name: string;
  op: Op;
  inputs: string[];
  output: string;
}

/** A feed-forward network on one NCHW float input producing one output; nodes in execution order. */
export interface Graph {
  input: string;
  output: string;
  /** [C, H, W] the network was built for; the batch dimension is dynamic. */
  inputShape: [number, number, number];
  nodes: GraphNode[];
  /**
   * The layout callers feed (default NCHW). The graph itself always computes in NCHW; for NHWC
   * (Keras' channels_last) the emitters add one transpose at the input, and one at a 4-D output.
   */
  ioLayout?: 'NCHW' | 'NHWC';
}

/** Shape inference for NCHW tensors, batch as -1. Throws naming the node whose shapes do not fit. */
export function inferShapes(graph: Graph): Map<string, number[]> {
  const shapes = new Map<string, number[]>([[graph.input, [-1, ...graph.inputShape]]]);
  for (const node of graph.nodes) {
    const ins = node.inputs.map((i) => {
      const s = shapes.get(i);
      if (s === undefined) throw new DoconvError('BAD_ARGUMENT', `node ${node.name} reads '${i}' before it is computed`);
      return s;
    });
    shapes.set(node.output, outputShape(node, ins));
  }
  return shapes;
}

function conv2dOut(size: number, k: number, stride: number, padBegin: number, padEnd: number, dilation: number): number {
  return Math.floor((size + padBegin + padEnd - dilation * (k - 1) - 1) / stride) + 1;
}

function mismatch(node: GraphNode, what: string): never {
  throw new DoconvError('DOCONV_SHAPE_MISMATCH', `${node.name}: ${what}`, { key: node.name });
}

function outputShape(node: GraphNode, ins: number[][]): number[] {
  const x = ins[0]!;
  const op = node.op;
  switch (op.kind) {
    case 'Conv': {
      const [cOut, cInPerGroup, kh, kw] = op.weight.shape as [number, number, number, number];
      if (x[1] !== cInPerGroup * op.groups) mismatch(node, `input has ${x[1]} channels, the kernel expects ${cInPerGroup * op.groups}`);
      if (op.bias !== undefined && op.bias.shape[0] !== cOut) mismatch(node, `bias has ${op.bias.shape[0]} values for ${cOut} channels`);
      const h = conv2dOut(x[2]!, kh, op.stride[0], op.pads[0], op.pads[2], op.dilation[0]);
      const w = conv2dOut(x[3]!, kw, op.stride[1], op.pads[1], op.pads[3], op.dilation[1]);
      if (h < 1 || w < 1) mismatch(node, `input ${x[2]}x${x[3]} is too small for this convolution`);
      return [x[0]!, cOut, h, w];
    }
    case 'BatchNorm':
      if (op.mean.shape[0] !== x[1]) mismatch(node, `BatchNorm over ${op.mean.shape[0]} channels applied to ${x[1]}`);
      return x;
    case 'Relu':
      return x;
    case 'Pad':
      return [x[0]!, x[1]!, x[2]! + op.pads[0] + op.pads[2], x[3]! + op.pads[1] + op.pads[3]];
    case 'MaxPool': {
      const z = op.zeroPad ?? [0, 0, 0, 0];
      const h = conv2dOut(x[2]!, op.kernel[0], op.stride[0], op.pads[0] + z[0], op.pads[2] + z[2], 1);
      const w = conv2dOut(x[3]!, op.kernel[1], op.stride[1], op.pads[1] + z[1], op.pads[3] + z[3], 1);
      return [x[0]!, x[1]!, h, w];
    }
    case 'GlobalAvgPool':
      return [x[0]!, x[1]!, 1, 1];
    case 'Add': {
      const y = ins[1]!;
      if (x.join() !== y.join()) mismatch(node, `adds [${x.join(', ')}] to [${y.join(', ')}]`);
      return x;
    }
    case 'Flatten':
      return [x[0]!, x.slice(1).reduce((a, b) => a * b, 1)];
    case 'Dense': {
      const [out, inF] = op.weight.shape as [number, number];
      if (x[1] !== inF) mismatch(node, `dense layer expects ${inF} features, gets ${x[1]}`);
      return [x[0]!, out];
    }
  }
}
