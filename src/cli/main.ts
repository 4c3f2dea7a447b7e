#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import { convertCheckpoint, TARGETS, type ConvertTarget } from '../convert.js';
import { parseKernelOverride } from '../doconv/kernel-spec.js';
import { DoconvError, escapeControl } from '../errors.js';
import { STDOUT } from '../emit/atomic.js';
import { inspectFile } from '../inspect.js';
import { predictFile } from '../runtime/predict-file.js';
import { findEntry, listEntries, loadManifest } from '../registry/manifest.js';
import { pull } from '../registry/pull.js';
import { addToRegistry } from '../registry/add.js';
import { offlineFromEnv } from '../registry/cache.js';
import type { Framework } from '../checkpoint/checkpoint.js';
import type { DType } from '../tensor/dtype.js';
import { VERSION } from '../version.js';
import { oneOf, parse, positiveInt } from './args.js';
import { runEval, runRegistryVerify } from './eval-command.js';
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
  doconv-zoo list [PATTERN] [--json] [--registry URL|DIR]
  doconv-zoo info NAME [--json] [--registry URL|DIR]
  doconv-zoo pull NAME [--to source|onnx|tfjs] [--registry URL|DIR] [--offline] [--json]
  doconv-zoo registry add CKPT --name NAME --registry DIR [--description T] [--license L] [--no-copy]
  doconv-zoo eval NAME|MODEL --data DIR|mnist [--labels FILE] [--synsets FILE] [--backend onnx|tfjs]
                     [--device cpu|gpu] [--batch N] [--limit N] [--threads N] [--decoder sharp|jpeg-js]
                     [--decode-threads N] [--resize N] [--crop N] [--mean R,G,B] [--std R,G,B]
                     [--record FILE | --no-record] [--predictions FILE.csv] [--json]
  doconv-zoo registry verify NAME --record FILE [--registry DIR] [--force]
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

  list      The zoo: every network of the DO-Conv paper's ImageNet table with its published top-1
            (baseline and DO-Conv gain), and the small zoo trained here. PATTERN takes * and ?.
  info      One entry: architecture, input, accuracy and where it comes from, artifacts.
  pull      Download a network's weights into the cache (XDG_CACHE_HOME/doconv-zoo, or
            DOCONV_ZOO_CACHE), verified by SHA-256, resumed after an interruption, mirrors tried in
            order; --to onnx|tfjs also converts it (cached). --offline / DOCONV_ZOO_OFFLINE never
            opens a socket. --registry (or DOCONV_ZOO_REGISTRY) points at another zoo.
  eval      Top-1/top-5 of a zoo NAME, a converted model or a DO-Conv checkpoint on ImageNet
            validation data: class sub-folders named by synset (torchvision ImageFolder, GluonCV)
            or the flat ILSVRC2012 folder with a label file (LOC_val_solution.csv, 'FILE INDEX'
            lines as Caffe's val.txt, or one synset per line), found beside the images or given
            with --labels. --data mnist: the small zoo's test digits. Preprocessing as torchvision
            (Resize(256) with PIL's bilinear, CenterCrop(224), mean/std of the entry or model),
            decoding on worker threads while the network runs; --limit N takes N evenly spaced
            images. Undecodable images are reported and counted, not fatal. Writes a verification
            record (default NAME.verification.json) that 'registry verify' adds to an entry.
  registry verify
            Add an eval record to an entry's verified accuracy in a registry folder's manifest.json
            (default the bundled one); the record's model hash must be one of the entry's artifacts.

Options:
  -o, --output OUT        Output file; its extension picks the format (.onnx .pth .safetensors .npz
                          .h5 for keras-h5, .params for gluon-params). Only a regular file is
                          replaced (never a FIFO, device or folder). '-o - --to FORMAT' writes a
                          single-file format to standard output once complete (summary on stderr).
                          A TensorFlow.js folder replaces only an earlier model folder (exactly
                          model.json and its weight files).
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
  --device cpu|gpu        predict, eval: where to run (gpu tries onnxruntime's CUDA provider, then its
                          WebGPU provider, then @tensorflow/tfjs-node-gpu where installed).
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
  // With -o - the model itself is on standard output: the summary goes to standard error.
  const report = values.output === STDOUT ? process.stderr : process.stdout;
  report.write(values.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatConvert(summary)}\n`);
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
  const threads = positiveInt(values.threads, '--threads');
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

async function runList(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...COMMON, registry: { type: 'string' }, offline: { type: 'boolean' } });
  if (values.help) return printUsage();
  if (positionals.length > 1) throw new DoconvError('BAD_ARGUMENT', 'list takes at most one PATTERN');
  const { manifest } = await loadManifest(values.registry, values.offline ?? offlineFromEnv());
  const entries = listEntries(manifest, positionals[0]);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(entries.map((e) => ({ name: e.name, family: e.architecture.family, depth: e.architecture.depth, paper: e.accuracy.paper ?? null, recorded: e.accuracy.recorded ?? null, verified: e.accuracy.verified.length, artifacts: e.artifacts.length })), null, 2)}\n`);
    return 0;
  }
  const rows = [['name', 'family', 'top-1 (paper: base +gain)', 'recorded', 'weights']];
  for (const e of entries) {
    const p = e.accuracy.paper;
    rows.push([e.name, e.architecture.family, p ? `${p.doconvTop1.toFixed(2)} (${p.baselineTop1.toFixed(2)} +${p.doconvGain.toFixed(2)})` : '-', e.accuracy.recorded ? `${e.accuracy.recorded.top1.toFixed(2)} ${e.accuracy.recorded.dataset}` : '-', e.artifacts.length > 0 ? 'yes' : 'none published']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  process.stdout.write(`${rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')}\n`);
  return 0;
}

async function runInfo(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...COMMON, registry: { type: 'string' }, offline: { type: 'boolean' } });
  if (values.help) return printUsage();
  const name = onePositional(positionals, 'network name');
  const { manifest, location } = await loadManifest(values.registry, values.offline ?? offlineFromEnv());
  const e = findEntry(manifest, name, location);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(e, null, 2)}\n`);
    return 0;
  }
  const a = e.architecture;
  const lines = [`${e.name}: ${e.description}`, `  architecture  ${a.family}, ${a.block} blocks [${a.layers.join(', ')}], groups ${a.groups}, ${a.numClasses} classes`, `  input         ${e.input.size.join('x')} ${e.input.layout}, mean [${e.input.mean.join(', ')}], std [${e.input.std.join(', ')}]`];
  if (e.accuracy.paper) lines.push(`  paper         top-1 ${e.accuracy.paper.doconvTop1} on ${e.accuracy.paper.dataset} (baseline ${e.accuracy.paper.baselineTop1}, DO-Conv +${e.accuracy.paper.doconvGain})`);
  if (e.accuracy.gluoncvReferenceTop1 !== undefined) lines.push(`  GluonCV ref.  top-1 ${e.accuracy.gluoncvReferenceTop1} (plain network)`);
  if (e.accuracy.recorded) lines.push(`  recorded      top-1 ${e.accuracy.recorded.top1} on ${e.accuracy.recorded.dataset} ${e.accuracy.recorded.split} (${e.accuracy.recorded.count} images, ${e.accuracy.recorded.measuredBy})`);
  for (const v of e.accuracy.verified) lines.push(`  verified      top-1 ${v.top1}%${v.correct !== undefined ? ` (${v.correct}/${v.count})` : ` of ${v.count}`} on ${v.dataset}, ${v.backend} on ${v.executionProvider ?? v.device} (${v.device}), doconv-zoo ${v.toolVersion}, ${v.date.slice(0, 10)}`);
  lines.push(e.artifacts.length > 0 ? `  artifacts     ${e.artifacts.map((x) => `${x.format} ${x.size} bytes sha256 ${x.sha256.slice(0, 12)}...`).join('; ')}` : `  artifacts     none: ${e.artifactsNote ?? ''}`);
  lines.push(`  license       ${e.license}`, `  paper         ${e.paper.title} (${e.paper.url})`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

async function runPull(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...COMMON, registry: { type: 'string' }, offline: { type: 'boolean' }, to: { type: 'string' } });
  if (values.help) return printUsage();
  const name = onePositional(positionals, 'network name');
  const to = oneOf(values.to, ['source', 'onnx', 'tfjs'] as const, '--to');
  const tty = process.stderr.isTTY && !values.json && !values.quiet;
  const bar = (done: number, total: number) => {
    const width = 30;
    const f = total > 0 ? done / total : 0;
    process.stderr.write(`\r[${'#'.repeat(Math.round(f * width)).padEnd(width)}] ${(f * 100).toFixed(0).padStart(3)}% ${(done / 2 ** 20).toFixed(1)}/${(total / 2 ** 20).toFixed(1)} MiB`);
  };
  const result = await pull(name, {
    ...(values.registry ? { registry: values.registry } : {}),
    ...(values.offline ? { offline: true } : {}),
    ...(to ? { to } : {}),
    ...(tty ? { onProgress: bar } : {}),
    onMessage: values.json || values.quiet ? () => {} : (m) => process.stderr.write(`${tty ? '\n' : ''}${m}\n`),
  });
  if (tty) process.stderr.write('\n');
  process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${result.fromCache ? 'cached' : 'pulled'} ${name}: ${result.converted ?? result.path}\n`);
  return 0;
}

async function runRegistry(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'verify') return runRegistryVerify(rest, printUsage);
  if (sub !== 'add') throw new DoconvError('BAD_ARGUMENT', `unknown registry command '${sub ?? ''}'; use 'registry add CKPT --name NAME --registry DIR' or 'registry verify NAME --record FILE'`);
  const { values, positionals } = parse(rest, {
    ...COMMON,
    name: { type: 'string' },
    registry: { type: 'string' },
    description: { type: 'string' },
    license: { type: 'string' },
    'no-copy': { type: 'boolean' },
  });
  if (values.help) return printUsage();
  const file = onePositional(positionals, 'checkpoint');
  if (values.name === undefined || values.registry === undefined) throw new DoconvError('BAD_ARGUMENT', 'registry add needs --name NAME and --registry DIR');
  const entry = await addToRegistry(file, {
    name: values.name,
    registry: values.registry,
    ...(values.description ? { description: values.description } : {}),
    ...(values.license ? { license: values.license } : {}),
    noCopy: values['no-copy'] ?? false,
  });
  process.stdout.write(values.json ? `${JSON.stringify(entry, null, 2)}\n` : `added ${entry.name} to ${values.registry} (${entry.artifacts[0]!.size} bytes, sha256 ${entry.artifacts[0]!.sha256})\n`);
  return 0;
}

function printUsage(): number {
  process.stdout.write(`${USAGE}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const json = rest.includes('--json');
  // `-o -` puts the converted model on standard output: a JSON error must not be mixed into it.
  const dataOnStdout = rest.some((a, i) => ((a === '-o' || a === '--output') && rest[i + 1] === STDOUT) || a === '--output=-');
  try {
    switch (command) {
      case 'inspect':
        return await runInspect(rest);
      case 'convert':
        return await runConvert(rest);
      case 'predict':
        return await runPredict(rest);
      case 'list':
        return await runList(rest);
      case 'info':
        return await runInfo(rest);
      case 'pull':
        return await runPull(rest);
      case 'registry':
        return await runRegistry(rest);
      case 'eval':
        return await runEval(rest, printUsage);
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
      if (json) (dataOnStdout ? process.stderr : process.stdout).write(`${JSON.stringify({ error: err.toJSON() })}\n`);
      return 1;
    }
    const e = err as Error;
    process.stderr.write(`doconv-zoo: internal error: ${escapeControl(String(e?.message ?? e))} (please report this; DOCONV_ZOO_DEBUG=1 shows the stack)\n`);
    if (process.env.DOCONV_ZOO_DEBUG) process.stderr.write(`${e.stack}\n`);
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
