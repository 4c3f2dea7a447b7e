import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { detectPytorchLayers } from '../doconv/detect-pytorch.js';
import type { KernelOverride } from '../doconv/kernel-spec.js';
import { DoconvError } from '../errors.js';
import { FileSource, MemorySource, type ByteSource } from '../formats/byte-source.js';
import { readTorchFile } from '../readers/pytorch.js';
import { readGluonFile } from '../readers/gluon.js';
import type { ReadResult } from '../readers/read-result.js';
import { detectGluonLayers } from '../doconv/detect-gluon.js';
import { detectKerasLayers } from '../doconv/detect-keras.js';
import { readKerasH5File, readKerasZipFile } from '../readers/keras.js';
import type { DoConvLayer } from '../doconv/layer.js';
import type { PyValue } from '../formats/pickle-values.js';
import { FORMAT_DESCRIPTIONS, sniffFormat, type SniffedFormat } from '../readers/sniff.js';
import type { Checkpoint, Framework } from './checkpoint.js';
import { hashFileInBackground } from './file-hash.js';
import { hdf5Ready } from '../formats/hdf5.js';
import { collectTensors } from './tree.js';

export interface LoadOptions {
  /** Which framework to read as; default: recognised from the content. */
  from?: Framework;
  /** A framework config to use where the file has none (Keras `model.to_json()` for save_weights files). */
  config?: unknown;
  /** Start hashing the file on a worker thread right away (conversions that record the SHA-256). */
  hashInBackground?: boolean;
  /** Kernel shapes for DO-Conv layers whose M*N is not a square. */
  kernels?: readonly KernelOverride[];
}

interface FrameworkReader {
  framework: Framework;
  read(source: ByteSource): ReadResult;
  detect(root: PyValue, kernels: readonly KernelOverride[], config: unknown): DoConvLayer[];
}

const PYTORCH: FrameworkReader = { framework: 'pytorch', read: readTorchFile, detect: detectPytorchLayers };
const GLUON: FrameworkReader = { framework: 'gluon', read: readGluonFile, detect: (root) => detectGluonLayers(root) };
const KERAS_H5: FrameworkReader = { framework: 'keras', read: readKerasH5File, detect: (root, kernels, config) => detectKerasLayers(root, config, kernels) };
const KERAS_ZIP: FrameworkReader = { ...KERAS_H5, read: readKerasZipFile };

/** The reader for each format recognised by content. */
const READERS: Partial<Record<SniffedFormat, FrameworkReader>> = {
  'pytorch-zip': PYTORCH,
  'pytorch-legacy': PYTORCH,
  'mxnet-ndarray-list': GLUON,
  hdf5: KERAS_H5,
  'keras-zip': KERAS_ZIP,
};

/** Formats whose framework is known even where no reader handles them (yet). */
const FORMAT_FRAMEWORK: Partial<Record<SniffedFormat, Framework>> = { hdf5: 'keras', 'keras-zip': 'keras' };

/** Files up to this size are read into memory (tensors become views); larger ones are read on demand. */
const MEMORY_LIMIT = 1.5 * 1024 ** 3;

function hashSource(source: ByteSource): string {
  const h = createHash('sha256');
  const step = 64 << 20;
  for (let at = 0; at < source.size; at += step) h.update(source.read(at, Math.min(step, source.size - at)));
  return h.digest('hex');
}

function openSource(file: string): ByteSource {
  if (!existsSync(file)) throw new DoconvError('FILE_NOT_FOUND', 'no such file', { file });
  const st = statSync(file);
  if (!st.isFile()) throw new DoconvError('FILE_NOT_FOUND', 'not a regular file', { file });
  return st.size <= MEMORY_LIMIT ? new MemorySource(readFileSync(file)) : new FileSource(file);
}

/** Reads a checkpoint, recognising its format by content, and finds its DO-Conv layers. */
export async function loadCheckpoint(file: string, options: LoadOptions = {}): Promise<Checkpoint> {
  const source = openSource(file);
  const hash = options.hashInBackground ? hashFileInBackground(file, () => source.read(0, source.size)) : undefined;
  return loadCheckpointFrom(source, file, options, hash);
}

/** The same from bytes already in memory; `name` is what errors call the file. */
export async function loadCheckpointBytes(bytes: Uint8Array, name: string, options: LoadOptions = {}): Promise<Checkpoint> {
  const source = new MemorySource(bytes);
  return loadCheckpointFrom(source, name, options);
}

async function loadCheckpointFrom(source: ByteSource, file: string, options: LoadOptions, hash?: () => string): Promise<Checkpoint> {
  try {
    const format = sniffFormat(source);
    // The HDF5 library (WebAssembly, ~100 ms to start) is started only for files that need it.
    if (format === 'hdf5' || format === 'keras-zip') await hdf5Ready();
    if (format === 'empty') throw new DoconvError('FILE_EMPTY', 'the file is empty', { file, offset: 0 });
    const reader = READERS[format];
    const framework = reader?.framework ?? FORMAT_FRAMEWORK[format];
    if (options.from !== undefined && framework !== undefined && options.from !== framework) {
      throw new DoconvError('WRONG_FORMAT', `this is ${FORMAT_DESCRIPTIONS[format]}, not a ${options.from} checkpoint`, { file, offset: 0 });
    }
    if (reader === undefined) {
      throw new DoconvError(format === 'unknown' ? 'UNKNOWN_FORMAT' : 'WRONG_FORMAT', `this is ${FORMAT_DESCRIPTIONS[format]}, not a checkpoint doconv-zoo reads (PyTorch .pth, Keras .h5/.keras, GluonCV .params)`, { file, offset: 0 });
    }
    const read = reader.read(source);
    const tensors = collectTensors(read.root);
    if (tensors.length === 0) throw new DoconvError('NO_TENSORS', 'the checkpoint holds no tensors', { file });
    const notes = [...read.notes];
    if (read.config === undefined && options.config !== undefined) read.config = options.config;
    const layers = reader.detect(read.root, options.kernels ?? [], read.config);
    for (const l of layers) {
      if (l.pairing === 'pytorch' && l.D !== undefined && l.dDiag === undefined) notes.push(`${l.name}: no d_diag stored; the identity part is rebuilt from M*N and D_mul`);
      if (l.kernel === undefined) notes.push(`${l.name}: M*N = ${l.kernelArea} is not a square; converting needs --kernel '${l.name}=MxN'`);
    }
    let digest: string | undefined;
    const sha256 = (): string => (digest ??= hash ? hash() : hashSource(source));
    return { file, format: read.format, framework: read.framework, byteSize: source.size, root: read.root, tensors, layers, notes, sha256, close: () => source.close(), ...(read.config !== undefined ? { config: read.config } : {}) };
  } catch (err) {
    source.close();
    if (err instanceof DoconvError) throw err.inFile(file);
    if (err instanceof RangeError) throw new DoconvError('CORRUPT', `malformed data (${err.message})`, { file });
    throw err;
  }
}
