import { checkKerasModelConfig } from '../arch/keras-sequential.js';
import { isKerasModelWeight } from './keras-weights.js';
import { DoconvError } from '../errors.js';
import type { ByteSource } from '../formats/byte-source.js';
import { HDF5_LIMITS, withHdf5Input, type Hdf5Input } from '../formats/hdf5.js';
import { PyDict } from '../formats/pickle-values.js';
import { MAX_METADATA_ENTRY, ZipReader } from '../formats/zip.js';
import type { ReadResult } from './read-result.js';

/** The first string of a text attribute (`model_config`, `keras_version`), undefined when absent. */
function textAttribute(f: Hdf5Input, path: string, name: string): string | undefined {
  const value = f.stringAttribute(path, name);
  return value === undefined ? undefined : (value[0] ?? '');
}

/**
 * A string-list attribute, joining Keras' chunks (`layer_names0`, `layer_names1`, ...) when it
 * outgrew the object header. The attribute names are read once per object, so thousands of
 * chunks cost linear time.
 */
function stringList(f: Hdf5Input, path: string, name: string): string[] | undefined {
  const strip = (list: string[]): string[] => list.map((s) => s.replace(/\0+$/, ''));
  const whole = f.stringAttribute(path, name);
  if (whole !== undefined) return strip(whole);
  if (!f.hasAttribute(path, `${name}0`)) return undefined;
  const out: string[] = [];
  for (let i = 0; f.hasAttribute(path, `${name}${i}`); i++) out.push(...f.stringAttribute(path, `${name}${i}`)!);
  return strip(out);
}

/** Refuses what a weight path names when it is not a dataset of this file (external links included). */
function requireDataset(f: Hdf5Input, path: string): void {
  const kind = f.kind(path);
  if (kind === 'dataset') return;
  if (kind === 'external-link') throw new DoconvError('UNSUPPORTED_FEATURE', 'an external link (to another HDF5 file) is refused', { key: path });
  throw new DoconvError('CORRUPT', kind === 'missing' ? 'no such dataset' : `a ${kind}, not a dataset`, { key: path });
}

/** Numeric names (Keras 3 `vars/0..N`) in numeric order, others in the file's order. */
function weightOrder(names: string[]): string[] {
  return names.slice().sort((a, b) => (/^\d+$/.test(a) && /^\d+$/.test(b) ? Number(a) - Number(b) : 0));
}

/**
 * Every dataset under the given top-level names, depth first, each object visited once by its
 * address: a group hard-linked into itself ends the walk instead of recursing forever, and a
 * dataset named by many links is read once (every link then names the same Tensor).
 */
function readAllDatasets(f: Hdf5Input, tops: string[], root: PyDict): void {
  const visited = new Set<string>();
  const stack: { path: string; depth: number }[] = tops
    .slice()
    .reverse()
    .map((path) => ({ path, depth: 1 }));
  while (stack.length > 0) {
    const { path, depth } = stack.pop()!;
    const kind = f.kind(path);
    if (kind === 'dataset') {
      root.set(path, f.readDataset(path));
      continue;
    }
    if (kind !== 'group') {
      requireDataset(f, path);
      continue;
    }
    const address = f.address(path);
    if (visited.has(address)) continue;
    visited.add(address);
    if (depth > HDF5_LIMITS.maxDepth) throw new DoconvError('LIMIT_EXCEEDED', `groups nest more than ${HDF5_LIMITS.maxDepth} deep`, { key: path });
    const children = weightOrder(f.childNames(path));
    for (let i = children.length - 1; i >= 0; i--) stack.push({ path: `${path}/${children[i]}`, depth: depth + 1 });
  }
}

function parseConfig(text: string | undefined, where: string): unknown {
  if (text === undefined) return undefined;
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    throw new DoconvError('CORRUPT', `the ${where} is not valid JSON`, { key: where });
  }
  checkKerasModelConfig(config);
  return config;
}

/** Keras 2: layers in layer_names order, each layer's weights in weight_names order. */
function readKeras2Layers(f: Hdf5Input, base: string, layerNames: string[], root: PyDict): void {
  for (const layer of layerNames) {
    const group = `${base}${layer}`;
    if (f.kind(group) !== 'group') throw new DoconvError('CORRUPT', `layer_names lists '${layer}' but there is no such group`, { key: layer });
    for (const w of stringList(f, group, 'weight_names') ?? []) {
      if (w === '') continue; // a layer without weights
      const path = `${group}/${w}`;
      requireDataset(f, path);
      root.set(`${layer}/${w}`, f.readDataset(path));
    }
  }
}

/** Keras 2 `model.save()` / `save_weights()` HDF5 files, or a Keras 3 `.weights.h5`. */
function readKerasHdf5(bytes: Uint8Array, config?: unknown): ReadResult {
  return withHdf5Input(bytes, (f) => {
    const root = new PyDict(true);
    const notes: string[] = [];
    const modelConfig = config ?? parseConfig(textAttribute(f, '/', 'model_config'), 'model_config attribute');
    const top = f.childNames('/');
    const hasModelWeights = top.includes('model_weights') && f.kind('/model_weights') === 'group';
    const weightsRoot = hasModelWeights ? '/model_weights' : '/';
    const layerNames = stringList(f, weightsRoot, 'layer_names');
    let format = 'keras-h5';
    if (layerNames !== undefined) {
      readKeras2Layers(f, hasModelWeights ? 'model_weights/' : '', layerNames, root);
      if (!hasModelWeights) notes.push('save_weights() file: no model_config; the architecture comes from the layer names or --arch');
    } else if (top.includes('layers') || top.includes('vars')) {
      // Keras 3 .weights.h5: layers/<name>/vars/<i>, nested models as layers/<name>/layers/...
      format = 'keras3-weights-h5';
      readAllDatasets(f, top, root);
      const optimizer = root.keys.filter((k) => typeof k === 'string' && !isKerasModelWeight(k)).length;
      if (optimizer > 0) notes.push(`${optimizer} optimizer/metric variable(s) (optimizer/vars/...) are not model weights: graphs and other frameworks' checkpoints leave them out`);
    } else {
      throw new DoconvError('WRONG_FORMAT', 'an HDF5 file that is not a Keras weights file (no model_weights, layer_names or layers group)', { offset: 0 });
    }
    const kerasVersion = f.hasAttribute('/', 'keras_version') ? textAttribute(f, '/', 'keras_version') : undefined;
    if (kerasVersion !== undefined) notes.push(`written by Keras ${kerasVersion}`);
    return { format, framework: 'keras', root, notes, ...(modelConfig !== undefined ? { config: modelConfig } : {}) };
  });
}

export function readKerasH5File(source: ByteSource): ReadResult {
  return readKerasHdf5(source.read(0, source.size));
}

/** A Keras 3 `.keras` archive: config.json plus model.weights.h5. */
export function readKerasZipFile(source: ByteSource): ReadResult {
  const zip = new ZipReader(source);
  if (!zip.entries.has('config.json')) throw new DoconvError('CORRUPT', 'a .keras archive without config.json', { key: 'config.json' });
  const config = parseConfig(Buffer.from(zip.read('config.json', { maxBytes: MAX_METADATA_ENTRY })).toString('utf8'), 'config.json');
  const weightsName = [...zip.entries.keys()].find((n) => n.endsWith('.weights.h5'));
  if (weightsName === undefined) throw new DoconvError('CORRUPT', 'a .keras archive without a .weights.h5 entry', { key: 'model.weights.h5' });
  const r = readKerasHdf5(zip.read(weightsName), config);
  return { ...r, format: 'keras3-archive' };
}
