import { PARAM_NAMES, type ParamRole } from './arch/naming.js';
import { basename, dirname, extname, join, relative, resolve, isAbsolute } from 'node:path';
import { realpathSync, statSync, type Stats } from 'node:fs';
import { checkWrittenTensors, outputLimit } from './checkpoint/budget.js';
import { checkFileOutput, STDOUT, writtenSize } from './emit/atomic.js';
import { checkModelFolderReplaceable } from './emit/atomic-folder.js';
import type { Checkpoint, Framework } from './checkpoint/checkpoint.js';
import { loadCheckpoint, type LoadOptions } from './checkpoint/load.js';
import { collectTensors, dataParallelPrefix, findStateDict, mapTensors } from './checkpoint/tree.js';
import { fuseLayersInPlace } from './doconv/fuse-checkpoint.js';
import { parseKernelOverride, type KernelOverride } from './doconv/kernel-spec.js';
import { networkFromCheckpoint, type Network } from './arch/network.js';
import { buildOnnxModel, writeOnnx } from './emit/onnx.js';
import { writeTfjsModel, type Quantization } from './emit/tfjs.js';
import { writeNpz } from './emit/npz.js';
import { writeGluonParams } from './emit/gluon-params.js';
import { writeKerasH5 } from './emit/keras-h5.js';
import { neutralModules, type NeutralModule } from './emit/modules.js';
import { doconvTensors, neutralDoConv } from './doconv/translate.js';
import type { DoConvLayer } from './doconv/layer.js';
import { kerasOwner } from './arch/keras-sequential.js';
import { hdf5Ready } from './formats/hdf5.js';
import { foldBatchNorm } from './graph/passes/fold-batchnorm.js';
import { inferShapes } from './graph/ir.js';
import type { ProtoMessage } from './formats/protobuf.js';
import { writePth } from './emit/pth.js';
import { writeSafetensors } from './emit/safetensors.js';
import { DoconvError, withFile } from './errors.js';
import { PyDict, type PyValue } from './formats/pickle-values.js';
import { isFloatDType, type DType } from './tensor/dtype.js';
import { Tensor, toFloat32 } from './tensor/tensor.js';
import { VERSION } from './version.js';

export type CheckpointTarget = 'pth' | 'safetensors' | 'npz';
export type ConvertTarget = CheckpointTarget | 'onnx' | 'tfjs' | 'keras-h5' | 'gluon-params';

export const TARGETS: readonly ConvertTarget[] = ['pth', 'safetensors', 'npz', 'onnx', 'tfjs', 'keras-h5', 'gluon-params'];
export const QUANTIZATIONS: readonly Quantization[] = ['none', 'float16', 'uint8', 'uint8-channel'];

const CHECKPOINT_TARGETS: readonly ConvertTarget[] = ['pth', 'safetensors', 'npz', 'keras-h5', 'gluon-params'];
const GRAPH_TARGETS: readonly ConvertTarget[] = ['onnx', 'tfjs'];

/**
 * The options that only some targets use, with the CLI flag that sets each: anything else given for
 * another target is refused (checkOptionsApply) instead of silently ignored. The CLI prints these
 * scopes in its help.
 */
export const OPTION_TARGETS = {
  arch: { flag: '--arch', targets: GRAPH_TARGETS },
  inputSize: { flag: '--input-size', targets: GRAPH_TARGETS },
  noFoldBn: { flag: '--no-fold-bn', targets: GRAPH_TARGETS },
  dynamicSize: { flag: '--dynamic-size', targets: ['onnx'] },
  fp16Io: { flag: '--fp16-io', targets: ['onnx'] },
  fp16: { flag: '--fp16', targets: ['onnx'] },
  quantize: { flag: '--quantize', targets: ['tfjs'] },
  groupedConv: { flag: 'groupedConv', targets: ['tfjs'] },
  keepDoconv: { flag: '--keep-doconv', targets: CHECKPOINT_TARGETS },
  dtype: { flag: '--dtype', targets: CHECKPOINT_TARGETS },
  flatten: { flag: '--flatten', targets: CHECKPOINT_TARGETS },
  stateDictKey: { flag: '--state-dict-key', targets: ['pth', 'safetensors', 'npz', 'onnx', 'tfjs'] },
} as const satisfies Partial<Record<keyof ConvertOptions, { flag: string; targets: readonly ConvertTarget[] }>>;

function given(value: unknown): boolean {
  return value !== undefined && value !== false;
}

/**
 * Refuses an option the target does not use (one line naming the option, the target and what the
 * option applies to). --state-dict-key picks the state dict to flatten for a checkpoint target, so
 * there it needs --flatten; for onnx and tfjs it picks the network's state dict.
 */
export function checkOptionsApply(to: ConvertTarget, options: ConvertOptions): void {
  for (const [field, scope] of Object.entries(OPTION_TARGETS) as [keyof typeof OPTION_TARGETS, (typeof OPTION_TARGETS)[keyof typeof OPTION_TARGETS]][]) {
    if (!given(options[field]) || (scope.targets as readonly ConvertTarget[]).includes(to)) continue;
    throw new DoconvError('BAD_ARGUMENT', `${scope.flag} does not apply to ${to} output: it applies to ${scope.targets.join(', ')} only; drop it or write another format`);
  }
  if (given(options.stateDictKey) && !GRAPH_TARGETS.includes(to) && !options.flatten) {
    throw new DoconvError('BAD_ARGUMENT', `--state-dict-key does not apply to ${to} output without --flatten: it applies to onnx and tfjs (the network's state dict) and, with --flatten, to pth, safetensors and npz (the one kept); add --flatten or drop it`);
  }
}

export interface ConvertOptions {
  /** Output format; default from the output's extension. */
  to?: ConvertTarget;
  from?: Framework;
  /** Kernel shapes for layers whose M*N is not a square: `NAME=MxN`, NAME may use wildcards. */
  kernels?: readonly (string | KernelOverride)[];
  /** A Keras model config (the parsed JSON of model.to_json()) for save_weights files without one. */
  config?: unknown;
  /** Write only the model's state dict, without nesting or the DataParallel `module.` prefix. */
  flatten?: boolean;
  /** With flatten: the key of the nested state dict to take (default: state_dict, model, net, ...). */
  stateDictKey?: string;
  /** Cast every floating-point tensor of the output to this dtype (default: keep each source dtype). */
  dtype?: DType;
  /** Write the DO-Conv tensors unfused (a plain format translation). */
  keepDoconv?: boolean;
  /** ONNX: the architecture (a zoo name), or 'auto' (default) to recognise it. */
  arch?: string;
  /** TensorFlow.js: weight quantization (tensorflowjs_converter's --quantize_float16 / --quantize_uint8). */
  quantize?: Quantization;
  /** TensorFlow.js: how grouped convolutions are written ('split' default, or 'dense' block-diagonal). */
  groupedConv?: 'split' | 'dense';
  /** ONNX: keep BatchNormalization nodes instead of folding them into the convolutions. */
  noFoldBn?: boolean;
  /** ONNX: float16 weights and compute; `fp16Io` makes the input and output float16 too. */
  fp16?: boolean;
  fp16Io?: boolean;
  /** ONNX: the spatial input size (default: the architecture's, e.g. 224x224); the batch stays dynamic. */
  inputSize?: [number, number];
  /** ONNX: the full input shape data will have ([N, C, H, W] or, for Keras nets, [N, H, W, C]); sets the size. */
  inputShapeHint?: readonly number[];
  /** ONNX: symbolic height and width (any size; onnxruntime runs ~10% slower than with a fixed size). */
  dynamicSize?: boolean;
  /** Called with progress messages for long conversions. */
  onProgress?: (message: string) => void;
}

export interface ConvertSummary {
  input: string;
  output: string;
  from: string;
  to: ConvertTarget;
  fusedLayers: number;
  /** The recognised architecture (ONNX output), with what was assumed. */
  architecture?: { name: string; assumptions: string[] };
  tensorsIn: number;
  tensorsOut: number;
  bytesOut: number;
  dropped: string[];
  notes: string[];
  toolVersion: string;
  seconds: number;
}

const EXTENSION_TARGETS: Readonly<Record<string, ConvertTarget>> = {
  '.pth': 'pth',
  '.pt': 'pth',
  '.th': 'pth',
  '.ckpt': 'pth',
  '.safetensors': 'safetensors',
  '.npz': 'npz',
  '.onnx': 'onnx',
  '.h5': 'keras-h5',
  '.params': 'gluon-params',
};

export function targetFromPath(output: string): ConvertTarget {
  if (output === STDOUT) throw new DoconvError('BAD_ARGUMENT', `-o - (standard output) needs --to ${TARGETS.filter((t) => t !== 'tfjs').join('|')}`);
  const ext = extname(output).toLowerCase();
  const t = EXTENSION_TARGETS[ext];
  if (t !== undefined) return t;
  let isDir = false;
  try {
    isDir = statSync(output).isDirectory();
  } catch {
    isDir = ext === '';
  }
  if (isDir) return 'tfjs';
  throw new DoconvError('BAD_ARGUMENT', `cannot tell the output format from '${ext}'; pass --to ${TARGETS.join('|')}`, { file: output });
}

/** The checkpoint's root reduced to its model state dict, `module.` prefix stripped. */
function flattenedRoot(ckpt: Checkpoint, key: string | undefined): PyDict {
  const sd = findStateDict(ckpt.root, key);
  if (sd === undefined) {
    throw new DoconvError('BAD_ARGUMENT', key !== undefined ? `--state-dict-key '${key}' names no dict in the checkpoint` : 'found no state dict to flatten (no tensors at the top level nor under state_dict/model/net)', { file: ckpt.file });
  }
  const prefix = dataParallelPrefix(sd.dict);
  const strip = (k: PyValue): PyValue => (typeof k === 'string' && k.startsWith(prefix) ? k.slice(prefix.length) : k);
  const out = new PyDict(true);
  for (const [k, v] of sd.dict.entries()) out.set(strip(k), v);
  if (sd.dict.attributes !== undefined) {
    out.attributes = new PyDict();
    for (const [k, v] of sd.dict.attributes.entries()) {
      if (k === '_metadata' && v instanceof PyDict) {
        const meta = new PyDict(v.ordered);
        for (const [mk, mv] of v.entries()) meta.set(typeof mk === 'string' && prefix !== '' ? (mk === 'module' ? '' : strip(mk)) : mk, mv);
        out.attributes.set(k, meta);
      } else out.attributes.set(k, v);
    }
  }
  return out;
}

/** The module a DO-Conv layer's tensors are grouped under by neutralModules. */
function layerModuleName(layer: DoConvLayer): string {
  if (layer.pairing === 'keras') return kerasOwner(layer.keys.W);
  const key = layer.keys.W.replace(/^(arg|aux):/, '').replace(/^module\./, '');
  return key.replace(layer.pairing === 'pytorch' ? /\.?W$/ : /[._]?weight$/, '');
}

/**
 * --keep-doconv into another framework: each DO-Conv layer's module becomes its unfused tensors in
 * the target's names, layouts and creation order (neutralDoConv refuses what is not exact).
 */
function withUnfusedLayers(modules: NeutralModule[], ckpt: Checkpoint, target: Framework): NeutralModule[] {
  const byName = new Map(ckpt.layers.map((l) => [layerModuleName(l), l]));
  return modules.map((m) => {
    const layer = byName.get(m.name);
    if (layer === undefined) return m;
    const tensors = doconvTensors(neutralDoConv(layer, ckpt.framework, target), target);
    const bias = layer.keys.bias === undefined ? undefined : (layer.container.get(layer.keys.bias) as Tensor);
    // creation order: PyTorch W, D, d_diag, bias; Keras kernel, bias, D; Gluon weight, bias, D
    if (bias !== undefined) tensors.splice(target === 'pytorch' ? tensors.length : 1, 0, ['bias', bias]);
    return { name: m.name, kind: 'other', params: new Map(tensors) };
  });
}

/** Neutral modules as a PyTorch state dict (`<module>.weight`, BatchNorm `running_mean`...). */
function torchStateDict(modules: readonly NeutralModule[]): PyDict {
  const d = new PyDict(true);
  for (const m of modules) {
    for (const [role, t] of m.params) {
      const leaf = m.kind === 'other' ? role : PARAM_NAMES.pytorch[role as ParamRole] ?? role;
      d.set(m.name === '' ? leaf : `${m.name}.${leaf}`, t);
    }
  }
  return d;
}

function castTensor(t: Tensor, dtype: DType): Tensor {
  if (!isFloatDType(t.dtype) || t.dtype === dtype) return t;
  return Tensor.fromFloat32(toFloat32(t), t.shape, dtype);
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/**
 * Refuses writing over the input: the same path, another spelling of it (./a/../x.pth), a symbolic
 * or a hard link to it (same device and inode), or a TensorFlow.js folder holding it. A missing
 * input is left to the reader, which names it.
 */
export function checkOutputIsNotInput(input: string, output: string): void {
  if (output === STDOUT) return;
  const inStat = statOrNull(input);
  if (inStat === null) return;
  const same = () => new DoconvError('BAD_ARGUMENT', `the output '${output}' is the input '${input}' (the same file); converting in place would destroy the input, write to another path`);
  const outStat = statOrNull(output);
  if (outStat !== null && outStat.dev === inStat.dev && outStat.ino === inStat.ino) throw same();
  const inReal = realpathSync(input);
  let outReal: string;
  try {
    outReal = realpathSync(output);
  } catch {
    const parent = statOrNull(dirname(resolve(output))) === null ? dirname(resolve(output)) : realpathSync(dirname(resolve(output)));
    outReal = join(parent, basename(output));
  }
  if (outReal === inReal) throw same();
  if (outStat?.isDirectory()) {
    const rel = relative(outReal, inReal);
    if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) {
      throw new DoconvError('BAD_ARGUMENT', `the input '${input}' is inside the output folder '${output}', which the model replaces; write to another folder`);
    }
  }
}

/** The names a --kernel pattern is matched against for a layer (as the detectors do): full, and within its dict. */
function kernelNames(layer: DoConvLayer): string[] {
  if (layer.pairing !== 'pytorch') return [layer.name];
  return [layer.name, layer.keys.W.replace(/\.?W$/, '')];
}

/**
 * Refuses a --kernel pattern that names no DO-Conv layer of the checkpoint (a typo would otherwise be
 * ignored), naming the pattern and a few of the layers there are.
 */
export function checkKernelPatterns(layers: readonly DoConvLayer[], kernels: readonly KernelOverride[], file?: string): void {
  for (const k of kernels) {
    if (layers.some((l) => kernelNames(l).some((n) => k.regex.test(n)))) continue;
    const shown = layers.slice(0, 5).map((l) => l.name).join(', ');
    const reason =
      layers.length === 0
        ? `--kernel ${k.pattern}=${k.kernel[0]}x${k.kernel[1]}: the checkpoint has no DO-Conv layer for it to name`
        : `--kernel ${k.pattern}=${k.kernel[0]}x${k.kernel[1]} matches no DO-Conv layer; the ${layers.length} layers are named like ${shown}${layers.length > 5 ? ', ...' : ''} (inspect lists them)`;
    throw new DoconvError('BAD_ARGUMENT', reason, file === undefined ? {} : { file });
  }
}

/** Refuses an output path that could not be written (or must not be replaced) before any work is done. */
function checkOutputPath(output: string, to: ConvertTarget): void {
  if (to === 'tfjs') checkModelFolderReplaceable(output);
  else checkFileOutput(output);
}

/**
 * The architecture-free conversion: every DO-Conv layer fused in place (`<name>.weight`),
 * every other tensor passed through untouched, key order kept; written atomically.
 */
export async function convertCheckpoint(input: string, output: string, options: ConvertOptions = {}): Promise<ConvertSummary> {
  const started = performance.now();
  const to = options.to ?? targetFromPath(output);
  if (to === 'tfjs' && output === STDOUT) throw new DoconvError('BAD_ARGUMENT', 'a TensorFlow.js model is a folder; -o - writes single-file formats only');
  checkOptionsApply(to, options);
  checkOutputIsNotInput(input, output);
  checkOutputPath(output, to);
  if (to === 'onnx') return convertToOnnx(input, output, options, started);
  if (to === 'tfjs') return convertToTfjs(input, output, options, started);
  if (options.dtype !== undefined && !isFloatDType(options.dtype)) throw new DoconvError('BAD_ARGUMENT', `--dtype must be a floating-point type, got ${options.dtype}`);
  const kernels = kernelOverrides(options);
  const progress = options.onProgress ?? (() => {});
  progress(`reading ${input}`);
  const ckpt = await loadCheckpoint(input, loadOptions(options, kernels, false));
  try {
    checkKernelPatterns(ckpt.layers, kernels, input);
    const tensorsIn = ckpt.tensors.length;
    if (!options.keepDoconv) {
      progress(`fusing ${ckpt.layers.length} DO-Conv layers`);
      fuseLayersInPlace(ckpt.layers, options.dtype !== undefined ? { dtype: options.dtype } : {});
    }
    const notes = [...ckpt.notes];
    const crossFramework = to === 'keras-h5' || to === 'gluon-params' || (to === 'pth' && ckpt.framework !== 'pytorch');
    if (crossFramework) {
      // Another framework's checkpoint: parameters regrouped by layer and spelled in its names and layouts.
      let modules = neutralModules(ckpt);
      if (options.keepDoconv) modules = withUnfusedLayers(modules, ckpt, to === 'keras-h5' ? 'keras' : to === 'gluon-params' ? 'gluon' : 'pytorch');
      if (options.dtype !== undefined) for (const m of modules) for (const [k, t] of m.params) m.params.set(k, castTensor(t, options.dtype));
      withFile(input, () => checkWrittenTensors(modules.flatMap((m) => [...m.params].map(([k, tensor]) => ({ name: `${m.name}.${k}`, tensor }))), to));
      progress(`writing ${modules.length} layers to ${output}`);
      let tensorsOut: number;
      if (to === 'keras-h5') {
        await hdf5Ready();
        tensorsOut = writeKerasH5(output, modules);
        if (modules.some((m) => [...m.params.values()].some((t) => t.dtype !== 'float32'))) notes.push('Keras HDF5 output is float32 (h5wasm writes no float16)');
      } else if (to === 'gluon-params') tensorsOut = writeGluonParams(output, modules);
      else tensorsOut = writePth(output, torchStateDict(modules)).tensors;
      return {
        input, output, from: ckpt.format, to, fusedLayers: options.keepDoconv ? 0 : ckpt.layers.length, tensorsIn: ckpt.tensors.length, tensorsOut,
        bytesOut: writtenSize(output), dropped: [], notes, toolVersion: VERSION, seconds: (performance.now() - started) / 1000,
      };
    }
    const root: PyValue = options.flatten ? flattenedRoot(ckpt, options.stateDictKey) : ckpt.root;
    if (options.dtype !== undefined) mapTensors(root, (t) => castTensor(t, options.dtype!));
    const tensors = collectTensors(root);
    if (to !== 'pth') withFile(input, () => checkWrittenTensors(tensors, to));
    progress(`writing ${tensors.length} tensors to ${output}`);
    let dropped: string[] = [];
    if (to === 'pth') dropped = writePth(output, root, { maxBytes: outputLimit(ckpt) }).dropped;
    else if (to === 'safetensors') writeSafetensors(output, tensors, { source: input, converter: `doconv-zoo ${VERSION}` });
    else {
      const { widened } = writeNpz(output, tensors);
      if (widened.length > 0) notes.push(`${widened.length} bfloat16 tensor(s) widened to float32 (numpy has no bfloat16)`);
    }
    return {
      input,
      output,
      from: ckpt.format,
      to,
      fusedLayers: options.keepDoconv ? 0 : ckpt.layers.length,
      tensorsIn,
      tensorsOut: tensors.length,
      bytesOut: writtenSize(output),
      dropped,
      notes,
      toolVersion: VERSION,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    ckpt.close();
  }
}

function kernelOverrides(options: ConvertOptions): KernelOverride[] {
  return (options.kernels ?? []).map((k) => (typeof k === 'string' ? parseKernelOverride(k) : k));
}

/** Everything that goes into an ONNX model's metadata_props. */
export function onnxMetadata(ckpt: Checkpoint, net: Network): Record<string, string> {
  return {
    source_file: basename(ckpt.file),
    source_sha256: ckpt.sha256(),
    source_format: ckpt.format,
    architecture: net.name,
    doconv_zoo_version: VERSION,
    preprocessing: JSON.stringify(net.preprocessing),
  };
}

/** The network of a checkpoint as an ONNX model (in memory), plus what was recognised. */
/** What loadCheckpoint needs from convert's options. */
function loadOptions(options: ConvertOptions, kernels: KernelOverride[], hashInBackground: boolean): LoadOptions {
  return { ...(options.from ? { from: options.from } : {}), kernels, hashInBackground, ...(options.config !== undefined ? { config: options.config } : {}) };
}

/** The checkpoint's network for graph targets, built for the input size asked for (or the data's). */
function networkFor(ckpt: Checkpoint, options: ConvertOptions): Network {
  const build = (inputSize?: [number, number]) =>
    networkFromCheckpoint(ckpt, {
      ...(options.arch ? { arch: options.arch } : {}),
      ...(inputSize ? { inputSize } : {}),
      ...(options.stateDictKey ? { stateDictKey: options.stateDictKey } : {}),
    });
  const network = build(options.inputSize);
  const hint = options.inputShapeHint;
  if (hint === undefined || hint.length !== 4 || options.inputSize !== undefined) return network;
  // The data decides the size; where its H and W sit depends on the layout the network takes.
  const size: [number, number] = network.graph.ioLayout === 'NHWC' ? [hint[1]!, hint[2]!] : [hint[2]!, hint[3]!];
  const [, h, w] = network.graph.inputShape;
  return size[0] !== h || size[1] !== w ? build(size) : network;
}

export function checkpointToOnnx(ckpt: Checkpoint, options: ConvertOptions = {}): { model: ProtoMessage; network: Network } {
  const network = networkFor(ckpt, options);
  inferShapes(network.graph);
  if (options.dynamicSize && network.graph.nodes.some((n) => n.op.kind === 'MaxPool' && n.op.zeroPad !== undefined)) {
    network.assumptions.push("--dynamic-size: zero-padded max-pooling is emitted as Pad + MaxPool, which onnxruntime's PadFusion (graph optimization level 'basic' and up) turns into -inf padding; run it with optimizations off or use a fixed size");
  }
  const graph = options.noFoldBn ? network.graph : foldBatchNorm(network.graph);
  const model = buildOnnxModel(graph, {
    fp16: options.fp16 ?? false,
    fp16Io: options.fp16Io ?? false,
    fixedInputSize: !(options.dynamicSize ?? false),
    metadata: onnxMetadata(ckpt, network),
    graphName: network.name,
  });
  return { model, network };
}

async function convertToOnnx(input: string, output: string, options: ConvertOptions, started: number): Promise<ConvertSummary> {
  const progress = options.onProgress ?? (() => {});
  progress(`reading ${input}`);
  const kernels = kernelOverrides(options);
  const ckpt = await loadCheckpoint(input, loadOptions(options, kernels, true));
  try {
    checkKernelPatterns(ckpt.layers, kernels, input);
    progress(`fusing ${ckpt.layers.length} DO-Conv layers and building the graph`);
    const { model, network } = checkpointToOnnx(ckpt, options);
    progress(`writing ${output}`);
    const bytesOut = writeOnnx(output, model);
    return {
      input,
      output,
      from: ckpt.format,
      to: 'onnx',
      fusedLayers: ckpt.layers.length,
      architecture: { name: network.name, assumptions: network.assumptions },
      tensorsIn: ckpt.tensors.length,
      tensorsOut: network.graph.nodes.length,
      bytesOut,
      dropped: [],
      notes: [...ckpt.notes, ...network.assumptions],
      toolVersion: VERSION,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    ckpt.close();
  }
}

async function convertToTfjs(input: string, output: string, options: ConvertOptions, started: number): Promise<ConvertSummary> {
  const progress = options.onProgress ?? (() => {});
  progress(`reading ${input}`);
  const kernels = kernelOverrides(options);
  const ckpt = await loadCheckpoint(input, loadOptions(options, kernels, true));
  try {
    checkKernelPatterns(ckpt.layers, kernels, input);
    const network = networkFor(ckpt, options);
    const graph = options.noFoldBn ? network.graph : foldBatchNorm(network.graph);
    progress(`writing ${output}`);
    const meta = onnxMetadata(ckpt, network);
    const written = writeTfjsModel(output, graph, {
      quantize: options.quantize ?? 'none',
      groupedConv: options.groupedConv ?? 'split',
      metadata: { ...meta, preprocessing: { ...network.preprocessing, layout: 'NHWC' } },
    });
    return {
      input, output, from: ckpt.format, to: 'tfjs', fusedLayers: ckpt.layers.length, architecture: { name: network.name, assumptions: network.assumptions },
      tensorsIn: ckpt.tensors.length, tensorsOut: written.files.length, bytesOut: written.bytes, dropped: [], notes: [...ckpt.notes, ...network.assumptions], toolVersion: VERSION,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    ckpt.close();
  }
}
