import { DoconvError, type ErrorLocation } from '../errors.js';
import { IMAGENET_1K_WNIDS } from './imagenet-1k-wnids.js';
import { findNear, readText } from './text-file.js';

/** A WordNet id, as ImageNet names its synsets. */
export const WNID = /^n\d{8}$/;
/** Synset lists looked for beside the data (in its folder and the parent) when --synsets is not given. */
export const SYNSET_FILES = ['LOC_synset_mapping.txt', 'synsets.txt', 'synset_words.txt', 'imagenet_lsvrc_2015_synsets.txt'];

/** Synset ids in class order from a file (first token of each non-empty line). */
export function readSynsets(file: string): string[] {
  const ids = readText(file)
    .split(/\r?\n/)
    .map((l) => l.trim().split(/[\s,]+/)[0] ?? '')
    .filter((t) => t !== '');
  const bad = ids.findIndex((t) => !WNID.test(t));
  if (bad >= 0) throw new DoconvError('BAD_ARGUMENT', `line ${bad + 1} is not a WordNet id (nXXXXXXXX): '${ids[bad]}'`, { file });
  const first = new Map<string, number>();
  ids.forEach((w, i) => {
    const seen = first.get(w);
    if (seen !== undefined) throw new DoconvError('BAD_ARGUMENT', `synset '${w}' is listed twice (lines ${seen + 1} and ${i + 1}), so its class index is ambiguous`, { file });
    first.set(w, i);
  });
  return ids;
}

/** How the messages name what is being given class indices: class folders, or a label file's synsets. */
export interface ClassNames {
  /** One of them: "class folder 'x'". */
  one: (name: string) => string;
  /** All of them: 'class folders'. */
  many: string;
  /** Where an error points (the dataset folder, or the label file). */
  where: ErrorLocation;
}

export interface ClassIndexOptions {
  /** The network's class count (its output's last dimension); undefined: the names are taken to be all the classes. */
  numClasses?: number;
  /** --synsets FILE: the network's class ids, one per line in index order. */
  synsets?: string;
  /** The dataset folder, beside which a synset list (SYNSET_FILES) is looked for. */
  near: string;
}

/** Class ids in index order, and what to call the list in messages. */
interface ClassList {
  ids: readonly string[];
  name: string;
  where: ErrorLocation;
}

const synsetsHint = (n: number) => `pass --synsets FILE (the network's ${n} class ids, one per line in index order)`;

/** The list the names are looked up in: --synsets, else one beside the data, else ImageNet-1k's for a 1000-class network. */
function classList(names: readonly string[], options: ClassIndexOptions): ClassList | undefined {
  if (options.synsets !== undefined) return { ids: readSynsets(options.synsets), name: `the --synsets list`, where: { file: options.synsets } };
  if (!names.every((n) => WNID.test(n))) return undefined;
  const found = findNear(options.near, SYNSET_FILES);
  if (found !== undefined) return { ids: readSynsets(found), name: 'the synset list found beside the data', where: { file: found } };
  if (options.numClasses === 1000) return { ids: IMAGENET_1K_WNIDS, name: 'the 1000 ImageNet-1k (ILSVRC2012) synsets', where: {} };
  return undefined;
}

/**
 * The class index of each name (the distinct class-folder names, or the synsets a label file names).
 * Never a guess: the names are looked up in a synset list (--synsets, one found beside the data, or,
 * for a 1000-class network, the ImageNet-1k list), or they are exactly the network's classes and
 * their sorted order is the index order (torchvision's ImageFolder). Anything else is refused.
 */
export function classIndex(names: readonly string[], what: ClassNames, options: ClassIndexOptions): Map<string, number> {
  const n = options.numClasses;
  const sorted = [...new Set(names)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (n !== undefined && sorted.length > n) throw new DoconvError('BAD_ARGUMENT', `${sorted.length} ${what.many} but the network has ${n} classes: there is no class for some of them`, what.where);
  const list = classList(sorted, options);
  if (list !== undefined) {
    if (n !== undefined && list.ids.length !== n)
      throw new DoconvError('BAD_ARGUMENT', `${list.name} names ${list.ids.length} classes but the network has ${n}; it must list the network's classes in index order`, list.where);
    const index = new Map(list.ids.map((w, i) => [w, i]));
    const missing = sorted.find((name) => !index.has(name));
    if (missing !== undefined)
      throw new DoconvError('BAD_ARGUMENT', `${what.one(missing)} is not in ${list.name}, so its class index is unknown${options.synsets === undefined ? `; for another class set, ${synsetsHint(n ?? list.ids.length)}` : ''}`, what.where);
    return new Map(sorted.map((name) => [name, index.get(name)!]));
  }
  if (n === undefined || sorted.length === n) return new Map(sorted.map((name, i) => [name, i]));
  if (n === 1000) {
    const bad = sorted.find((name) => !WNID.test(name))!;
    throw new DoconvError(
      'BAD_ARGUMENT',
      `${what.one(bad)} is not a WordNet id (nXXXXXXXX): with ${sorted.length} ${what.many} for the network's 1000 classes, each must be an ImageNet-1k synset id for its class index to be known; rename it, give all 1000, or ${synsetsHint(n)}`,
      what.where,
    );
  }
  throw new DoconvError('BAD_ARGUMENT', `${sorted.length} ${what.many} but the network has ${n} classes, so which class each is cannot be known; give one per class (sorted names are the class order) or ${synsetsHint(n)}`, what.where);
}
