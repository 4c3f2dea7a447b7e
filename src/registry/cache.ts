import { homedir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { DoconvError } from '../errors.js';

/** The cache root: DOCONV_ZOO_CACHE, else $XDG_CACHE_HOME/doconv-zoo, else ~/.cache/doconv-zoo. */
export function cacheRoot(): string {
  if (process.env.DOCONV_ZOO_CACHE) return process.env.DOCONV_ZOO_CACHE;
  const xdg = process.env.XDG_CACHE_HOME && process.env.XDG_CACHE_HOME !== '' ? process.env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(xdg, 'doconv-zoo');
}

/** True when DOCONV_ZOO_OFFLINE asks never to open a socket. */
export function offlineFromEnv(): boolean {
  const v = process.env.DOCONV_ZOO_OFFLINE;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** The longest file name the cache accepts (the common file-system limit, in bytes). */
export const MAX_FILE_NAME_BYTES = 255;

/**
 * Why `name` is not a plain file name (undefined when it is): one path segment, no separator (/ or \),
 * not '.' or '..', no NUL or other control character, at most 255 bytes. The manifest schema and
 * every join into the cache apply this same rule.
 */
export function plainFileNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name === '.' || name === '..') return `is '${name}'`;
  if (/[/\\]/.test(name)) return 'holds a path separator';
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'holds a control character';
  if (Buffer.byteLength(name, 'utf8') > MAX_FILE_NAME_BYTES) return `is longer than ${MAX_FILE_NAME_BYTES} bytes`;
  return undefined;
}

/**
 * A path inside the cache made of plain file-name segments (names from a manifest among them).
 * Defence in depth behind the schema: every segment is checked, and so is the resolved result,
 * so no manifest can make the cache write or read anywhere else.
 */
export function cachePath(...segments: string[]): string {
  for (const segment of segments) {
    const problem = plainFileNameProblem(segment);
    if (problem !== undefined) throw new DoconvError('UNSAFE_PATH', `refused the cache path segment '${segment}': a file name that ${problem} could leave the cache`);
  }
  const root = resolve(cacheRoot());
  const path = resolve(root, ...segments);
  const inside = relative(root, path);
  if (inside === '' || inside.startsWith(`..${sep}`) || inside === '..' || resolve(root, inside) !== path) {
    throw new DoconvError('UNSAFE_PATH', `refused a path outside the cache (${root})`, { file: path });
  }
  return path;
}

