import { makeFolders } from '../emit/atomic.js';
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join, relative, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { loadCheckpoint } from '../checkpoint/load.js';
import { networkFromCheckpoint } from '../arch/network.js';
import { depthOf } from '../arch/spec.js';
import { inferShapes } from '../graph/ir.js';
import type { Network } from '../arch/network.js';
import { writeAll, writeFileAtomic } from '../emit/atomic.js';
import { DoconvError } from '../errors.js';
import { parseManifest, readManifestFile, validManifest } from './manifest.js';
import type { Entry, Manifest } from './schema.js';

export interface AddOptions {
  name: string;
  registry: string;
  description?: string;
  license?: string;
  /** Reference the file where it is (relative to the registry) instead of copying it in. */
  noCopy?: boolean;
  /** A top-1 measured elsewhere, with where: recorded in the entry as such. */
  recorded?: Entry['accuracy']['recorded'];
}

/**
 * Adds a checkpoint to a registry folder: it must convert (its network is recognised), its SHA-256 and
 * size are recorded, the file is copied to `artifacts/`, and the entry is written into manifest.json
 * (created if missing), so any static file server can host the folder as a zoo.
 */
export async function addToRegistry(file: string, options: AddOptions): Promise<Entry> {
  if (!/^[a-z0-9_]+$/.test(options.name)) throw new DoconvError('BAD_ARGUMENT', `--name must be lowercase letters, digits and _, got '${options.name}'`);
  const ckpt = await loadCheckpoint(file);
  let entry: Entry;
  try {
    const net = networkFromCheckpoint(ckpt);
    const [h, w] = net.preprocessing.inputSize;
    entry = {
      name: options.name,
      description: options.description ?? `${net.name} (${ckpt.framework} DO-Conv checkpoint, ${ckpt.layers.length} DO-Conv layers)`,
      architecture: architectureOf(net),
      input: { size: [h, w], channels: net.graph.inputShape[0], layout: net.preprocessing.layout, mean: net.preprocessing.mean, std: net.preprocessing.std, resize: net.preprocessing.resize, crop: net.preprocessing.crop },
      accuracy: { ...(options.recorded ? { recorded: options.recorded } : {}), verified: [] },
      artifacts: [],
      license: options.license ?? 'unknown',
      paper: { title: 'DO-Conv: Depthwise Over-parameterized Convolutional Layer', arxiv: '2006.12030', url: 'https://arxiv.org/abs/2006.12030' },
    };
    const format = ckpt.framework;
    const sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
    const dir = resolve(options.registry);
    let url: string;
    if (options.noCopy) url = relative(dir, resolve(file));
    else {
      makeFolders(join(dir, 'artifacts'));
      const target = join(dir, 'artifacts', `${options.name}${extname(file) || '.bin'}`);
      if (resolve(file) !== target) copyFileSync(file, target);
      url = relative(dir, target);
    }
    entry.artifacts.push({ format, urls: [url.split('\\').join('/')], sha256, size: statSync(file).size, filename: basename(url) });
  } finally {
    ckpt.close();
  }
  const manifestPath = join(resolve(options.registry), 'manifest.json');
  const manifest: Manifest = existsSync(manifestPath)
    ? parseManifest(readManifestFile(manifestPath), manifestPath)
    : { schemaVersion: 1, name: basename(resolve(options.registry)), entries: [] };
  const at = manifest.entries.findIndex((e) => e.name === entry.name);
  if (at >= 0) manifest.entries[at] = { ...entry, accuracy: { ...entry.accuracy, verified: manifest.entries[at]!.accuracy.verified } };
  else manifest.entries.push(entry);
  const valid = validManifest(manifest, manifestPath);
  writeFileAtomic(manifestPath, (fd) => writeAll(fd, Buffer.from(`${JSON.stringify(valid, null, 1)}\n`)));
  return entry;
}

/**
 * What an entry says of a network's structure: the name `--arch` takes and the real values of a
 * ResNet-family spec; for another network (the MNIST conv stack, a Keras Sequential model) what can
 * be known from its graph (its convolutions and dense layers, its classes from the classifier's
 * output), with blocks per stage, groups and width left out rather than made up.
 */
export function architectureOf(net: Network): Entry['architecture'] {
  const spec = net.spec;
  if (spec !== undefined) {
    return { name: net.name, family: spec.family, depth: depthOf(spec), block: spec.block, layers: [...spec.layers], groups: spec.groups, widthPerGroup: spec.widthPerGroup, numClasses: spec.numClasses };
  }
  const output = inferShapes(net.graph).get(net.graph.output);
  const numClasses = output?.at(-1);
  if (output === undefined || output.length !== 2 || numClasses === undefined || numClasses < 1) {
    throw new DoconvError('BAD_ARGUMENT', `${net.name} does not end in a classifier (its output has shape [${(output ?? []).join(', ')}]); a zoo entry needs one`);
  }
  // keras_sequential is recognised from the file's model config only: no --arch name builds it.
  const buildable = net.name !== 'keras_sequential';
  return {
    ...(buildable ? { name: net.name } : {}),
    family: 'custom',
    depth: net.graph.nodes.filter((n) => n.op.kind === 'Conv' || n.op.kind === 'Dense').length,
    block: 'custom',
    numClasses,
  };
}
