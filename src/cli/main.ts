#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { convertCheckpoint, TARGETS, type ConvertTarget } from '../convert.js';
import { parseKernelOverride } from '../doconv/kernel-spec.js';
import { DoconvError } from '../errors.js';
import { inspectFile } from '../inspect.js';
import { predictFile } from '../runtime/predict-file.js';
import type { Framework } from '../checkpoint/checkpoint.js';
import type { DType } from '../tensor/dtype.js';
import { VERSION } from '../version.js';
import { formatConvert, formatInspect } from './format.js';

const USAGE = `doconv-zoo ${VERSION}: fuse DO-Conv checkpoints into plain convolutions

Usage:
  doconv-zoo inspect CKPT [--json] [--tensors] [--kernel NAME=MxN]...
  doconv-zoo convert CKPT -o OUT [--to pth|safetensors|npz] [--from pytorch]
                     [--kernel NAME=MxN]... [--flatten] [--state-dict-key KEY]
                     [--dtype float32|float16|bfloat16|float64] [--keep-doconv] [--json]
                     [--arch NAME|auto] [--no-fold-bn] [--fp16] [--fp16-io] [--input-size HxW] [--dynamic-size]
                     [--quantize none|float16|uint8|uint8-channel]
  doconv-zoo predict MODEL --input X.npy --output Y.npy [--backend onnx|tfjs] [--tfjs-backend wasm|cpu|tensorflow] [--device cpu|gpu]
                     [--threads N] [--arch NAME] [--kernel NAME=MxN]...
  doconv-zoo --version | --help

Commands:
  inspect   List a checkpoint's format, tensors and DO-Conv layers (C_in, C_out, groups,
            kernel, D_mul, bias). --json prints {format, framework, tensors, doconvLayers, ...}.
  convert   Fuse every DO-Conv layer (W, D, d_diag -> weight, exactly as the reference does)
            and write a checkpoint that a plain network with ordinary Conv2d loads strictly.
            Every other tensor passes through unchanged, key order and nesting kept.
            With .onnx output the network is recognised (ResNet v1b/ResNeXt/Plain/CIFAR
            ResNet in torchvision naming; --arch overrides), BatchNorm folded into the
            convolutions, and an ONNX model (opset 17) written: input 'input' NCHW float32
            [batch, 3, H, W], output 'logits' [batch, classes].
            A folder (or --to tfjs) gets a TensorFlow.js graph model (model.json + 4 MB shards)
            that tf.loadGraphModel runs in Node and in browsers; it takes NHWC input.
  predict   Run a model (.onnx, a TensorFlow.js folder with --backend tfjs, or a DO-Conv
            checkpoint converted in memory) on a float32 .npy batch and write the output as .npy.
            TensorFlow.js models take NHWC: an NCHW batch is transposed for them (and back).

Options:
  -o, --output OUT        Output file; its extension picks the format (.onnx .pth .safetensors .npz
                          .h5 for keras-h5, .params for gluon-params).
  --to FORMAT             Output format, overriding the extension.
  --from FRAMEWORK        Read the input as this framework (default: recognised from content).
  --kernel NAME=MxN       Kernel shape of a layer whose M*N is not square (a state dict does not
                          record it), e.g. --kernel 'layer1.*.conv2=3x1'. Repeatable.
  --config MODEL.json     Keras: the model config (model.to_json()) for save_weights() files.
  --flatten               Write only the model's state dict: no nesting, no 'module.' prefix.
  --state-dict-key KEY    With --flatten: the nested key holding the state dict.
  --dtype DTYPE           Cast floating-point tensors of the output (default: keep source dtype).
  --keep-doconv           Do not fuse; write the DO-Conv tensors as they are.
  --arch NAME             ONNX: the architecture (resnet50_v1b, resnet50_v1, resnext50_32x4d,
                          plain18, cifar_resnet20_v1b, ...); default auto-detected.
  --no-fold-bn            ONNX: keep BatchNormalization nodes.
  --fp16                  ONNX: float16 weights and compute (input/output stay float32).
  --fp16-io               ONNX: float16 input and output too.
  --quantize Q            TensorFlow.js: weights as float16, affine uint8 per tensor (as
                          tensorflowjs_converter), or uint8-channel (per output channel).
  --input-size HxW        ONNX: the input size (default the architecture's: 224x224, 32x32 for
                          CIFAR nets); the batch dimension is always dynamic.
  --dynamic-size          ONNX: symbolic height and width (any size, ~10% slower in onnxruntime).
  --input, --output       predict: a float32 .npy batch in the layout the model declares (NCHW;
                          NHWC for Keras models, as Keras feeds them), the output as .npy.
  --device cpu|gpu        predict: where to run (gpu tries CUDA, then WebGPU).
  --json                  Print a machine-readable result (errors too) on stdout.
  -q, --quiet             No progress messages.

Exit codes: 0 ok, 1 bad input or arguments (one line on stderr), 2 internal error.`;

const COMMON = {
  json: { type: 'boolean' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  kernel: { type: 'string', multiple: true },
  from: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
} as const satisfies ParseArgsConfig['options'];

const FRAMEWORKS: readonly Framework[] = ['pytorch', 'keras', 'gluon'];
const DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16', 'float64'];

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new DoconvError('BAD_ARGUMENT', (err as Error).message.split('\n')[0]!);
  }
}

function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new DoconvError('BAD_ARGUMENT', `${flag} must be one of ${allowed.join(', ')}; got '${value}'`);
  return value as T;
}

/** --config model.json (Keras model.to_json()), read and parsed. */
function readConfig(path: string | undefined): unknown {
  if (path === undefined) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (err) {
    throw new DoconvError('BAD_ARGUMENT', `--config: ${(err as Error).message.split('\n')[0]}`, { file: path });
  }
}

function onePositional(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new DoconvError('BAD_ARGUMENT', `expected exactly one ${what}, got ${positionals.length}; see --help`);
  return positionals[0]!;
}

async function runInspect(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...COMMON, tensors: { type: 'boolean' } });
  if (values.help) return printUsage();
  const file = onePositional(positionals, 'checkpoint');
  const from = oneOf(values.from, FRAMEWORKS, '--from');
  const config = readConfig(values.config);
  const report = await inspectFile(file, { ...(from ? { from } : {}), kernels: (values.kernel ?? []).map(parseKernelOverride), ...(config !== undefined ? { config } : {}) });
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatInspect(report, values.tensors ?? false)}\n`);
  return 0;
}

async function runConvert(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...COMMON,
    output: { type: 'string', short: 'o' },
    to: { type: 'string' },
    flatten: { type: 'boolean' },
    'state-dict-key': { type: 'string' },
    dtype: { type: 'string' },
    'keep-doconv': { type: 'boolean' },
    arch: { type: 'string' },
    'no-fold-bn': { type: 'boolean' },
    fp16: { type: 'boolean' },
    'fp16-io': { type: 'boolean' },
    'input-size': { type: 'string' },
    'dynamic-size': { type: 'boolean' },
    quantize: { type: 'string' },
  });
  if (values.help) return printUsage();
  const input = onePositional(positionals, 'checkpoint');
  if (values.output === undefined) throw new DoconvError('BAD_ARGUMENT', 'convert needs -o OUT');
  const inputSize = values['input-size'] === undefined ? undefined : parseSize(values['input-size']);
  const to = oneOf(values.to, TARGETS, '--to') as ConvertTarget | undefined;
  const from = oneOf(values.from, FRAMEWORKS, '--from');
  const dtype = oneOf(values.dtype, DTYPES, '--dtype');
  const quiet = values.quiet || values.json || !process.stderr.isTTY;
  const summary = await convertCheckpoint(input, values.output, {
    ...(to ? { to } : {}),
    ...(from ? { from } : {}),
    ...(dtype ? { dtype } : {}),
    kernels: values.kernel ?? [],
    flatten: values.flatten ?? false,
    ...(values['state-dict-key'] ? { stateDictKey: values['state-dict-key'] } : {}),
    keepDoconv: values['keep-doconv'] ?? false,
    ...(values.config !== undefined ? { config: readConfig(values.config) } : {}),
    ...(values.arch ? { arch: values.arch } : {}),
    noFoldBn: values['no-fold-bn'] ?? false,
    fp16: (values.fp16 ?? false) || (values['fp16-io'] ?? false),
    fp16Io: values['fp16-io'] ?? false,
    ...(inputSize ? { inputSize } : {}),
    dynamicSize: values['dynamic-size'] ?? false,
    ...(values.quantize ? { quantize: oneOf(values.quantize, ['none', 'float16', 'uint8', 'uint8-channel'] as const, '--quantize')! } : {}),
    onProgress: quiet ? () => {} : (m) => process.stderr.write(`${m}\n`),
  });
  process.stdout.write(values.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatConvert(summary)}\n`);
  return 0;
}

function parseSize(s: string): [number, number] {
  const m = /^(\d+)(?:x(\d+))?$/.exec(s);
  if (m === null) throw new DoconvError('BAD_ARGUMENT', `--input-size expects HxW or N, got '${s}'`);
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

async function runPredict(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...COMMON,
    input: { type: 'string', short: 'i' },
    output: { type: 'string', short: 'o' },
    backend: { type: 'string' },
    'tfjs-backend': { type: 'string' },
    device: { type: 'string' },
    threads: { type: 'string' },
    arch: { type: 'string' },
  });
  if (values.help) return printUsage();
  const model = onePositional(positionals, 'model');
  if (values.input === undefined || values.output === undefined) throw new DoconvError('BAD_ARGUMENT', 'predict needs --input X.npy and --output Y.npy');
  const backend = oneOf(values.backend, ['onnx', 'tfjs'] as const, '--backend');
  const tfjsBackend = oneOf(values['tfjs-backend'], ['wasm', 'cpu', 'tensorflow'] as const, '--tfjs-backend');
  const device = oneOf(values.device, ['cpu', 'gpu'] as const, '--device');
  const threads = values.threads === undefined ? undefined : Number(values.threads);
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) throw new DoconvError('BAD_ARGUMENT', `--threads must be a positive integer, got '${values.threads}'`);
  const summary = await predictFile(model, values.input, values.output, {
    ...(backend ? { backend } : {}),
    ...(tfjsBackend ? { tfjsBackend } : {}),
    ...(device ? { device } : {}),
    ...(threads ? { threads } : {}),
    ...(values.arch ? { arch: values.arch } : {}),
    kernels: values.kernel ?? [],
  });
  process.stdout.write(values.json ? `${JSON.stringify(summary, null, 2)}\n` : `wrote ${summary.output}: [${summary.outputShape.join(', ')}] from [${summary.inputShape.join(', ')}] on ${summary.executionProvider} in ${summary.seconds.toFixed(3)} s\n`);
  return 0;
}

function printUsage(): number {
  process.stdout.write(`${USAGE}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const json = rest.includes('--json');
  try {
    switch (command) {
      case 'inspect':
        return await runInspect(rest);
      case 'convert':
        return await runConvert(rest);
      case 'predict':
        return await runPredict(rest);
      case '--version':
      case '-V':
        process.stdout.write(`${VERSION}\n`);
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        return printUsage();
      default:
        throw new DoconvError('BAD_ARGUMENT', `unknown command '${command}'; see doconv-zoo --help`);
    }
  } catch (err) {
    if (err instanceof DoconvError) {
      process.stderr.write(`doconv-zoo: error: ${err.message}\n`);
      if (json) process.stdout.write(`${JSON.stringify({ error: err.toJSON() })}\n`);
      return 1;
    }
    const e = err as Error;
    process.stderr.write(`doconv-zoo: internal error: ${e.message} (please report this; DOCONV_ZOO_DEBUG=1 shows the stack)\n`);
    if (process.env.DOCONV_ZOO_DEBUG) process.stderr.write(`${e.stack}\n`);
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
