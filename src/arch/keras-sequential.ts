import { DoconvError } from '../errors.js';
import { inferShapes, type Graph, type GraphNode, type Op, type Pads4 } from '../graph/ir.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ParamSource } from './naming.js';

interface LayerConfig {
  class_name: string;
  config: Record<string, unknown> & { name: string };
}

export { kerasOwner } from '../readers/keras-weights.js';

/** The layer fields the graph builder reads as pairs of positive integers (an int means both). */
const PAIR_FIELDS = ['strides', 'dilation_rate', 'pool_size', 'kernel_size'] as const;
/** Largest input side, padding and pair value accepted from a config (a bound, not a Keras rule). */
const MAX_SIDE = 65536;

function isCount(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= MAX_SIDE;
}

/** A Keras (h, w) pair: an int or a list of two positive integers; undefined when absent. */
function pair(c: Record<string, unknown>, field: string, name: string): [number, number] | undefined {
  const v = c[field];
  if (v === undefined || v === null) return undefined;
  if (isCount(v, 1)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && isCount(v[0], 1) && isCount(v[1], 1)) return [v[0], v[1]];
  throw new DoconvError('CORRUPT', `layer '${name}': ${field} must be a positive integer or two, got ${JSON.stringify(v).slice(0, 60)}`, { key: name });
}

/** ZeroPadding2D's padding: int, [h, w], or [[top, bottom], [left, right]], each 0..65536. */
function zeroPadding(v: unknown, name: string): [[number, number], [number, number]] {
  const bad = (): never => {
    throw new DoconvError('CORRUPT', `layer '${name}': padding must be an integer, two, or two pairs of integers 0..${MAX_SIDE}, got ${JSON.stringify(v)?.slice(0, 60)}`, { key: name });
  };
  if (isCount(v, 0)) return [[v, v], [v, v]];
  if (!Array.isArray(v) || v.length !== 2) return bad();
  if (isCount(v[0], 0) && isCount(v[1], 0)) return [[v[0], v[0]], [v[1], v[1]]];
  const [rows, cols] = v as unknown[];
  if (Array.isArray(rows) && Array.isArray(cols) && rows.length === 2 && cols.length === 2 && [...rows, ...cols].every((x) => isCount(x, 0))) {
    return [rows as [number, number], cols as [number, number]];
  }
  return bad();
}

/**
 * Checks the shape of a Keras model config (Sequential, Functional, nested) before anything uses
 * it: every layer an object with a string class_name and a config object with a string name, and
 * the fields the graph builder reads well-typed (pairs of positive integers, positive groups, a
 * numeric epsilon, an input shape of positive sides, integer paddings). Unsupported but
 * well-formed layers pass (a checkpoint may be converted without building its graph).
 */
export function checkKerasModelConfig(config: unknown): void {
  const stack: { node: unknown; depth: number; where: string }[] = [{ node: config, depth: 0, where: 'model_config' }];
  while (stack.length > 0) {
    const { node, depth, where } = stack.pop()!;
    if (depth > 64) throw new DoconvError('LIMIT_EXCEEDED', 'the model config nests models more than 64 deep', { key: where });
    if (node === null || typeof node !== 'object' || Array.isArray(node)) {
      if (depth === 0) return; // not a model config at all: nothing here reads it
      throw new DoconvError('CORRUPT', `the model config's layer ${where} is ${JSON.stringify(node)?.slice(0, 40)}, not an object`, { key: where });
    }
    const n = node as { class_name?: unknown; config?: unknown };
    if (depth === 0 && n.class_name === undefined) return;
    if (typeof n.class_name !== 'string') throw new DoconvError('CORRUPT', `the model config's layer ${where} has no string class_name`, { key: where });
    const c = n.config;
    if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new DoconvError('CORRUPT', `the model config's layer ${where} (${n.class_name}) has no config object`, { key: where });
    const cfg = c as Record<string, unknown>;
    if (depth > 0 && typeof cfg.name !== 'string') throw new DoconvError('CORRUPT', `the model config's layer ${where} (${n.class_name}) has no string name`, { key: where });
    checkLayerFields(n.class_name, cfg, typeof cfg.name === 'string' ? cfg.name : where);
    if (cfg.layers !== undefined) {
      if (!Array.isArray(cfg.layers)) throw new DoconvError('CORRUPT', `the model config's layers are not a list`, { key: where });
      cfg.layers.forEach((l: unknown, i: number) => stack.push({ node: l, depth: depth + 1, where: `${typeof cfg.name === 'string' ? cfg.name : where}.layers[${i}]` }));
    }
  }
}

function checkLayerFields(className: string, c: Record<string, unknown>, name: string): void {
  for (const field of PAIR_FIELDS) pair(c, field, name);
  if (className === 'ZeroPadding2D') zeroPadding(c.padding, name);
  else if (c.padding !== undefined && typeof c.padding !== 'string') {
    throw new DoconvError('CORRUPT', `layer '${name}': padding must be 'same' or 'valid', got ${JSON.stringify(c.padding)?.slice(0, 40)}`, { key: name });
  }
  if (c.groups !== undefined && !isCount(c.groups, 1)) throw new DoconvError('CORRUPT', `layer '${name}': groups must be a positive integer, got ${JSON.stringify(c.groups)}`, { key: name });
  if (c.epsilon !== undefined && !(typeof c.epsilon === 'number' && Number.isFinite(c.epsilon) && c.epsilon >= 0)) {
    throw new DoconvError('CORRUPT', `layer '${name}': epsilon must be a number >= 0, got ${JSON.stringify(c.epsilon)?.slice(0, 40)}`, { key: name });
  }
  for (const field of ['batch_input_shape', 'batch_shape']) {
    const shape = c[field];
    if (shape === undefined || shape === null) continue;
    if (!Array.isArray(shape) || shape.slice(1).some((d) => d !== null && !isCount(d, 1))) {
      throw new DoconvError('CORRUPT', `layer '${name}': ${field} must list positive sizes up to ${MAX_SIDE}, got ${JSON.stringify(shape).slice(0, 60)}`, { key: name });
    }
  }
}

/** TensorFlow 'same' padding: the total padding goes more to the bottom/right, as ONNX needs it spelled out. */
export function tfSamePads(size: number, k: number, stride: number, dilation: number): [number, number] {
  const total = Math.max((Math.ceil(size / stride) - 1) * stride + (k - 1) * dilation + 1 - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/**
 * The Graph of a Keras Sequential model from its config and (fused) weights: InputLayer, DOConv2D
 * and Conv2D (channels_last, 'same'/'valid', strides, dilation, groups, linear/relu activation),
 * BatchNormalization, Activation/ReLU, ZeroPadding2D, MaxPooling2D, GlobalAveragePooling2D, Flatten,
 * Dense, Dropout.
 * Weights come from kerasParamSource as `<layer>/<role>` in neutral layouts (OIHW kernels).
 * The graph computes in NCHW and declares NHWC I/O, as Keras feeds it.
 */
export function buildKerasSequential(config: { class_name?: string; config?: { layers?: LayerConfig[]; name?: string } }, source: ParamSource): Graph {
  const layers = config.config?.layers;
  if (config.class_name !== 'Sequential' || !Array.isArray(layers)) throw new DoconvError('BAD_ARGUMENT', 'only Keras Sequential models are built from their config');
  const param = (layer: string, role: string, optional = false): Tensor | undefined => {
    const t = source.get(`${layer}/${role}`);
    if (t === undefined && !optional) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `layer '${layer}' has no '${role}' weight`, { key: layer });
    return t;
  };
  let inputShape: [number, number, number] | undefined;
  const nodes: GraphNode[] = [];
  let x = 'input';
  const graphSoFar = (): Graph => ({ input: 'input', output: x, inputShape: inputShape!, nodes });
  const add = (name: string, op: Op): void => {
    nodes.push({ name, op, inputs: op.kind === 'Add' ? [] : [x], output: name });
    x = name;
  };
  const activation = (name: string, act: unknown): void => {
    if (act === undefined || act === 'linear') return;
    if (act === 'relu') add(`${name}.relu`, { kind: 'Relu' });
    else throw new DoconvError('BAD_ARGUMENT', `layer '${name}': activation '${String(act)}' is not supported`, { key: name });
  };
  checkKerasModelConfig(config);
  for (const l of layers) {
    const c = l.config;
    const name = c.name;
    if (c.data_format !== undefined && c.data_format !== 'channels_last') throw new DoconvError('BAD_ARGUMENT', `layer '${name}' is ${String(c.data_format)}; only channels_last is supported`, { key: name });
    const shape = (c.batch_input_shape ?? c.batch_shape) as (number | null)[] | undefined;
    if (inputShape === undefined) {
      if (shape === undefined || shape.length !== 4 || shape.slice(1).some((d) => typeof d !== 'number')) {
        throw new DoconvError('BAD_ARGUMENT', 'the model config does not fix an input shape (batch_input_shape [None, H, W, C])', { key: name });
      }
      inputShape = [shape[3]!, shape[1]!, shape[2]!];
    }
    if (l.class_name === 'InputLayer' || l.class_name === 'Dropout') continue;
    const cur = inferShapes(graphSoFar()).get(x)!;
    switch (l.class_name) {
      case 'DOConv2D':
      case 'Conv2D': {
        const weight = param(name, 'weight')!;
        const bias = c.use_bias === false ? undefined : param(name, 'bias', true);
        const [k0, k1] = [weight.shape[2]!, weight.shape[3]!];
        const stride = pair(c, 'strides', name) ?? [1, 1];
        const dilation = pair(c, 'dilation_rate', name) ?? [1, 1];
        let pads: Pads4 = [0, 0, 0, 0];
        if (c.padding === 'same') {
          const [t, b] = tfSamePads(cur[2]!, k0, stride[0]!, dilation[0]!);
          const [lft, r] = tfSamePads(cur[3]!, k1, stride[1]!, dilation[1]!);
          pads = [t, lft, b, r];
        } else if (c.padding !== 'valid') throw new DoconvError('BAD_ARGUMENT', `layer '${name}': padding '${String(c.padding)}'`, { key: name });
        add(name, { kind: 'Conv', weight, ...(bias ? { bias } : {}), stride: [stride[0]!, stride[1]!], pads, dilation: [dilation[0]!, dilation[1]!], groups: (c.groups as number) ?? 1 });
        activation(name, c.activation);
        break;
      }
      case 'BatchNormalization': {
        const scale = c.scale === false ? undefined : param(name, 'gamma');
        const shift = c.center === false ? undefined : param(name, 'beta');
        const mean = param(name, 'mean')!;
        const variance = param(name, 'var')!;
        add(name, { kind: 'BatchNorm', ...(scale ? { scale } : {}), ...(shift ? { shift } : {}), mean, variance, epsilon: (c.epsilon as number) ?? 1e-3 });
        break;
      }
      case 'Activation':
        activation(name, c.activation);
        break;
      case 'ZeroPadding2D': {
        const [rows, cols] = zeroPadding(c.padding, name);
        add(name, { kind: 'Pad', pads: [rows[0], cols[0], rows[1], cols[1]] });
        break;
      }
      case 'ReLU':
        add(name, { kind: 'Relu' });
        break;
      case 'MaxPooling2D': {
        const k = pair(c, 'pool_size', name) ?? [2, 2];
        const s = pair(c, 'strides', name) ?? k;
        let pads: Pads4 = [0, 0, 0, 0];
        if (c.padding === 'same') {
          const [t, b] = tfSamePads(cur[2]!, k[0]!, s[0]!, 1);
          const [lft, r] = tfSamePads(cur[3]!, k[1]!, s[1]!, 1);
          pads = [t, lft, b, r];
        }
        add(name, { kind: 'MaxPool', kernel: [k[0]!, k[1]!], stride: [s[0]!, s[1]!], pads });
        break;
      }
      case 'GlobalAveragePooling2D':
        add(name, { kind: 'GlobalAvgPool' });
        add(`${name}.flatten`, { kind: 'Flatten' });
        break;
      case 'Flatten':
        if (cur[2] !== 1 || cur[3] !== 1) throw new DoconvError('BAD_ARGUMENT', `layer '${name}': Flatten of a ${cur[2]}x${cur[3]} map would need NHWC order; not supported`, { key: name });
        add(name, { kind: 'Flatten' });
        break;
      case 'Dense': {
        const weight = param(name, 'weight')!;
        const bias = c.use_bias === false ? undefined : param(name, 'bias', true);
        add(name, { kind: 'Dense', weight, ...(bias ? { bias } : {}) });
        activation(name, c.activation);
        break;
      }
      default:
        throw new DoconvError('BAD_ARGUMENT', `Keras layer class ${l.class_name} ('${name}') is not supported in a graph yet`, { key: name });
    }
  }
  if (inputShape === undefined) throw new DoconvError('BAD_ARGUMENT', 'empty Sequential model');
  return { ...graphSoFar(), ioLayout: 'NHWC' };
}
