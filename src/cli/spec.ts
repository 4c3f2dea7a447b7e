import { OPTION_TARGETS, QUANTIZATIONS, TARGETS, type ConvertTarget } from '../convert.js';

/**
 * The one table of the CLI's options: the parser (args.ts) and the help (help.ts) are both made
 * from it, so what --help prints is what is accepted.
 */
export const COMMAND_NAMES = ['inspect', 'convert', 'predict', 'list', 'info', 'pull', 'eval', 'registry add', 'registry verify'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export interface OptionSpec {
  /** The long name, without the leading `--`. */
  name: string;
  short?: string;
  type: 'boolean' | 'string';
  /** Repeatable (a string option given several times). */
  multiple?: boolean;
  /** The value's placeholder in usage and help (string options). */
  value?: string;
  /** The values accepted; any other is a bad argument. */
  choices?: readonly string[];
  description: string;
  /** The commands that take it. */
  commands: readonly CommandName[];
  /** The command needs it. */
  required?: boolean;
  /** convert: the output formats it applies to (others refuse it); from convert.ts's OPTION_TARGETS. */
  targets?: readonly ConvertTarget[];
}

export interface CommandSpec {
  name: CommandName;
  /** Positional arguments as the usage line shows them. */
  positionals: string;
  /** One line for the global overview. */
  summary: string;
  /** The longer explanation in the command's own help. */
  description: string;
  example: string;
}

const ALL = COMMAND_NAMES;
const REPORTING: readonly CommandName[] = ['convert', 'predict', 'pull', 'eval', 'registry add', 'registry verify'];
export const FRAMEWORKS = ['pytorch', 'keras', 'gluon'] as const;
export const DTYPES = ['float32', 'float16', 'bfloat16', 'float64'] as const;
export const BACKENDS = ['onnx', 'tfjs'] as const;
export const TFJS_BACKENDS = ['wasm', 'cpu', 'tensorflow'] as const;
export const DEVICES = ['cpu', 'gpu'] as const;
export const PULL_TARGETS = ['source', 'onnx', 'tfjs'] as const;
export const DECODERS = ['sharp', 'jpeg-js'] as const;

export const OPTIONS: readonly OptionSpec[] = [
  // convert's output
  {
    name: 'output', short: 'o', type: 'string', value: 'OUT', required: true, commands: ['convert'],
    description: "Output file or folder; its extension picks the format (.pth .pt .th .ckpt .safetensors .npz .onnx, .h5 for keras-h5, .params for gluon-params, a folder for tfjs). Only a regular file, or an earlier TensorFlow.js model folder, is replaced; never the input itself. '-o - --to FORMAT' writes a single-file format to standard output once complete (the summary goes to standard error).",
  },
  { name: 'to', type: 'string', value: 'FORMAT', choices: TARGETS, commands: ['convert'], description: "Output format, overriding the output's extension." },

  // reading checkpoints
  { name: 'from', type: 'string', value: 'FRAMEWORK', choices: FRAMEWORKS, commands: ['inspect', 'convert'], description: 'Read the input as this framework (default: recognised from the content).' },
  { name: 'config', type: 'string', value: 'MODEL.json', commands: ['inspect', 'convert'], description: 'Keras: the model config (model.to_json()) for save_weights() files that carry none.' },
  {
    name: 'kernel', type: 'string', multiple: true, value: 'NAME=MxN', commands: ['inspect', 'convert', 'predict'],
    description: "Kernel shape of the layers NAME matches (* and ? wildcards) whose M*N is not a square (a state dict does not record it), e.g. --kernel 'layer1.*.conv2=3x1'. Repeatable; a NAME that matches no DO-Conv layer is an error.",
  },
  { name: 'tensors', type: 'boolean', commands: ['inspect'], description: 'Also list every tensor: name, dtype, shape.' },

  // convert: what is written
  { name: 'flatten', type: 'boolean', targets: OPTION_TARGETS.flatten.targets, commands: ['convert'], description: "Write only the model's state dict: no nesting, no DataParallel 'module.' prefix." },
  {
    name: 'state-dict-key', type: 'string', value: 'KEY', targets: OPTION_TARGETS.stateDictKey.targets, commands: ['convert'],
    description: 'The nested key holding the state dict: with --flatten the one written (pth, safetensors, npz), for onnx and tfjs the network read.',
  },
  { name: 'dtype', type: 'string', value: 'DTYPE', choices: DTYPES, targets: OPTION_TARGETS.dtype.targets, commands: ['convert'], description: 'Cast the floating-point tensors of the output (default: keep each source dtype; fusion runs in float32).' },
  { name: 'keep-doconv', type: 'boolean', targets: OPTION_TARGETS.keepDoconv.targets, commands: ['convert'], description: 'Do not fuse: write the DO-Conv tensors as they are (a plain format translation).' },
  {
    name: 'arch', type: 'string', value: 'NAME', targets: OPTION_TARGETS.arch.targets, commands: ['convert'],
    description: 'The architecture (resnet50_v1b, resnet50_v1, resnext50_32x4d, plain18, cifar_resnet20_v1b, ...) or auto; default recognised from the tensors.',
  },
  { name: 'no-fold-bn', type: 'boolean', targets: OPTION_TARGETS.noFoldBn.targets, commands: ['convert'], description: 'Keep the BatchNormalization nodes instead of folding them into the convolutions.' },
  { name: 'fp16', type: 'boolean', targets: OPTION_TARGETS.fp16.targets, commands: ['convert'], description: 'float16 weights and compute (input and output stay float32).' },
  { name: 'fp16-io', type: 'boolean', targets: OPTION_TARGETS.fp16Io.targets, commands: ['convert'], description: 'float16 weights and compute, and float16 input and output too.' },
  {
    name: 'input-size', type: 'string', value: 'HxW', targets: OPTION_TARGETS.inputSize.targets, commands: ['convert'],
    description: "The input's height and width (N for NxN; default the architecture's: 224x224, 32x32 for CIFAR nets); the batch dimension is always dynamic.",
  },
  { name: 'dynamic-size', type: 'boolean', targets: OPTION_TARGETS.dynamicSize.targets, commands: ['convert'], description: 'Symbolic height and width (any size; onnxruntime runs ~10% slower than with a fixed size).' },
  {
    name: 'quantize', type: 'string', value: 'Q', choices: QUANTIZATIONS, targets: OPTION_TARGETS.quantize.targets, commands: ['convert'],
    description: 'Weights as float16, affine uint8 per tensor (as tensorflowjs_converter) or uint8-channel (per output channel); default none.',
  },

  // predict
  { name: 'input', short: 'i', type: 'string', value: 'X.npy', required: true, commands: ['predict'], description: 'A float32 .npy batch in the layout the model declares (NCHW; NHWC for Keras models); TensorFlow.js models take NHWC, and an NCHW batch is transposed for them (and back).' },
  { name: 'output', short: 'o', type: 'string', value: 'Y.npy', required: true, commands: ['predict'], description: 'Where the output batch is written, as float32 .npy.' },
  { name: 'arch', type: 'string', value: 'NAME', commands: ['predict', 'eval'], description: 'For a DO-Conv checkpoint: the architecture (default recognised from the tensors).' },

  // running a model
  { name: 'backend', type: 'string', value: 'BACKEND', choices: BACKENDS, commands: ['predict', 'eval'], description: 'The inference engine: onnxruntime-node (default) or TensorFlow.js (a model folder written by convert --to tfjs).' },
  { name: 'tfjs-backend', type: 'string', value: 'NAME', choices: TFJS_BACKENDS, commands: ['predict', 'eval'], description: 'With --backend tfjs: the TensorFlow.js backend to try first (default wasm; tensorflow is @tensorflow/tfjs-node where installed).' },
  {
    name: 'device', type: 'string', value: 'DEVICE', choices: DEVICES, commands: ['predict', 'eval'],
    description: "Where to run (default cpu); gpu tries onnxruntime's CUDA provider, then its WebGPU provider, then @tensorflow/tfjs-node-gpu where installed.",
  },
  { name: 'threads', type: 'string', value: 'N', commands: ['predict', 'eval'], description: "Inference threads (onnxruntime intra-op; default onnxruntime's choice)." },

  // the zoo
  { name: 'registry', type: 'string', value: 'URL|DIR', commands: ['list', 'info', 'pull', 'eval'], description: 'The zoo to read: a manifest URL or a registry folder (default DOCONV_ZOO_REGISTRY, else the bundled one).' },
  { name: 'offline', type: 'boolean', commands: ['list', 'info', 'pull'], description: 'Never open a socket: use the bundled manifest and the cache only (also DOCONV_ZOO_OFFLINE=1).' },
  { name: 'to', type: 'string', value: 'FORMAT', choices: PULL_TARGETS, commands: ['pull'], description: 'source (default): the weights as published; onnx or tfjs: also converted (and cached).' },

  // registry add
  { name: 'name', type: 'string', value: 'NAME', required: true, commands: ['registry add'], description: "The entry's name: lowercase letters, digits and _." },
  { name: 'registry', type: 'string', value: 'DIR', required: true, commands: ['registry add'], description: 'The registry folder; its manifest.json gets the entry (and artifacts/ the copy).' },
  { name: 'description', type: 'string', value: 'TEXT', commands: ['registry add'], description: "The entry's description (default: the recognised network and framework)." },
  { name: 'license', type: 'string', value: 'LICENSE', commands: ['registry add'], description: "The weights' license." },
  { name: 'no-copy', type: 'boolean', commands: ['registry add'], description: 'Reference the checkpoint where it is (relative to the registry) instead of copying it in.' },

  // eval
  { name: 'data', type: 'string', value: 'DIR|mnist', required: true, commands: ['eval'], description: "ImageNet validation images (class sub-folders named by synset, or the flat ILSVRC2012 folder with its labels), or 'mnist' for the small zoo's test digits." },
  { name: 'labels', type: 'string', value: 'FILE', commands: ['eval'], description: "A flat folder's labels: LOC_val_solution.csv, 'FILE INDEX' lines as Caffe's val.txt, or one synset per line (default: looked for beside the images)." },
  { name: 'synsets', type: 'string', value: 'FILE', commands: ['eval'], description: 'The synset ids in class order, for class folders or label files that do not name all classes.' },
  { name: 'batch', type: 'string', value: 'N', commands: ['eval'], description: 'Images per inference call (default 16).' },
  { name: 'limit', type: 'string', value: 'N', commands: ['eval'], description: 'Evaluate N evenly spaced images instead of all.' },
  { name: 'decoder', type: 'string', value: 'NAME', choices: DECODERS, commands: ['eval'], description: 'The image decoder (default sharp where it loads, else jpeg-js).' },
  { name: 'decode-threads', type: 'string', value: 'N', commands: ['eval'], description: 'Decoding worker threads (default: cores - 1, at least 1).' },
  { name: 'resize', type: 'string', value: 'N', commands: ['eval'], description: "Resize the shorter side to N (PIL's bilinear; default the entry's or model's, e.g. 256)." },
  { name: 'crop', type: 'string', value: 'N', commands: ['eval'], description: "Center crop N x N (default the entry's or model's, e.g. 224)." },
  { name: 'mean', type: 'string', value: 'R,G,B', commands: ['eval'], description: "Per-channel mean, one or three numbers (default the entry's or model's)." },
  { name: 'std', type: 'string', value: 'R,G,B', commands: ['eval'], description: "Per-channel standard deviation, one or three numbers (default the entry's or model's)." },
  { name: 'record', type: 'string', value: 'FILE', commands: ['eval'], description: "Where the verification record goes (default NAME.verification.json); 'registry verify' adds it to an entry." },
  { name: 'no-record', type: 'boolean', commands: ['eval'], description: 'Write no verification record.' },
  { name: 'predictions', type: 'string', value: 'FILE.csv', commands: ['eval'], description: "Write each image's label and top-1 class as CSV." },

  // registry verify
  { name: 'record', type: 'string', value: 'FILE', required: true, commands: ['registry verify'], description: 'The verification record eval wrote.' },
  { name: 'registry', type: 'string', value: 'DIR', commands: ['registry verify'], description: "The registry folder whose manifest.json gets the verification (default the bundled one)." },
  { name: 'force', type: 'boolean', commands: ['registry verify'], description: "Add the record even when the model it measured is none of the entry's artifacts (a verification of the same model, data, backend and device is always replaced)." },

  // every command
  { name: 'json', type: 'boolean', commands: ALL, description: 'Print a machine-readable result (errors too, as {"error": {...}}) on standard output.' },
  { name: 'quiet', short: 'q', type: 'boolean', commands: REPORTING, description: 'Print nothing but errors (and the --json result): no summary, notes or progress.' },
  { name: 'verbose', type: 'boolean', commands: ['predict', 'eval'], description: "Let the native libraries (onnxruntime's CUDA and WebGPU providers, tfjs-node) print their own warnings on standard error (also DOCONV_ZOO_DEBUG=1)." },
  { name: 'help', short: 'h', type: 'boolean', commands: ALL, description: 'Show this help.' },

];

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'inspect', positionals: 'CKPT', summary: "A checkpoint's format, tensors and DO-Conv layers.",
    description: "Lists a checkpoint's format, state dict, recognised network and DO-Conv layers (C_in, C_out, groups, kernel, D_mul, bias). --json prints {format, framework, tensors, doconvLayers, ...}.",
    example: 'doconv-zoo inspect examples/doconv_resnet20_cifar.pth',
  },
  {
    name: 'convert', positionals: 'CKPT', summary: 'Fuse DO-Conv layers: a plain checkpoint, ONNX or TF.js model.',
    description:
      "Fuses every DO-Conv layer (W, D, d_diag -> weight, exactly as the reference does) and writes a checkpoint that a plain network with ordinary Conv2d loads strictly; every other tensor passes through unchanged, key order and nesting kept. With onnx output the network is recognised (ResNet v1b/ResNeXt/Plain/CIFAR ResNet in torchvision naming; --arch overrides), BatchNorm folded into the convolutions, and an ONNX model (opset 17) written: input 'input' NCHW float32 [batch, 3, H, W], output 'logits' [batch, classes]. tfjs output is a TensorFlow.js graph model folder (model.json + 4 MB shards) that tf.loadGraphModel runs in Node and in browsers; it takes NHWC input. An option that does not apply to the output format is refused.",
    example: 'doconv-zoo convert examples/doconv_resnet20_cifar.pth -o resnet20.onnx',
  },
  {
    name: 'predict', positionals: 'MODEL', summary: 'Run a model or a DO-Conv checkpoint on a .npy batch.',
    description:
      'Runs a model (.onnx, a TensorFlow.js folder with --backend tfjs, or a DO-Conv checkpoint converted in memory) on a float32 .npy batch and writes the output as .npy.',
    example: 'doconv-zoo predict resnet20.onnx --input examples/doconv_resnet20_cifar.input.npy --output logits.npy',
  },
  {
    name: 'list', positionals: '[PATTERN]', summary: 'The zoo: each network with its published and recorded top-1.',
    description: "Lists the zoo: every network of the DO-Conv paper's ImageNet table with its published top-1 (baseline and DO-Conv gain), and the small zoo trained here. PATTERN takes * and ?.",
    example: "doconv-zoo list 'resnet*'",
  },
  {
    name: 'info', positionals: 'NAME', summary: 'One zoo entry: architecture, input, accuracy, artifacts.',
    description: 'Shows one entry: architecture, input, accuracy and where it comes from, artifacts, license.',
    example: 'doconv-zoo info doconv_mnist_sample',
  },
  {
    name: 'pull', positionals: 'NAME', summary: "Download a network's weights into the cache (and convert).",
    description:
      "Downloads a network's weights into the cache (XDG_CACHE_HOME/doconv-zoo, or DOCONV_ZOO_CACHE), verified by SHA-256, resumed after an interruption, mirrors tried in order; --to onnx|tfjs also converts them (cached).",
    example: 'doconv-zoo pull doconv_mnist_sample --to onnx',
  },
  {
    name: 'eval', positionals: 'NAME|MODEL', summary: 'Top-1/top-5 of a zoo network, model or checkpoint.',
    description:
      "Measures top-1/top-5 of a zoo NAME, a converted model or a DO-Conv checkpoint on ImageNet validation data (or --data mnist), preprocessed as torchvision does (Resize(256) with PIL's bilinear, CenterCrop(224), the entry's or model's mean/std), decoding on worker threads while the network runs. Undecodable images are reported and counted, not fatal. Writes a verification record that 'registry verify' adds to an entry.",
    example: 'doconv-zoo eval doconv_mnist_sample --data mnist',
  },
  {
    name: 'registry add', positionals: 'CKPT', summary: 'Add a checkpoint to a registry folder.',
    description: 'Adds a checkpoint to a registry folder: its network must be recognised; its SHA-256 and size are recorded in the folder\'s manifest.json.',
    example: 'doconv-zoo registry add examples/doconv_resnet20_cifar.pth --name my_resnet20 --registry my-zoo',
  },
  {
    name: 'registry verify', positionals: 'NAME', summary: "Add an eval record to an entry's verified accuracy.",
    description: "Adds an eval record to an entry's verified accuracy in a registry folder's manifest.json; the record's model hash must be one of the entry's artifacts.",
    example: 'doconv-zoo registry verify doconv_mnist_sample --record doconv_mnist_sample.verification.json',
  },
];

export function commandSpec(name: CommandName): CommandSpec {
  return COMMANDS.find((c) => c.name === name)!;
}

/** The options a command takes: the ones it needs first, then in table order. */
export function optionsFor(command: CommandName): OptionSpec[] {
  const own = OPTIONS.filter((o) => o.commands.includes(command));
  return [...own.filter((o) => o.required), ...own.filter((o) => !o.required)];
}
