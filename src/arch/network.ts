import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { dataParallelPrefix, findStateDict } from '../checkpoint/tree.js';
import { fuseLayer } from '../doconv/fuse-layer.js';
import { DoconvError, withFile } from '../errors.js';
import type { Graph } from '../graph/ir.js';
import { Tensor } from '../tensor/tensor.js';
import type { DoConvLayer } from '../doconv/layer.js';
import { detectGluonResNet, detectTorchvisionResNet, unrecognisedNetwork } from './detect.js';
import { gluonNaming, gluonParamName } from './naming-gluon.js';
import { detectKerasApplicationsResNet, kerasApplicationsNaming, kerasApplicationsV2Naming, kerasParamSource } from './naming-keras.js';
import type { ParamSource } from './naming.js';
import { torchvisionNaming } from './naming-torchvision.js';
import { buildResNet } from './resnet.js';
import { buildKerasSequential } from './keras-sequential.js';
import { kerasLayerConfigs } from '../doconv/detect-keras.js';
import { buildConvStack, detectConvStack } from './conv-stack.js';
import { archName, preprocessingOf, specFromName, type Preprocessing, type ResNetSpec } from './spec.js';

export interface NetworkOptions {
  /** A zoo name, or 'auto' / undefined to recognise it from the keys. */
  arch?: string;
  /** Spatial size the graph is built (and shape-checked) for; default the architecture's. */
  inputSize?: [number, number];
  stateDictKey?: string;
}

export interface Network {
  name: string;
  /** The zoo structure, or undefined for a network built from a framework config (Keras Sequential). */
  spec: ResNetSpec | undefined;
  naming: string;
  graph: Graph;
  preprocessing: Preprocessing;
  assumptions: string[];
  /** Where the state dict was found ('' for the top level) and the prefix stripped from its keys. */
  stateDictPath: string;
  prefix: string;
}

/**
 * The model state dict of a checkpoint as the plain network would see it: the DataParallel prefix
 * stripped and every DO-Conv layer under its fused name (`<name>.weight`, shape (C_out, C_in/g, M, N)),
 * fused lazily on first read. W, D and d_diag themselves are hidden.
 */
export function plainParamSource(ckpt: Checkpoint, stateDictKey?: string): { source: ParamSource; path: string; prefix: string; unknownKernels: Map<string, DoConvLayer>; fusedKeys: Set<string> } {
  const sd = findStateDict(ckpt.root, stateDictKey);
  if (sd === undefined) throw new DoconvError('BAD_ARGUMENT', 'found no model state dict (no tensors at the top level, nor under state_dict/model/net)', { file: ckpt.file });
  const prefix = dataParallelPrefix(sd.dict);
  const map = new Map<string, Tensor>();
  const layerKeys = new Map(ckpt.layers.filter((l) => l.container === sd.dict).map((l) => [l.keys.W, l]));
  const hidden = new Set<string>();
  const unknownKernels = new Map<string, DoConvLayer>();
  const fusedKeys = new Set<string>();
  for (const l of layerKeys.values()) {
    if (l.keys.D) hidden.add(l.keys.D);
    if (l.keys.dDiag) hidden.add(l.keys.dDiag);
  }
  for (const [k, v] of sd.dict.entries()) {
    if (typeof k !== 'string' || !(v instanceof Tensor) || hidden.has(k)) continue;
    const layer = layerKeys.get(k);
    const own = (layer ? layer.keys.fused : k).slice(prefix.length);
    const name = ckpt.framework === 'gluon' ? gluonParamName(own) : own;
    if (map.has(name)) throw new DoconvError('CORRUPT', `two parameters are both named '${name}' (one with an 'arg:'/'aux:' prefix)`, { key: k });
    if (layer === undefined) {
      map.set(name, v);
      continue;
    }
    // M x N unknown (non-square M*N, no --kernel): shaped (M*N, 1) for detection; using it fails with the fix.
    if (layer.kernel === undefined) unknownKernels.set(name, layer);
    fusedKeys.add(name);
    const [kh, kw] = layer.kernel ?? [layer.kernelArea, 1];
    const shape = [layer.outChannels, layer.inChannelsPerGroup, kh, kw];
    // Graphs compute in float32 (or float16 by choice, later): the fused kernel is kept in float32,
    // as the reference hands it to its conv, never rounded back to a float16/bfloat16 source dtype.
    const dtype = layer.W.dtype === 'float64' ? 'float64' : 'float32';
    map.set(name, new Tensor(dtype, shape, () => fuseLayer(layer, { dtype, layout: 'oihw' }).bytes()));
  }
  return { source: { get: (key) => map.get(key), keys: () => [...map.keys()] }, path: sd.path, prefix, unknownKernels, fusedKeys };
}

/** Recognises (or takes from --arch) the checkpoint's architecture and builds its Graph. */
/** The largest input side a network is built for: an 80000x80000 request would allocate gigabytes (padding masks). */
export const MAX_INPUT_SIDE = 16384;

/** The network of a checkpoint; errors from its weights or config name the checkpoint file. */
export function networkFromCheckpoint(ckpt: Checkpoint, options: NetworkOptions = {}): Network {
  if (options.inputSize !== undefined) {
    const [h, w] = options.inputSize;
    if (![h, w].every((v) => Number.isInteger(v) && v >= 1 && v <= MAX_INPUT_SIDE)) {
      throw new DoconvError('LIMIT_EXCEEDED', `input size ${h}x${w} is outside 1..${MAX_INPUT_SIDE} per side`, { file: ckpt.file });
    }
  }
  return withFile(ckpt.file, () => buildNetwork(ckpt, options));
}

function buildNetwork(ckpt: Checkpoint, options: NetworkOptions): Network {
  const plain = plainParamSource(ckpt, options.stateDictKey);
  const { path, prefix, unknownKernels } = plain;
  const keras = ckpt.framework === 'keras';
  const source = keras ? kerasParamSource(plain.source, plain.fusedKeys, kerasLayerConfigs(ckpt.config)) : plain.source;
  const config = ckpt.config as { class_name?: string } | undefined;
  if (ckpt.framework === 'keras' && (options.arch === undefined || options.arch === 'auto') && config?.class_name === 'Sequential') {
    const graph = buildKerasSequential(config, source);
    const [, h, w] = graph.inputShape;
    const preprocessing: Preprocessing = { inputSize: [h, w], layout: 'NHWC', mean: [0, 0, 0], std: [1, 1, 1], resize: h, crop: h };
    return { name: 'keras_sequential', spec: undefined, naming: 'keras', graph, preprocessing, assumptions: ['built from the Keras model_config (Sequential); input and output are NHWC'], stateDictPath: path, prefix };
  }
  const stack = !keras && (options.arch === undefined || options.arch === 'auto' || options.arch === 'doconv_mnist_sample') ? detectConvStack(source) : undefined;
  if (stack !== undefined) {
    const size = options.inputSize ?? [28, 28];
    const graph = buildConvStack(source, stack.count, stack.inChannels, size);
    const preprocessing: Preprocessing = { inputSize: size, layout: 'NCHW', mean: [0, 0, 0], std: [1, 1, 1], resize: size[0], crop: size[0] };
    return {
      name: 'doconv_mnist_sample', spec: undefined, naming: 'torchvision', graph, preprocessing,
      assumptions: [`only conv1..conv${stack.count}: taken as the DO-Conv authors' MNIST sample (3x3 convs, stride 2, padding 1, ReLU between, global average pooling)`],
      stateDictPath: path, prefix,
    };
  }
  let spec: ResNetSpec;
  let assumptions: string[] = [];
  const gluon = ckpt.framework === 'gluon';
  if (options.arch !== undefined && options.arch !== 'auto') {
    const fc = source.get('fc.weight') ?? source.get('output.weight') ?? source.get('predictions/weight');
    spec = specFromName(options.arch, fc?.shape[0] ?? 1000);
  } else {
    const d = gluon ? detectGluonResNet(source) : keras ? detectKerasApplicationsResNet(source) : detectTorchvisionResNet(source);
    if (d === undefined) {
      throw new DoconvError('BAD_ARGUMENT', unrecognisedNetwork(source, ckpt.framework, ckpt.config), { file: ckpt.file });
    }
    spec = d.spec;
    assumptions = d.assumptions;
  }
  const preprocessing: Preprocessing = keras ? { ...preprocessingOf(spec), layout: 'NHWC' } : preprocessingOf(spec);
  const naming = gluon ? gluonNaming(spec) : keras ? (spec.family === 'resnet_v2_keras' ? kerasApplicationsV2Naming : kerasApplicationsNaming) : torchvisionNaming;
  const built = buildResNet(spec, source, naming, options.inputSize ?? preprocessing.inputSize);
  if (keras) built.graph.ioLayout = 'NHWC'; // Keras feeds channels_last; the graph turns it once
  for (const [key, layer] of unknownKernels) if (built.used.has(key) || keras) fuseLayer(layer); // throws KERNEL_SHAPE_AMBIGUOUS with the fix
  return { name: archName(spec), spec, naming: naming.name, graph: built.graph, preprocessing, assumptions, stateDictPath: path, prefix };
}
