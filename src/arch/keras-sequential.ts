import { DoconvError } from '../errors.js';
import { inferShapes, type Graph, type GraphNode, type Op, type Pads4 } from '../graph/ir.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ParamSource } from './naming.js';

interface LayerConfig {
  class_name: string;
  config: Record<string, unknown> & { name: string };
}

/** The Keras layer that owns a weight key: Keras 2 `<layer>/<layer>/<w>:0`, Keras 3 `layers/<layer>/vars/<i>`. */
export function kerasOwner(key: string): string {
  const k3 = /(?:^|\/)layers\/([^/]+)\/vars\/\d+$/.exec(key);
  return k3 ? k3[1]! : key.split('/')[0]!;
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
        const stride = (c.strides as number[]) ?? [1, 1];
        const dilation = (c.dilation_rate as number[]) ?? [1, 1];
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
        // padding: int, [h, w], or [[top, bottom], [left, right]]
        const p = c.padding as number | [number, number] | [[number, number], [number, number]];
        let rows: [number, number];
        let cols: [number, number];
        if (typeof p === 'number') rows = cols = [p, p];
        else if (Array.isArray(p[0])) [rows, cols] = p as [[number, number], [number, number]];
        else {
          const [ph, pw] = p as [number, number];
          rows = [ph, ph];
          cols = [pw, pw];
        }
        add(name, { kind: 'Pad', pads: [rows[0], cols[0], rows[1], cols[1]] });
        break;
      }
      case 'ReLU':
        add(name, { kind: 'Relu' });
        break;
      case 'MaxPooling2D': {
        const k = (c.pool_size as number[]) ?? [2, 2];
        const s = (c.strides as number[] | null) ?? k;
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
