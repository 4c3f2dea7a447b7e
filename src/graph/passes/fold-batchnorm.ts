import type { Graph, GraphNode } from '../ir.js';
import { Tensor, toFloat32 } from '../../tensor/tensor.js';

/**
 * foldBatchNorm: a BatchNorm whose input is a Conv read by nothing else becomes part of that Conv:
 * W'[c] = W[c] * s_c and b'_c = (b_c - mean_c) * s_c + beta_c with s_c = gamma_c / sqrt(var_c + eps),
 * computed in float64 and stored as float32. Pre-activation BatchNorms (ResNet v2) have no such
 * Conv and stay. Returns a new graph; tensors of the input graph are not modified.
 */
export function foldBatchNorm(graph: Graph): Graph {
  const consumers = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const producer = new Map(graph.nodes.map((n) => [n.output, n]));
  const folded = new Map<GraphNode, GraphNode>();
  const removed = new Set<GraphNode>();
  for (const n of graph.nodes) {
    if (n.op.kind !== 'BatchNorm') continue;
    const p = producer.get(n.inputs[0]!);
    if (p === undefined || p.op.kind !== 'Conv' || consumers.get(p.output) !== 1 || p.output === graph.output) continue;
    const bn = n.op;
    const conv = p.op;
    const cOut = conv.weight.shape[0]!;
    const gamma = bn.scale ? toFloat32(bn.scale) : undefined;
    const beta = bn.shift ? toFloat32(bn.shift) : undefined;
    const mean = toFloat32(bn.mean);
    const variance = toFloat32(bn.variance);
    const bias = conv.bias ? toFloat32(conv.bias) : undefined;
    const w = toFloat32(conv.weight);
    const per = w.length / cOut;
    const newW = new Float32Array(w.length);
    const newB = new Float32Array(cOut);
    for (let c = 0; c < cOut; c++) {
      const s = (gamma ? gamma[c]! : 1) / Math.sqrt(variance[c]! + bn.epsilon);
      scaleInto(newW, w, c * per, (c + 1) * per, s);
      newB[c] = ((bias ? bias[c]! : 0) - mean[c]!) * s + (beta ? beta[c]! : 0);
    }
    // A lazily fused kernel can be recomputed; dropping its bytes keeps one copy of the weights alive.
    conv.weight.release();
    folded.set(p, {
      name: p.name,
      inputs: p.inputs,
      output: n.output,
      op: { ...conv, weight: Tensor.fromFloat32(newW, conv.weight.shape), bias: Tensor.fromFloat32(newB, [cOut]) },
    });
    removed.add(n);
  }
  return { ...graph, nodes: graph.nodes.filter((n) => !removed.has(n)).map((n) => folded.get(n) ?? n) };
}

function scaleInto(out: Float32Array, w: Float32Array, start: number, end: number, s: number): void {
  for (let i = start; i < end; i++) out[i] = w[i]! * s;
}
