import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { writeAll, writeFileAtomic } from '../emit/atomic.js';
import { DoconvError } from '../errors.js';
import { BUNDLED_MANIFEST, parseManifest, readSmallRegularFile, readManifestFile, validManifest } from './manifest.js';
import { VerificationSchema, type Entry, type Verification } from './schema.js';

export interface VerifyOptions {
  /** A registry folder holding manifest.json (default DOCONV_ZOO_REGISTRY when it is a folder, else the bundled one). */
  registry?: string;
  /** Accept a record whose model hash is none of the entry's artifacts (weights from elsewhere). */
  force?: boolean;
}

export interface VerifyResult {
  manifest: string;
  entry: Entry;
  record: Verification;
  /** An earlier record of the same model, data, backend and device was replaced. */
  replaced: boolean;
}

function registryFolder(registry: string | undefined): string {
  const r = registry ?? process.env.DOCONV_ZOO_REGISTRY;
  if (r === undefined || r === '') return dirname(BUNDLED_MANIFEST);
  if (/^https?:\/\//i.test(r)) throw new DoconvError('BAD_ARGUMENT', 'registry verify edits a manifest: --registry must be a local folder, not a URL', { file: r });
  const dir = resolve(r);
  if (!existsSync(join(dir, 'manifest.json'))) throw new DoconvError('FILE_NOT_FOUND', 'no manifest.json in the registry folder', { file: dir });
  return dir;
}

/** Reads a verification record (as `eval` writes it, or its --json output with a `record` field). */
export function readRecord(file: string): Verification {
  if (!existsSync(file)) throw new DoconvError('FILE_NOT_FOUND', 'no such record', { file });
  const text = readSmallRegularFile(file, 1 << 20, 'a verification record (a small JSON file)');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new DoconvError('BAD_ARGUMENT', `not JSON: ${(err as Error).message}`, { file });
  }
  const candidate = json !== null && typeof json === 'object' && 'record' in json ? (json as { record: unknown }).record : json;
  const parsed = VerificationSchema.safeParse(candidate);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new DoconvError('BAD_ARGUMENT', `not a verification record: ${issue.message}`, { file, key: issue.path.join('.') || undefined });
  }
  return parsed.data;
}

/**
 * Adds an `eval` verification record to a zoo entry's accuracy.verified, after checking that it
 * measured this entry's weights. A record of the same weights, data, backend and device replaces
 * the earlier one. The manifest is rewritten atomically.
 */
export function addVerification(name: string, recordFile: string, options: VerifyOptions = {}): VerifyResult {
  const record = readRecord(recordFile);
  const dir = registryFolder(options.registry);
  const manifestPath = join(dir, 'manifest.json');
  const manifest = parseManifest(readManifestFile(manifestPath), manifestPath);
  const entry = manifest.entries.find((e) => e.name === name);
  if (entry === undefined) throw new DoconvError('BAD_ARGUMENT', `no entry '${name}' in the registry`, { file: manifestPath });
  const hashes = entry.artifacts.map((a) => a.sha256);
  if (!options.force && !hashes.includes(record.modelSha256))
    throw new DoconvError(
      'BAD_ARGUMENT',
      `the record measured weights with sha256 ${record.modelSha256}, which are not this entry's (${hashes.length > 0 ? hashes.join(', ') : 'it has no artifact'}); --force adds it anyway`,
      { file: recordFile, key: 'modelSha256' },
    );
  const same = (v: Verification) => v.modelSha256 === record.modelSha256 && v.datasetFingerprint === record.datasetFingerprint && v.backend === record.backend && v.device === record.device;
  const before = entry.accuracy.verified.length;
  entry.accuracy.verified = [...entry.accuracy.verified.filter((v) => !same(v)), record];
  const valid = validManifest(manifest, manifestPath);
  writeFileAtomic(manifestPath, (fd) => writeAll(fd, Buffer.from(`${JSON.stringify(valid, null, 1)}\n`)));
  return { manifest: manifestPath, entry, record, replaced: entry.accuracy.verified.length === before };
}
