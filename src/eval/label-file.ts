import { basename, extname, relative } from 'node:path';
import { DoconvError } from '../errors.js';
import { classIndex, WNID } from './class-index.js';
import { findNear, readText } from './text-file.js';

/** Label files of the flat ILSVRC2012 validation folder, looked for in it and its parent. */
export const LABEL_FILES = ['LOC_val_solution.csv', 'val.txt', 'imagenet_2012_validation_synset_labels.txt', 'ILSVRC2012_validation_ground_truth.txt'];

/** Each image's label as its label file gives it: a synset id, or a class index; and the line that gives it. */
export interface FlatLabels {
  labelFile: string;
  labels: Map<string, { label: string | number; line: number }>;
}

/** What a label file says of the images of a flat folder (no class indices yet: they depend on the network). */
export function readFlatLabels(root: string, files: string[], labelFileOption: string | undefined): FlatLabels {
  const labelFile = labelFileOption ?? findNear(root, LABEL_FILES);
  if (labelFile === undefined)
    throw new DoconvError('BAD_ARGUMENT', `a folder of images without class folders needs a label file (--labels FILE; looked for ${LABEL_FILES.join(', ')} here and in the parent)`, { file: root });
  const labels = parseLabelFile(files, labelFile);
  const unlabelled = files.filter((f) => !labels.has(f));
  if (unlabelled.length > 0) throw new DoconvError('BAD_ARGUMENT', `${unlabelled.length} image(s) have no label, e.g. '${relative(root, unlabelled[0]!)}'`, { file: labelFile });
  return { labelFile, labels };
}

/** Labels of the flat ILSVRC2012 folder, from one of the label files people have. */
function parseLabelFile(files: string[], labelFile: string): FlatLabels['labels'] {
  const text = readText(labelFile);
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  const stem = (f: string) => basename(f, extname(f));
  const byStem = new Map(files.map((f) => [stem(f), f]));
  const labels: FlatLabels['labels'] = new Map();
  const where = (i: number) => ({ file: labelFile, key: `line ${i + 1}` });
  const assign = (name: string, label: string | number, i: number) => {
    const f = byStem.get(stem(name));
    if (f === undefined) throw new DoconvError('BAD_ARGUMENT', `labels an image that is not in the folder: '${name}'`, where(i));
    labels.set(f, { label, line: i });
  };
  if (/^ImageId\s*,\s*PredictionString/i.test(lines[0] ?? '')) {
    // Kaggle's LOC_val_solution.csv: ImageId,"wnid x0 y0 x1 y1 wnid ..." (the first synset is the label)
    lines.slice(1).forEach((l, i) => {
      const [id, pred] = l.split(',');
      const wnid = (pred ?? '').trim().split(/\s+/)[0] ?? '';
      if (id === undefined || !WNID.test(wnid)) throw new DoconvError('BAD_ARGUMENT', `expected 'ImageId,nXXXXXXXX ...', got '${l.slice(0, 80)}'`, where(i + 1));
      assign(id, wnid, i + 1);
    });
    return labels;
  }
  const tokens = lines.map((l) => l.split(/\s+/));
  if (tokens.every((t) => t.length >= 2)) {
    // "FILE LABEL" (Caffe's val.txt: a 0-based class index) or "FILE nXXXXXXXX"
    const wnids = tokens.every((t) => WNID.test(t[1]!));
    tokens.forEach((t, i) => {
      if (!wnids && !/^\d+$/.test(t[1]!)) throw new DoconvError('BAD_ARGUMENT', `expected 'FILE CLASS_INDEX' or 'FILE nXXXXXXXX', got '${lines[i]!.slice(0, 80)}'`, where(i));
      assign(t[0]!, wnids ? t[1]! : Number(t[1]), i);
    });
    return labels;
  }
  if (tokens.every((t) => t.length === 1 && WNID.test(t[0]!))) {
    // TensorFlow's imagenet_2012_validation_synset_labels.txt: line i labels the i-th file in name order.
    if (lines.length !== files.length) throw new DoconvError('BAD_ARGUMENT', `${lines.length} labels for ${files.length} images (one synset per line labels the files in name order)`, { file: labelFile });
    lines.forEach((w, i) => assign(files[i]!, w, i));
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

/**
 * The class index of each image: a class index is checked against the network's classes; a synset
 * goes through the same list as class folders do (classIndex: --synsets, a list beside the data,
 * ImageNet-1k's for a 1000-class network, or the synsets are exactly the network's classes).
 */
export function flatClassIndices(root: string, flat: FlatLabels, options: { numClasses?: number; synsets?: string }): Map<string, number> {
  const synsets = [...flat.labels.values()].flatMap((l) => (typeof l.label === 'string' ? [l.label] : []));
  const index =
    synsets.length > 0
      ? classIndex(synsets, { one: (w) => `synset '${w}' of the label file`, many: 'synsets in the label file', where: { file: flat.labelFile } }, { near: root, ...options })
      : undefined;
  const out = new Map<string, number>();
  for (const [file, { label, line }] of flat.labels) {
    const c = typeof label === 'string' ? index!.get(label)! : label;
    if (options.numClasses !== undefined && c >= options.numClasses)
      throw new DoconvError('BAD_ARGUMENT', `class ${c} is outside the network's ${options.numClasses} classes`, { file: flat.labelFile, key: `line ${line + 1}` });
    out.set(file, c);
  }
  return out;
}
