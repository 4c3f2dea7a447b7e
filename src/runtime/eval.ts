import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DoconvError, type ErrorLocation } from '../errors.js';
import { DecodePool, defaultDecodeThreads } from '../eval/decode-pool.js';
import { defaultDecoderName, DEFAULT_LIMITS, type DecoderName } from '../eval/decode.js';
import { fingerprint, labelDataset, scanDataset, spreadIndices, type Dataset, type DatasetScan } from '../eval/datasets.js';
import type { PreprocessSpec } from '../eval/preprocess.js';
import { findEntry, loadManifest } from '../registry/manifest.js';
import { offlineFromEnv } from '../registry/cache.js';
import { sourceArtifact } from '../registry/pull.js';
import type { Entry, Verification } from '../registry/schema.js';
import { VERSION } from '../version.js';
import { loadModel } from './load-model.js';
import type { Backend, Device, LoadModelOptions, Model } from './types.js';

export interface EvalOptions {
  /** 'mnist', an ImageFolder tree (class sub-folders) or a flat ILSVRC2012 validation folder. */
  data: string;
  /** Flat folders: the label file; default looked for beside the images. */
  labels?: string;
  /** Synset ids in class order, for class folders or label files that do not name all classes. */
  synsets?: string;
  backend?: Backend;
  device?: Device;
  tfjsBackend?: LoadModelOptions['tfjsBackend'];
  /** Let native libraries print their warnings on stderr (default: DOCONV_ZOO_DEBUG set). */
  verbose?: boolean;
  /** Inference threads (onnxruntime intra-op). */
  threads?: number;
  /** Images per inference call (default 16). */
  batchSize?: number;
  /** Evaluate this many evenly spaced samples instead of all. */
  limit?: number;
  decoder?: DecoderName;
  /** Decoding threads (default: cores - 1, at least 1). */
  decodeThreads?: number;
  registry?: string;
  arch?: string;
  /** Overrides of the preprocessing the entry or the model's metadata gives. */
  preprocessing?: Partial<Omit<PreprocessSpec, 'layout' | 'channels'>>;
  /** Keep each sample's top-1 class (result.predictions). */
  keepPredictions?: boolean;
  /** Seconds one image may take to read, decode and preprocess before it is counted as failed (default 30). */
  imageTimeoutSeconds?: number;
  onProgress?: (progress: EvalProgress) => void;
}

export interface EvalProgress {
  done: number;
  total: number;
  correct: number;
  failed: number;
  seconds: number;
}

export interface EvalFailure {
  file: string;
  error: string;
}

export interface EvalResult {
  model: string;
  modelSha256: string;
  dataset: { description: string; layout: string; root?: string; fingerprint: string; available: number; evaluated: number };
  /** Samples that went through the network (decoded). */
  count: number;
  correct: number;
  correctTop5: number | undefined;
  top1: number;
  top5: number | undefined;
  failed: EvalFailure[];
  backend: Backend;
  device: Device;
  executionProvider: string;
  decoder: DecoderName | undefined;
  preprocessing: PreprocessSpec & { source: string };
  batchSize: number;
  seconds: number;
  imagesPerSecond: number;
  /** With keepPredictions: per evaluated sample, its id, label and top-1 class (-1: not decoded). */
  predictions?: { id: string; label: number; top1: number }[];
  /** Of `seconds`, the time the network sat waiting for decoded images (a starved pipeline). */
  waitSeconds: number;
  record: Verification;
}

const IMAGENET_DEFAULT = { resize: 256, crop: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const MAX_IMAGE_FILE = 64 * 2 ** 20;

function sha256File(path: string): string {
  const target = statSync(path).isDirectory() ? join(path, 'model.json') : path;
  return createHash('sha256').update(readFileSync(target)).digest('hex');
}

/** The zoo entry for a name (undefined for paths). */
async function entryFor(model: string, options: EvalOptions): Promise<Entry | undefined> {
  if (existsSync(model) || !/^[a-z0-9_]+$/.test(model)) return undefined;
  const { manifest, location } = await loadManifest(options.registry, offlineFromEnv());
  return findEntry(manifest, model, location);
}

/** Where the network takes channels: from the backend, metadata, or the declared input shape. */
function layoutOf(model: Model): 'NCHW' | 'NHWC' {
  if (model.backend === 'tfjs') return 'NHWC';
  if (model.preprocessing?.layout) return model.preprocessing.layout;
  const c = model.inputShape[1];
  return c === 1 || c === 3 ? 'NCHW' : 'NHWC';
}

function channelsOf(model: Model, layout: 'NCHW' | 'NHWC', entry: Entry | undefined): number {
  const c = layout === 'NCHW' ? model.inputShape[1] : model.inputShape[3];
  return typeof c === 'number' ? c : (entry?.input.channels ?? 3);
}

/** Bounds of preprocessing sizes, wherever they come from (a model's metadata, a zoo entry, the flags). */
export const MIN_CROP = 8;
export const MAX_SIZE = 4096;
/** Decoded float32 tensors of one batch may take at most this many bytes (and as many again wait in flight). */
export const PIPELINE_BYTES = 512 * 2 ** 20;
const DEFAULT_BATCH = 16;

type SpecKey = 'resize' | 'crop' | 'mean' | 'std' | 'layout';
/** Where a preprocessing value came from, to name it when it is refused. */
type Origin = (key: SpecKey) => { where: ErrorLocation; prefix: string };

function shown(value: unknown): string {
  if (typeof value === 'string') return `'${value.slice(0, 40)}'`;
  return (JSON.stringify(value) ?? String(value)).slice(0, 40);
}

function refuse(origin: Origin, key: SpecKey, reason: string): DoconvError {
  const { where, prefix } = origin(key);
  return new DoconvError('LIMIT_EXCEEDED', `${prefix}${reason}`, where);
}

function checkedSize(value: unknown, key: 'resize' | 'crop', origin: Origin): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MIN_CROP || value > MAX_SIZE)
    throw refuse(origin, key, `${shown(value)} is not a whole number in ${MIN_CROP}..${MAX_SIZE} (the ${key === 'crop' ? 'centre crop' : 'shorter side after resizing'}, in pixels)`);
  return value;
}

function checkedTriple(value: unknown, key: 'mean' | 'std', origin: Origin): number[] {
  const ok = Array.isArray(value) && value.length >= 1 && value.length <= 4 && value.every((x) => typeof x === 'number' && Number.isFinite(x) && (key === 'mean' || x !== 0));
  if (!ok) throw refuse(origin, key, `${shown(value)} is not a list of 1 to 4 finite numbers${key === 'std' ? ', none zero' : ''}`);
  return value as number[];
}

/** The preprocessing values present in `raw` (metadata, an entry, the flags), each checked against its bound. */
function checkedPreprocessing(raw: unknown, origin: Origin): Partial<Pick<PreprocessSpec, SpecKey>> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    const { where } = origin('crop');
    throw new DoconvError('LIMIT_EXCEEDED', `${shown(raw)} is not an object of preprocessing values`, { ...where, key: where.key?.replace(/\.crop$/, '') });
  }
  const r = raw as Record<string, unknown>;
  const out: Partial<Pick<PreprocessSpec, SpecKey>> = {};
  if (r.crop !== undefined) out.crop = checkedSize(r.crop, 'crop', origin);
  if (r.resize !== undefined) out.resize = checkedSize(r.resize, 'resize', origin);
  if (r.mean !== undefined) out.mean = checkedTriple(r.mean, 'mean', origin);
  if (r.std !== undefined) out.std = checkedTriple(r.std, 'std', origin);
  if (r.layout !== undefined) {
    if (r.layout !== 'NCHW' && r.layout !== 'NHWC') throw refuse(origin, 'layout', `${shown(r.layout)} is not 'NCHW' or 'NHWC'`);
    out.layout = r.layout;
  }
  return out;
}

const fromModel = (file: string): Origin => (key) => ({ where: { file, key: `preprocessing.${key}` }, prefix: '' });
const fromEntry = (entry: Entry): Origin => (key) => ({ where: { file: `zoo entry ${entry.name}`, key: `input.${key}` }, prefix: '' });
const fromFlags: Origin = (key) => ({ where: {}, prefix: `--${key}: ` });

/** The network's fixed input height and width, where it declares them. */
function fixedInputSize(model: Model, layout: 'NCHW' | 'NHWC'): [number, number] | undefined {
  const [h, w] = layout === 'NCHW' ? [model.inputShape[2], model.inputShape[3]] : [model.inputShape[1], model.inputShape[2]];
  return typeof h === 'number' && typeof w === 'number' && h > 0 && w > 0 ? [h, w] : undefined;
}

/**
 * The preprocessing: the zoo entry's, else the model's metadata, else ImageNet's, with the flags
 * over it. Every value is bounded (sizes MIN_CROP..MAX_SIZE, 1 to 4 finite means and non-zero stds)
 * and a refusal names where it came from: a model's metadata is as hostile as its weights.
 */
function preprocessingFor(modelRef: string, model: Model, entry: Entry | undefined, options: EvalOptions): PreprocessSpec & { source: string } {
  const meta = model.preprocessing !== undefined ? checkedPreprocessing(model.preprocessing, fromModel(modelRef)) : undefined;
  const layout = model.backend === 'tfjs' ? 'NHWC' : (meta?.layout ?? layoutOf(model));
  const channels = channelsOf(model, layout, entry);
  const [base, origin]: [Omit<PreprocessSpec, 'layout' | 'channels'> & { source: string }, Origin] = entry
    ? [{ ...IMAGENET_DEFAULT, ...checkedPreprocessing(entry.input, fromEntry(entry)), source: `zoo entry ${entry.name}` }, fromEntry(entry)]
    : meta
      ? [{ ...IMAGENET_DEFAULT, ...meta, source: 'model metadata' }, fromModel(modelRef)]
      : [{ ...IMAGENET_DEFAULT, source: 'ImageNet default (the model carries no preprocessing)' }, fromFlags];
  const o = checkedPreprocessing(options.preprocessing ?? {}, fromFlags);
  const originOf = (key: SpecKey) => (o[key] !== undefined ? fromFlags : origin);
  const spec = { resize: base.resize, crop: base.crop, mean: base.mean, std: base.std, ...o, layout, channels, source: Object.keys(o).length > 0 ? `${base.source}, overridden` : base.source };
  if (spec.resize < spec.crop) throw refuse(originOf('resize'), 'resize', `resize ${spec.resize} is smaller than the crop ${spec.crop}`);
  const fixed = fixedInputSize(model, layout);
  if (fixed !== undefined && (fixed[0] !== spec.crop || fixed[1] !== spec.crop))
    throw refuse(originOf('crop'), 'crop', `crop ${spec.crop}, but the model takes ${fixed[0]}x${fixed[1]} input`);
  return spec;
}

/** The batch size: the one asked for within the pipeline budget, or the default shrunk to fit it. */
function batchFor(spec: PreprocessSpec, asked: number | undefined): number {
  const bytes = spec.crop * spec.crop * spec.channels * 4;
  const most = Math.max(1, Math.floor(PIPELINE_BYTES / bytes));
  if (asked === undefined) return Math.min(DEFAULT_BATCH, most);
  if (asked > most)
    throw new DoconvError(
      'LIMIT_EXCEEDED',
      `--batch: a batch of ${asked} images of ${spec.channels}x${spec.crop}x${spec.crop} is ${Math.ceil((asked * bytes) / 2 ** 20)} MiB of float32, over the ${PIPELINE_BYTES / 2 ** 20} MiB pipeline budget; use --batch at most ${most}`,
    );
  return asked;
}

function argmax(logits: Float32Array, offset: number, classes: number): number {
  let best = 0;
  for (let c = 1; c < classes; c++) if (logits[offset + c]! > logits[offset + best]!) best = c;
  return best;
}

/** Top-1 and top-5 hits of one row of logits. */
function hits(logits: Float32Array, offset: number, classes: number, label: number): [boolean, boolean] {
  const target = logits[offset + label]!;
  let above = 0;
  for (let c = 0; c < classes; c++) {
    const v = logits[offset + c]!;
    // Ties rank by index, as argmax/topk do: an earlier class with the same score is ahead.
    if (v > target || (v === target && c < label)) above++;
  }
  return [above === 0, above < 5];
}

/** The model; a checkpoint is built at the crop size (a fixed size runs ~10% faster than a symbolic one). */
function loadForEval(modelRef: string, options: EvalOptions, entry: Entry | undefined, dataset: DatasetScan): Promise<Model> {
  const crop = options.preprocessing?.crop ?? entry?.input.crop ?? (dataset.kind === 'tensors' ? dataset.height : undefined);
  return loadModel(modelRef, {
    backend: options.backend ?? 'onnx',
    device: options.device ?? 'cpu',
    ...(options.tfjsBackend ? { tfjsBackend: options.tfjsBackend } : {}),
    ...(options.threads ? { threads: options.threads } : {}),
    // idle inference threads would otherwise spin on the cores the decoding threads need
    ...(dataset.kind !== 'tensors' ? { spinning: false } : {}),
    ...(options.registry ? { registry: options.registry } : {}),
    ...(options.arch ? { arch: options.arch } : {}),
    ...(options.verbose !== undefined ? { verbose: options.verbose } : {}),
    // without a crop from the entry or the flags, the network's own size (its preprocessing's crop)
    ...(crop !== undefined ? { inputSize: [crop, crop] as [number, number] } : { fixedSize: true }),
  });
}

/** The network's input shape for `rows` samples of the preprocessing's size. */
function inputShape(spec: PreprocessSpec, rows: number): number[] {
  return spec.layout === 'NCHW' ? [rows, spec.channels, spec.crop, spec.crop] : [rows, spec.crop, spec.crop, spec.channels];
}

/**
 * The network's class count: the last dimension of its output, as the model declares it, or, where
 * that is symbolic or undeclared (TensorFlow.js), as a run on one blank input gives it.
 */
async function classCount(model: Model, spec: PreprocessSpec): Promise<number> {
  const declared = model.outputShape.at(-1);
  if (typeof declared === 'number' && declared > 0) return declared;
  const y = await model.predict({ data: new Float32Array(spec.crop * spec.crop * spec.channels), shape: inputShape(spec, 1) });
  const classes = y.shape.at(-1);
  if (classes === undefined || classes < 1 || y.data.length !== classes)
    throw new DoconvError('MODEL_INVALID', `the network's output for one image has shape [${y.shape.join(', ')}], not one score per class; eval needs a classifier`);
  return classes;
}

/** The samples evaluated (all, or --limit evenly spaced), with their ids and labels. */
interface Selection {
  order: number[];
  ids: string[];
  labels: number[];
}

function select(dataset: Dataset, limit: number | undefined): Selection {
  const total = dataset.kind === 'images' ? dataset.samples.length : dataset.labels.length;
  const order = spreadIndices(total, limit);
  return {
    order,
    ids: order.map((i) => (dataset.kind === 'images' ? dataset.samples[i]!.file : dataset.ids[i]!)),
    labels: order.map((i) => (dataset.kind === 'images' ? dataset.samples[i]!.label : dataset.labels[i]!)),
  };
}

/** Where the k-th selected sample's input tensor comes from: decoding threads, or the tensors themselves. */
interface SampleSource {
  fetch: (k: number) => Promise<Float32Array>;
  decoder: DecoderName | undefined;
  pool: DecodePool | undefined;
}

async function sampleSource(dataset: Dataset, spec: PreprocessSpec, selection: Selection, options: EvalOptions): Promise<SampleSource> {
  if (dataset.kind === 'images') {
    const decoder = options.decoder ?? (await defaultDecoderName());
    const pool = await DecodePool.start(options.decodeThreads ?? defaultDecodeThreads(), { root: dataset.root, decoder, spec, maxFileBytes: MAX_IMAGE_FILE, maxPixels: DEFAULT_LIMITS.maxPixels, seconds: options.imageTimeoutSeconds ?? DEFAULT_LIMITS.seconds });
    return { fetch: (k) => pool.decode(selection.ids[k]!), decoder, pool };
  }
  if (spec.crop !== dataset.height || spec.channels !== 1)
    throw new DoconvError('BAD_ARGUMENT', `the ${dataset.height}x${dataset.width} grey digits need a network taking 1x${dataset.height}x${dataset.width} input (this one takes ${spec.channels}x${spec.crop}x${spec.crop})`);
  const per = dataset.height * dataset.width;
  const m = Math.fround(spec.mean[0] ?? 0);
  const s = Math.fround(spec.std[0] ?? 1);
  return {
    fetch: async (k) => {
      const i = selection.order[k]!;
      return Float32Array.from(dataset.images.subarray(i * per, (i + 1) * per), (v) => Math.fround(Math.fround(v - m) / s));
    },
    decoder: undefined,
    pool: undefined,
  };
}

interface Tally {
  count: number;
  correct: number;
  correct5: number;
  classes: number;
  failed: EvalFailure[];
  top1s: Int32Array | undefined;
  seconds: number;
  waitSeconds: number;
}

/**
 * Runs the network over the selection batch by batch, with up to three batches of samples being
 * fetched ahead of the one it runs.
 */
async function runBatches(model: Model, spec: PreprocessSpec, selection: Selection, source: SampleSource, options: EvalOptions, batchSize: number): Promise<Tally> {
  const { ids, labels } = selection;
  const n = ids.length;
  const per = spec.crop * spec.crop * spec.channels;
  const shape = (rows: number) => inputShape(spec, rows);
  const futures: Promise<Float32Array | Error>[] = [];
  // Fetched ahead: three batches and two per thread, as far as the pipeline budget allows.
  const threads = options.decodeThreads ?? defaultDecodeThreads();
  const ahead = Math.max(threads, Math.min(batchSize * 3 + threads * 2, Math.floor(PIPELINE_BYTES / (per * 4)) - batchSize));
  const schedule = (upTo: number) => {
    for (let k = futures.length; k < Math.min(upTo, n); k++) futures.push(source.fetch(k).catch((e: Error) => e));
  };
  // Fetching starts while one warm-up batch runs, so images/s is the pipeline's steady rate
  // (a session's first run allocates and picks kernels).
  schedule(batchSize + ahead);
  const warm = Math.min(batchSize, n);
  await model.predict({ data: new Float32Array(warm * per), shape: shape(warm) });
  const input = new Float32Array(per * batchSize); // reused: a batch is copied in, run, then overwritten
  const t: Tally = { count: 0, correct: 0, correct5: 0, classes: 0, failed: [], top1s: options.keepPredictions ? new Int32Array(n).fill(-1) : undefined, seconds: 0, waitSeconds: 0 };
  const started = performance.now();
  let waited = 0;
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    schedule(end + ahead);
    const waitFrom = performance.now();
    const got = await Promise.all(futures.slice(start, end));
    waited += performance.now() - waitFrom;
    const rows: number[] = [];
    got.forEach((g, r) => {
      if (g instanceof Error) t.failed.push({ file: ids[start + r]!, error: g.message });
      else {
        input.set(g, rows.length * per);
        rows.push(start + r);
      }
    });
    for (let k = start; k < end; k++) futures[k] = Promise.resolve(new Float32Array(0)); // let the decoded batch go
    if (rows.length > 0) {
      const y = await model.predict({ data: input.subarray(0, rows.length * per), shape: shape(rows.length) });
      const classes = (t.classes = y.shape[y.shape.length - 1]!);
      rows.forEach((k, r) => {
        const label = labels[k]!;
        if (label >= classes) throw new DoconvError('BAD_ARGUMENT', `label ${label} of '${ids[k]}' is outside the network's ${classes} classes`);
        const [t1, t5] = hits(y.data, r * classes, classes, label);
        if (t.top1s) t.top1s[k] = argmax(y.data, r * classes, classes);
        if (t1) t.correct++;
        if (t5) t.correct5++;
      });
      t.count += rows.length;
    }
    options.onProgress?.({ done: end, total: n, correct: t.correct, failed: t.failed.length, seconds: (performance.now() - started) / 1000 });
  }
  t.seconds = (performance.now() - started) / 1000;
  t.waitSeconds = waited / 1000;
  return t;
}

/**
 * Top-1/top-5 of a network on a dataset, with a verification record. Images are decoded on worker
 * threads while the network runs on the previous batch.
 */
export async function evaluate(modelRef: string, options: EvalOptions): Promise<EvalResult> {
  if (options.batchSize !== undefined && !(Number.isInteger(options.batchSize) && options.batchSize > 0)) throw new DoconvError('BAD_ARGUMENT', `batch size must be a positive integer, got ${options.batchSize}`);
  const seconds = options.imageTimeoutSeconds;
  if (seconds !== undefined && !(Number.isFinite(seconds) && seconds > 0 && seconds <= 3600)) throw new DoconvError('BAD_ARGUMENT', `the per-image time limit must be in (0, 3600] seconds, got ${seconds}`);
  if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit > 0)) throw new DoconvError('BAD_ARGUMENT', `--limit must be a positive integer, got ${options.limit}`);
  checkedPreprocessing(options.preprocessing ?? {}, fromFlags); // before the model is built at the flags' crop
  const entry = await entryFor(modelRef, options);
  // the folders and the label file are read first; their class indices need the network's class count
  const scan = scanDataset(options.data, options.labels ? { labels: options.labels } : {});
  const backend = options.backend ?? 'onnx';
  const device = options.device ?? 'cpu';
  const model = await loadForEval(modelRef, options, entry, scan);
  let pool: DecodePool | undefined;
  try {
    const spec = preprocessingFor(modelRef, model, entry, options);
    const batchSize = batchFor(spec, options.batchSize);
    // every model, zoo entry or file: its own class count decides the labels, before any image is decoded
    const dataset = labelDataset(scan, { numClasses: await classCount(model, spec), ...(options.synsets ? { synsets: options.synsets } : {}) });
    const modelSha256 = (entry ? sourceArtifact(entry)?.sha256 : undefined) ?? model.metadata.source_sha256 ?? sha256File(modelRef);
    const selection = select(dataset, options.limit);
    const source = await sampleSource(dataset, spec, selection, options);
    pool = source.pool;
    const t = await runBatches(model, spec, selection, source, options, batchSize);
    const { ids, labels } = selection;
    if (t.count === 0) throw new DoconvError('BAD_ARGUMENT', `none of the ${ids.length} images could be decoded (first: ${t.failed[0]?.file}: ${t.failed[0]?.error})`, { file: options.data });
    const top1 = round4((100 * t.correct) / t.count);
    const top5 = t.classes > 5 ? round4((100 * t.correct5) / t.count) : undefined;
    const record: Verification = {
      dataset: dataset.description,
      datasetFingerprint: `${fingerprint(ids, labels)} files=${ids.length}`,
      count: t.count,
      correct: t.correct,
      ...(t.failed.length > 0 ? { failed: t.failed.length } : {}),
      top1,
      ...(top5 !== undefined ? { top5 } : {}),
      backend,
      device,
      executionProvider: model.executionProvider,
      ...(source.decoder ? { decoder: source.decoder } : {}),
      toolVersion: VERSION,
      date: new Date().toISOString(),
      modelSha256,
    };
    const available = dataset.kind === 'images' ? dataset.samples.length : dataset.labels.length;
    return {
      model: modelRef,
      modelSha256,
      dataset: { description: dataset.description, layout: dataset.kind === 'images' ? dataset.layout : 'tensors', ...(dataset.kind === 'images' ? { root: dataset.root } : {}), fingerprint: record.datasetFingerprint, available, evaluated: ids.length },
      count: t.count,
      correct: t.correct,
      correctTop5: top5 !== undefined ? t.correct5 : undefined,
      top1,
      top5,
      failed: t.failed,
      backend,
      device,
      executionProvider: model.executionProvider,
      decoder: source.decoder,
      preprocessing: spec,
      batchSize,
      seconds: t.seconds,
      imagesPerSecond: ids.length / t.seconds,
      waitSeconds: t.waitSeconds,
      ...(t.top1s ? { predictions: ids.map((id, k) => ({ id, label: labels[k]!, top1: t.top1s![k]! })) } : {}),
      record,
    };
  } finally {
    await pool?.close();
    await model.dispose();
  }
}

function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
