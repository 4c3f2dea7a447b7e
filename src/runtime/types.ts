import type { Preprocessing } from '../arch/spec.js';

export type Backend = 'onnx' | 'tfjs';
export type Device = 'cpu' | 'gpu';

/** Input to `predict`: a flat Float32Array (shape taken from the model) or data with its shape. */
export type PredictInput = Float32Array | { data: Float32Array; shape: readonly number[] };

export interface Prediction {
  data: Float32Array;
  shape: number[];
}

export interface LoadModelOptions {
  /** Inference engine; 'onnx' (onnxruntime-node) is the default. */
  backend?: Backend;
  /** 'cpu' (default) or 'gpu' (the first GPU execution provider that works on this machine). */
  device?: Device;
  /**
   * tfjs: the backend to use ('tensorflow' from @tensorflow/tfjs-node where installed, else 'wasm', then
   * 'cpu', by default). One asked for by name must start: it is an error, naming those that can, when not.
   */
  tfjsBackend?: 'wasm' | 'cpu' | 'tensorflow';
  /** Intra-op threads (default: onnxruntime's choice). */
  threads?: number;
  /** onnxruntime: let idle inference threads spin (default true; eval turns it off so decoding threads get the cores). */
  spinning?: boolean;
  /** For DO-Conv checkpoints: the architecture ('auto' default) and kernel overrides. */
  arch?: string;
  kernels?: string[];
  /** For DO-Conv checkpoints: the spatial input size to build for; default symbolic (any size). */
  inputSize?: [number, number];
  /** For DO-Conv checkpoints without inputSize: build at the network's own input size (its preprocessing's crop) instead of a symbolic one, which runs ~10% slower. */
  fixedSize?: boolean;
  /** For zoo names: the registry (URL or folder; default DOCONV_ZOO_REGISTRY or the bundled one). */
  registry?: string;
  /** For DO-Conv checkpoints: the full shape the data will have (its layout is the network's). */
  inputShape?: readonly number[];
  /**
   * Let native libraries speak on stderr (onnxruntime's GPU providers, Dawn and Vulkan, libtensorflow).
   * Default: DOCONV_ZOO_DEBUG set. Otherwise their warnings are kept out and what matters reaches the
   * caller in the error.
   */
  verbose?: boolean;
}

/** A loaded network, the shape users of onnxruntime-web and tfjs expect. */
export interface Model {
  readonly backend: Backend;
  /** The execution provider that runs it ('cpu', 'cuda', 'webgpu'). */
  readonly executionProvider: string;
  /** The layout it takes: NCHW, or NHWC (TensorFlow.js models, ONNX models of Keras networks). */
  readonly layout: 'NCHW' | 'NHWC';
  /** Input shape as declared: [batch, C, H, W] (NHWC: [batch, H, W, C]), symbolic dimensions as strings. */
  readonly inputShape: (number | string)[];
  readonly outputShape: (number | string)[];
  /** Mean, std and input size from the model's metadata, when doconv-zoo wrote it. */
  readonly preprocessing: Preprocessing | undefined;
  readonly architecture: string | undefined;
  readonly metadata: Record<string, string>;
  predict(input: PredictInput): Promise<Prediction>;
  dispose(): Promise<void>;
}
