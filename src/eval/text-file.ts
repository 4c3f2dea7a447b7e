import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readRegularFile } from '../formats/regular-file.js';

/** Label and synset files are read whole: regular files of at most this many bytes. */
export const MAX_LABEL_FILE = 64 * 2 ** 20;

/** A label or synset file's text: a regular file of at most MAX_LABEL_FILE bytes (never a FIFO or /dev/zero). */
export function readText(file: string): string {
  return Buffer.from(readRegularFile(file, MAX_LABEL_FILE)).toString('utf8');
}

/** The first of `names` in the dataset folder `dir`, else in its parent. */
export function findNear(dir: string, names: readonly string[]): string | undefined {
  for (const d of [dir, dirname(dir)]) for (const n of names) if (existsSync(join(d, n))) return join(d, n);
  return undefined;
}
