import { lstatSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DoconvError } from '../errors.js';
import { releaseTemp, removeTemp, trackTemp } from '../temp-files.js';
import { fileKind, readRegularFile } from '../formats/regular-file.js';
import { makeParentFolder, statOrUndefined } from './atomic.js';

// A TensorFlow.js model is a folder (model.json + weight shards). It is written beside its final
// place and renamed in; an existing folder is replaced only when it is exactly an earlier model
// (model.json and the files its weightsManifest names, nothing else, no subfolders), and the old
// folder is moved aside first and removed only once the new one is in place.

/** model.json is text: 64 MiB is far beyond any real one (the weights live in the shards). */
export const MAX_MODEL_JSON_BYTES = 64 << 20;

/** The file names an existing model.json's weightsManifest lists (plain names only), or [] if it names none. */
function manifestFiles(modelJson: string): Set<string> {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(readRegularFile(modelJson, MAX_MODEL_JSON_BYTES)).toString('utf8'));
    const groups = (parsed as { weightsManifest?: unknown }).weightsManifest;
    const names = new Set<string>();
    if (!Array.isArray(groups)) return names;
    for (const g of groups) {
      const paths = (g as { paths?: unknown } | null)?.paths;
      if (!Array.isArray(paths)) continue;
      for (const p of paths) if (typeof p === 'string' && p !== '' && basename(p) === p && p !== '.' && p !== '..') names.add(p);
    }
    return names;
  } catch {
    return new Set();
  }
}

/**
 * Refuses to replace `dir` unless it is missing, an empty folder, or exactly an earlier
 * TensorFlow.js model; the error names the first file that is not the model's.
 */
export function checkModelFolderReplaceable(dir: string): 'missing' | 'empty' | 'model' {
  const st = statOrUndefined(dir, false);
  if (st === undefined) return 'missing';
  if (!st.isDirectory()) {
    throw new DoconvError('NOT_REGULAR_FILE', `the output path is ${fileKind(st)}; a TensorFlow.js model is written to a new or empty folder, or replaces an earlier model folder`, { file: dir });
  }
  const entries = readdirSync(dir).sort();
  if (entries.length === 0) return 'empty';
  if (!entries.includes('model.json')) {
    throw new DoconvError('OUTPUT_FAILED', `the folder is not empty and holds no model.json (first file: '${entries[0]}'); only an earlier TensorFlow.js model folder is replaced, choose another output`, { file: dir });
  }
  const owned = manifestFiles(join(dir, 'model.json'));
  owned.add('model.json');
  for (const name of entries) {
    const est = lstatSync(join(dir, name));
    if (!owned.has(name) || !est.isFile()) {
      throw new DoconvError('OUTPUT_FAILED', `the folder holds '${name}', which is not part of the TensorFlow.js model there; only a folder holding exactly model.json and its weight files is replaced, choose another output`, { file: dir });
    }
  }
  return 'model';
}

/**
 * Writes a folder through a temporary sibling: `fill` writes the files into it; then the old
 * folder (if any, and only if replaceable) is renamed aside, the new one renamed in, the old removed.
 */
export function writeFolderAtomic(dir: string, fill: (tmp: string) => void): void {
  checkModelFolderReplaceable(dir);
  makeParentFolder(dir);
  const parent = dirname(dir);
  const suffix = `${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const tmp = join(parent, `.${basename(dir)}.tmp-${suffix}`);
  const aside = join(parent, `.${basename(dir)}.old-${suffix}`);
  trackTemp(tmp);
  try {
    mkdirSync(tmp);
    fill(tmp);
    // Checked again: the folder may have changed while the model was being written.
    if (checkModelFolderReplaceable(dir) !== 'missing') renameSync(dir, aside);
    try {
      renameSync(tmp, dir);
    } catch (err) {
      if (statOrUndefined(aside, false) !== undefined) renameSync(aside, dir);
      throw err;
    }
    releaseTemp(tmp);
    rmSync(aside, { recursive: true, force: true });
  } catch (err) {
    removeTemp(tmp);
    if (err instanceof DoconvError) throw err;
    throw new DoconvError('OUTPUT_FAILED', `cannot write the TensorFlow.js model: ${(err as Error).message}`, { file: dir });
  }
}
