import type { Graph, GraphNode } from '../graph/ir.js';
import type { ParamSource } from './naming.js';

/**
 * The DO-Conv authors' MNIST sample: a stack of 3x3 convolutions with stride 2 and padding 1, ReLU
 * between them, global average pooling over the last one's channels (the class scores). A state
 * dict holding only `conv1..convN` weights (and biases) is taken as this structure: strides and
 * padding are not in a state dict, so `inspect` reports the assumption.
 */
export function detectConvStack(source: ParamSource): { count: number; inChannels: number; classes: number } | undefined {
  const keys = source.keys();
  if (keys.length === 0 || !keys.every((k) => /^conv\d+\.(weight|bias)$/.test(k))) return undefined;
  const count = keys.filter((k) => k.endsWith('.weight')).length;
  for (let i = 1; i <= count; i++) {
    const w = source.get(`conv${i}.weight`);
    if (w === undefined || w.shape.length !== 4 || w.shape[2] !== 3 || w.shape[3] !== 3) return undefined;
    if (i > 1 && w.shape[1] !== source.get(`conv${i - 1}.weight`)!.shape[0]) return undefined;
  }
  return { count, inChannels: source.get('conv1.weight')!.shape[1]!, classes: source.get(`conv${count}.weight`)!.shape[0]! };
}

export function buildConvStack(source: ParamSource, count: number, inChannels: number, size: [number, number]): Graph {
  const nodes: GraphNode[] = [];
  let x = 'input';
  for (let i = 1; i <= count; i++) {
    const weight = source.get(`conv${i}.weight`)!;
    const bias = source.get(`conv${i}.bias`);
    nodes.push({ name: `conv${i}`, inputs: [x], output: `conv${i}`, op: { kind: 'Conv', weight, ...(bias ? { bias } : {}), stride: [2, 2], pads: [1, 1, 1, 1], dilation: [1, 1], groups: 1 } });
    x = `conv${i}`;
    if (i < count) {
      nodes.push({ name: `relu${i}`, inputs: [x], output: `relu${i}`, op: { kind: 'Relu' } });
      x = `relu${i}`;
    }
  }
  nodes.push({ name: 'pool', inputs: [x], output: 'pool', op: { kind: 'GlobalAvgPool' } });
  nodes.push({ name: 'flatten', inputs: ['pool'], output: 'flatten', op: { kind: 'Flatten' } });
  return { input: 'input', output: 'flatten', inputShape: [inChannels, size[0], size[1]], nodes };
}
