import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DoconvError } from '../errors.js';
import { cacheRoot } from './cache.js';
import { ManifestSchema, type Entry, type Manifest } from './schema.js';

/** The manifest that ships with the package (registry/manifest.json). */
export const BUNDLED_MANIFEST = fileURLToPath(new URL('../../registry/manifest.json', import.meta.url));

export interface LoadedManifest {
  manifest: Manifest;
  /** Where relative artifact URLs are resolved from: a directory path or an http(s) URL ending in '/'. */
  base: string;
  location: string;
}

function parse(text: string, where: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DoconvError('CORRUPT', `the registry manifest is not JSON (${(err as Error).message})`, { file: where });
  }
  const r = ManifestSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new DoconvError('CORRUPT', `the registry manifest does not match its schema: ${issue.message} at ${issue.path.join('.')}`, { file: where, key: issue.path.join('.') });
  }
  return r.data;
}

/**
 * Loads a registry: a directory or manifest file on disk, an http(s) URL (fetched, and kept in the
 * cache so --offline still finds it), or the bundled manifest. DOCONV_ZOO_REGISTRY is the default.
 */
export async function loadManifest(location: string | undefined, offline: boolean): Promise<LoadedManifest> {
  const where = location ?? process.env.DOCONV_ZOO_REGISTRY ?? BUNDLED_MANIFEST;
  if (/^https?:\/\//.test(where)) {
    const url = where.endsWith('.json') ? where : `${where.replace(/\/$/, '')}/manifest.json`;
    const cached = join(cacheRoot(), 'registries', `${createHash('sha256').update(url).digest('hex').slice(0, 16)}.json`);
    if (offline) {
      if (!existsSync(cached)) throw new DoconvError('BAD_ARGUMENT', `offline, and the registry ${url} has never been fetched`, { file: url });
      return { manifest: parse(readFileSync(cached, 'utf8'), cached), base: new URL('.', url).href, location: url };
    }
    const { default: got } = await import('got');
    let text: string;
    try {
      text = await got(url, { timeout: { request: 30_000 }, retry: { limit: 2 } }).text();
    } catch (err) {
      throw new DoconvError('FILE_NOT_FOUND', `cannot fetch the registry manifest: ${(err as Error).message}`, { file: url });
    }
    const manifest = parse(text, url);
    mkdirSync(dirname(cached), { recursive: true });
    writeFileSync(cached, text);
    return { manifest, base: new URL('.', url).href, location: url };
  }
  const path = where.startsWith('file:') ? fileURLToPath(where) : resolve(where);
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'manifest.json') : path;
  if (!existsSync(file)) throw new DoconvError('FILE_NOT_FOUND', 'no registry manifest here', { file });
  return { manifest: parse(readFileSync(file, 'utf8'), file), base: dirname(file), location: file };
}

/** An artifact URL as written in the manifest, resolved against the manifest's location. */
export function resolveArtifactUrl(url: string, base: string): string {
  if (/^(https?|file):/.test(url)) return url;
  if (/^https?:/.test(base)) return new URL(url, base).href;
  return isAbsolute(url) ? pathToFileURL(url).href : pathToFileURL(join(base, url)).href;
}

/** Shell-style wildcards (* and ?) over entry names. */
export function listEntries(manifest: Manifest, pattern?: string): Entry[] {
  if (pattern === undefined) return manifest.entries;
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return manifest.entries.filter((e) => re.test(e.name));
}

export function findEntry(manifest: Manifest, name: string, location: string): Entry {
  const e = manifest.entries.find((x) => x.name === name);
  if (e === undefined) {
    const close = manifest.entries.filter((x) => x.name.startsWith(name.split('_')[0] ?? name)).map((x) => x.name).slice(0, 5);
    throw new DoconvError('BAD_ARGUMENT', `no network '${name}' in the registry${close.length ? ` (did you mean ${close.join(', ')}?)` : ''}`, { file: location });
  }
  return e;
}
