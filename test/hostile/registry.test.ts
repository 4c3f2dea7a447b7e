import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pull } from '../../src/registry/pull.js';
import { cachePath } from '../../src/registry/cache.js';
import { loadManifest } from '../../src/registry/manifest.js';
import { ManifestSchema } from '../../src/registry/schema.js';
import { ROOT, tempDir } from '../helpers/paths.js';
import {
  ENTRY,
  LoopbackServer,
  expectOneLineError,
  fixedLookup,
  expectRejects,
  manifestWith,
  pseudoRandomBytes,
  refuseNonLoopbackSockets,
  runCliAsync,
  serveBytes,
  sha256Of,
  trickle,
  writeRegistry,
  type ArtifactSpec,
} from './registry-helpers.js';

// Issue 12, the registry's share: manifests and servers from strangers (items 1, 6, 14, 18, 20, 21).

const payload = pseudoRandomBytes(200 * 1024);
const payloadSha = sha256Of(payload);
const fast = { timeoutMs: 2000, backoffMs: 10, attempts: 2 };

/** Redirects /hop/N to /hop/N-1; /hop/0 serves the payload. */
function hop(req: Parameters<typeof serveBytes>[0], res: Parameters<typeof serveBytes>[1]): void {
  const n = Number((req.url ?? '').split('/')[2]);
  if (n > 0) res.writeHead(302, { location: `/hop/${n - 1}/model.pth` }).end();
  else serveBytes(req, res, payload);
}

let manifests = new Map<string, string>();
const server = new LoopbackServer({
  ok: (req, res) => serveBytes(req, res, payload),
  hop,
  // A redirect's target is the rest of the path, URL-encoded.
  to: (req, res) => res.writeHead(302, { location: decodeURIComponent((req.url ?? '').split('/')[2] ?? '') }).end(),
  manifest: (req, res) => {
    const body = manifests.get((req.url ?? '').split('/')[2] ?? '');
    if (body === undefined) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  },
  endless: (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    trickle(res, Buffer.alloc(256 * 1024, 0x20), 1, 40 << 20);
  },
  gzipbomb: (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    res.end(gzipSync(Buffer.alloc(40 << 20, 0x20)));
  },
  drip: (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    trickle(res, Buffer.from(' '), 200, 1000);
  },
  slowartifact: (_req, res) => {
    res.writeHead(200, { 'content-length': payload.length });
    let at = 0;
    const tick = setInterval(() => {
      if (res.destroyed || at >= payload.length) return void clearInterval(tick);
      res.write(payload.subarray(at, at + 1024));
      at += 1024;
    }, 100);
    res.on('close', () => clearInterval(tick));
  },
  // 416 to every Range request, the whole payload otherwise.
  norange: (req, res) => {
    if (req.headers.range) res.writeHead(416, { 'content-range': `bytes */${payload.length}` }).end();
    else serveBytes(req, res, payload);
  },
});
beforeAll(() => server.start());
afterAll(() => server.stop());

let cache = '';
beforeEach(() => {
  cache = tempDir('doconv-zoo-hostile-cache-');
  process.env.DOCONV_ZOO_CACHE = cache;
  manifests = new Map();
});

/** A local registry folder listing `artifacts`. */
const localRegistry = (...artifacts: ArtifactSpec[]): string => writeRegistry(tempDir('doconv-zoo-hostile-registry-'), manifestWith(...artifacts));

/** An HTTP registry (served by the loopback server) listing `artifacts`; returns its URL. */
function httpRegistry(id: string, ...artifacts: ArtifactSpec[]): string {
  manifests.set(id, JSON.stringify(manifestWith(...artifacts)));
  return `${server.base}/manifest/${id}`;
}

const okArtifact = (route = 'ok/model.pth', extra: Partial<ArtifactSpec> = {}): ArtifactSpec => ({ urls: [`${server.base}/${route}`], sha256: payloadSha, size: payload.length, filename: 'model.pth', ...extra });

/** Every file and folder under `dir`, relative, sorted. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[]).map((p) => p.split('\\').join('/')).sort();
}

describe('issue 12 item 1: manifest names never leave the cache', () => {
  it.each([['../../../../outside'], ['/tmp/outside'], ['a/b'], ['a\\b'], ['..'], ['.'], [''], ['x\u0000y'], ['x\ny']])(
    "the schema refuses the artifact filename '%s'",
    (filename) => {
      const r = ManifestSchema.safeParse(manifestWith(okArtifact('ok/model.pth', { filename })));
      expect(r.success).toBe(false);
      expect(r.error!.issues[0]!.path.join('.')).toBe('entries.0.artifacts.0.filename');
    },
  );

  it('a local manifest whose filename is ../../../../outside is refused, and nothing is written outside the cache', async () => {
    const root = tempDir('doconv-zoo-hostile-root-');
    cache = join(root, 'a', 'b', 'c', 'cache');
    process.env.DOCONV_ZOO_CACHE = cache;
    const source = join(root, 'model.pth');
    writeFileSync(source, payload);
    const reg = localRegistry({ urls: [source], sha256: payloadSha, size: payload.length, filename: '../../../../outside' });
    const e = await expectRejects(pull(ENTRY, { registry: reg }), 'CORRUPT', /filename/);
    expect(e.key).toBe('entries.0.artifacts.0.filename');
    expect(existsSync(join(root, 'outside'))).toBe(false);
    expect(tree(root)).toEqual(['model.pth']);
  });

  it('an HTTP manifest with the same filename: the CLI exits 1 with one line, and nothing is written outside the cache', async () => {
    const root = tempDir('doconv-zoo-hostile-root-');
    const cacheDir = join(root, 'a', 'b', 'c', 'cache');
    const url = httpRegistry('outside', okArtifact('ok/model.pth', { filename: '../../../../outside' }));
    const r = await runCliAsync(['pull', ENTRY, '--registry', url], { DOCONV_ZOO_CACHE: cacheDir });
    expectOneLineError(r, /filename/);
    expect(existsSync(join(root, 'outside'))).toBe(false);
    expect(tree(root).every((p) => 'a/b/c/cache'.startsWith(p) || p.startsWith('a/b/c/cache/'))).toBe(true);
  });

  it.each([['http', 'ok/..'], ['http', 'ok/x/..']])(
    'without a filename, a first URL ending in .. (%s) is refused at the join: the path would be a folder of the cache',
    async (_kind, route) => {
      const reg = localRegistry({ urls: [`${server.base}/${route}`], sha256: payloadSha, size: payload.length });
      await expectRejects(pull(ENTRY, { registry: reg, ...fast }), 'UNSAFE_PATH', /file name/);
      expect(tree(cache).filter((p) => !p.startsWith('locks'))).toEqual([]);
    },
  );

  it('cachePath refuses a segment that would leave the cache (defence in depth behind the schema)', () => {
    expect(() => cachePath('artifacts', payloadSha, '../../../x')).toThrow(/outside the cache|file name/);
    expect(() => cachePath('artifacts', '..', 'x')).toThrow();
    expect(() => cachePath('artifacts', payloadSha, '/etc/passwd')).toThrow();
    expect(cachePath('artifacts', payloadSha, 'model.pth')).toBe(join(cache, 'artifacts', payloadSha, 'model.pth'));
  });
});

describe('issue 12 item 6: an HTTP registry names http(s) artifacts only; redirects and addresses are bounded', () => {
  const secretDir = tempDir('doconv-zoo-hostile-secret-');
  const secret = join(secretDir, 'secret.txt');
  writeFileSync(secret, 'the private key\n');
  const secretSha = sha256Of(readFileSync(secret));

  it.each([['file URL', `file://${secret}`], ['FILE URL (upper case)', `FILE://${secret}`], ['data URL', 'data:text/plain,hello'], ['ftp URL', 'ftp://127.0.0.1/x']])(
    'an HTTP manifest listing a %s is refused before anything is read: no hash of the file in the message, nothing cached',
    async (_kind, url) => {
      const reg = httpRegistry('fileurl', { urls: [url], sha256: '0'.repeat(64), size: 16, filename: 'model.pth' });
      const e = await expectRejects(pull(ENTRY, { registry: reg, ...fast }), 'UNSAFE_PATH', /http\(s\)/);
      expect(e.message).not.toContain(secretSha);
      expect(tree(join(cache, 'artifacts'))).toEqual([]);
    },
  );

  it('the CLI says so in one line (exit 1) for an HTTP registry naming /etc/passwd as file:', async () => {
    const reg = httpRegistry('fileurl-cli', { urls: ['file:///etc/passwd'], sha256: '0'.repeat(64), size: 16, filename: 'model.pth' });
    const r = await runCliAsync(['pull', ENTRY, '--registry', reg], { DOCONV_ZOO_CACHE: cache });
    expectOneLineError(r, /http\(s\)/);
    expect(tree(join(cache, 'artifacts'))).toEqual([]);
  });

  it('a local registry naming a FIFO is refused as not a regular file, without hanging', async () => {
    const dir = tempDir('doconv-zoo-hostile-fifo-');
    const fifo = join(dir, 'model.pth');
    execFileSync('mkfifo', [fifo]);
    try {
      await expectRejects(pull(ENTRY, { registry: localRegistry({ urls: [fifo], sha256: '1'.repeat(64), size: 16, filename: 'model.pth' }) }), 'NOT_REGULAR_FILE', undefined, 5000);
    } finally {
      // Releases a reader a broken guard left blocked in open(2), so the test process can end.
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // ENXIO: nobody was reading it, as it should be
      }
    }
  });

  it('an HTTP registry with a relative http artifact URL still pulls, and --offline then finds its cached manifest', async () => {
    const reg = httpRegistry('relative', { urls: ['../../ok/model.pth'], sha256: payloadSha, size: payload.length, filename: 'model.pth' });
    const r = await pull(ENTRY, { registry: reg, ...fast });
    expect(sha256Of(readFileSync(r.path))).toBe(payloadSha);
    const again = await pull(ENTRY, { registry: reg, offline: true });
    expect(again.fromCache).toBe(true);
  });

  it('a local registry still copies local files named relative to it (only remote registries are restricted)', async () => {
    const dir = tempDir('doconv-zoo-hostile-local-');
    writeFileSync(join(dir, 'model.pth'), payload);
    const r = await pull(ENTRY, { registry: writeRegistry(dir, manifestWith({ urls: ['model.pth'], sha256: payloadSha, size: payload.length, filename: 'model.pth' })), ...fast });
    expect(sha256Of(readFileSync(r.path))).toBe(payloadSha);
  });

  it('five redirects are followed; the sixth is refused without a retry and without reaching its target', async () => {
    const five = await pull(ENTRY, { registry: localRegistry(okArtifact('hop/5/model.pth')), ...fast });
    expect(sha256Of(readFileSync(five.path))).toBe(payloadSha);
    process.env.DOCONV_ZOO_CACHE = tempDir('doconv-zoo-hostile-cache-');
    const before = server.paths.length;
    await expectRejects(pull(ENTRY, { registry: localRegistry(okArtifact('hop/6/model.pth')), ...fast }), 'DOWNLOAD_FAILED', /redirects/);
    const seen = server.paths.slice(before);
    expect(seen).toEqual(['/hop/6/model.pth', '/hop/5/model.pth', '/hop/4/model.pth', '/hop/3/model.pth', '/hop/2/model.pth', '/hop/1/model.pth']);
  });

  it.each([
    ['file:', 'file:///etc/passwd'],
    ['https: (another scheme)', 'https://127.0.0.1:9/model.pth'],
    ['a link-local literal', 'http://169.254.169.254/latest/meta-data/'],
    ['a decimal literal of 169.254.169.254', 'http://2852039166/latest/meta-data/'],
    ['an IPv4-mapped IPv6 literal', 'http://[::ffff:169.254.169.254]/latest/meta-data/'],
    ['an fe80:: literal', 'http://[fe80::1]/x'],
  ])('a redirect to %s is refused before any socket to it opens', async (_kind, target) => {
    const net = refuseNonLoopbackSockets();
    const connections = server.connections;
    try {
      await expectRejects(pull(ENTRY, { registry: localRegistry(okArtifact(`to/${encodeURIComponent(target)}/x`)), ...fast }), 'DOWNLOAD_FAILED', /redirect|refused/);
    } finally {
      net.restore();
    }
    expect(net.attempts).toEqual([]);
    expect(server.connections - connections).toBeLessThanOrEqual(1);
    expect(tree(join(cache, 'artifacts', payloadSha))).toEqual([]);
  });

  it.each([
    ['169.254.169.254', 'http://169.254.169.254/latest/meta-data/'],
    ['[fe80::1]', 'http://[fe80::1]/x'],
    ['[::ffff:a9fe:a9fe]', 'http://[::ffff:a9fe:a9fe]/x'],
  ])('an artifact URL at the literal address %s is refused without a socket', async (_kind, url) => {
    const net = refuseNonLoopbackSockets();
    try {
      await expectRejects(pull(ENTRY, { registry: localRegistry({ urls: [url], sha256: payloadSha, size: 1, filename: 'm.pth' }), ...fast }), 'DOWNLOAD_FAILED', /link-local|metadata/);
    } finally {
      net.restore();
    }
    expect(net.attempts).toEqual([]);
  });

  it.each([
    ['169.254.169.254', 4],
    ['::ffff:169.254.169.254', 6],
    ['fe80::1', 6],
  ])('a host name that resolves to %s is refused at connect time (the resolved address is checked)', async (address, family) => {
    const net = refuseNonLoopbackSockets();
    const lookup = fixedLookup(address, family);
    try {
      const reg = localRegistry({ urls: [`http://metadata.test:${new URL(server.base).port}/x`], sha256: payloadSha, size: 1, filename: 'm.pth' });
      await expectRejects(pull(ENTRY, { registry: reg, ...fast, lookup }), 'DOWNLOAD_FAILED', /link-local|metadata/);
    } finally {
      net.restore();
    }
    expect(net.attempts).toEqual([]);
  });

  it('a host name that resolves to 127.0.0.1 stays allowed (registries live on loopback and private addresses)', async () => {
    const lookup = fixedLookup('127.0.0.1', 4);
    const reg = localRegistry(okArtifact('ok/model.pth', { urls: [`http://registry.test:${new URL(server.base).port}/ok/model.pth`] }));
    const r = await pull(ENTRY, { registry: reg, ...fast, lookup });
    expect(sha256Of(readFileSync(r.path))).toBe(payloadSha);
  });

  it('the manifest fetch is guarded the same way: a redirect to 169.254.169.254 is refused', async () => {
    const net = refuseNonLoopbackSockets();
    try {
      await expectRejects(loadManifest(`${server.base}/to/${encodeURIComponent('http://169.254.169.254/manifest.json')}/manifest.json`, false), 'DOWNLOAD_FAILED', /redirect|refused/);
    } finally {
      net.restore();
    }
    expect(net.attempts).toEqual([]);
  });
});

describe('issue 12 item 14: bounded manifest size and time, bounded unpacking, a minimum download rate', () => {
  it('an endless manifest body is cut at 16 MiB (LIMIT_EXCEEDED), not read into memory', async () => {
    await expectRejects(loadManifest(`${server.base}/endless/manifest.json`, false), 'LIMIT_EXCEEDED', /16 MiB/);
  });

  it('a gzip-encoded manifest is counted after decompression: 40 MiB of spaces in 40 KiB is cut at 16 MiB', async () => {
    await expectRejects(loadManifest(`${server.base}/gzipbomb/manifest.json`, false), 'LIMIT_EXCEEDED', /16 MiB/);
  });

  it('a manifest sent 1 byte at a time ends at its overall deadline', async () => {
    await expectRejects(loadManifest(`${server.base}/drip/manifest.json`, false, { deadlineMs: 1500 }), 'DOWNLOAD_FAILED', /deadline|1\.5 s/, 10_000);
  });

  it.each([['a FIFO', 'fifo'], ['/dev/zero', '/dev/zero']])('a local manifest that is %s is refused (NOT_REGULAR_FILE), with one line from the CLI', async (_kind, which) => {
    let path = which;
    if (which === 'fifo') {
      path = join(tempDir('doconv-zoo-hostile-fifo-'), 'manifest.json');
      execFileSync('mkfifo', [path]);
    }
    const r = await runCliAsync(['list', '--registry', path], { DOCONV_ZOO_CACHE: cache }, 20_000);
    expectOneLineError(r, /not a regular file|FIFO|character device/);
  });

  it('a local manifest over 16 MiB is refused before it is parsed', async () => {
    const dir = tempDir('doconv-zoo-hostile-big-');
    writeFileSync(join(dir, 'manifest.json'), Buffer.alloc((16 << 20) + 1, 0x20));
    await expectRejects(loadManifest(dir, false), 'LIMIT_EXCEEDED', /16 MiB/);
  });

  it('an artifact sent under the minimum average rate for the whole window is abandoned (rate and window injectable)', async () => {
    const reg = localRegistry(okArtifact('slowartifact/model.pth'));
    await expectRejects(pull(ENTRY, { registry: reg, ...fast, minRate: { bytesPerSecond: 16 * 1024, windowMs: 1000 } }), 'DOWNLOAD_FAILED', /KiB\/s/, 15_000);
    expect(existsSync(join(cache, 'artifacts', payloadSha, 'model.pth'))).toBe(false);
  });

  /** A .tar.gz of `files` (name -> bytes), served from a local registry. */
  async function archiveRegistry(files: Record<string, Uint8Array>, extra: Partial<ArtifactSpec> = {}): Promise<{ registry: string; sha256: string }> {
    const tar = await import('tar');
    const work = tempDir('doconv-zoo-hostile-tar-');
    mkdirSync(join(work, 'in'));
    for (const [name, data] of Object.entries(files)) writeFileSync(join(work, 'in', name), data);
    const archive = join(work, 'web.tar.gz');
    await tar.c({ gzip: true, file: archive, cwd: join(work, 'in') }, Object.keys(files));
    const bytes = readFileSync(archive);
    const sha256 = sha256Of(bytes);
    return { registry: localRegistry({ urls: [archive], sha256, size: bytes.length, filename: 'web.tar.gz', archive: true, format: 'tfjs', ...extra }), sha256 };
  }

  it('an archive that would unpack beyond 8x its own size is refused, and nothing of it is left', async () => {
    const zeros = new Uint8Array(3 << 20);
    const { registry, sha256 } = await archiveRegistry({ 'a.bin': zeros, 'b.bin': zeros });
    await expectRejects(pull(ENTRY, { registry }), 'LIMIT_EXCEEDED', /unpack/);
    expect(tree(join(cache, 'artifacts', sha256))).toEqual(['web.tar.gz']);
  });

  it("an archive is bounded by the entry's declared unpackedSize when it has one", async () => {
    const data = pseudoRandomBytes(5000, 7);
    const small = await archiveRegistry({ 'model.json': data }, { unpackedSize: 1000 });
    await expectRejects(pull(ENTRY, { registry: small.registry }), 'LIMIT_EXCEEDED', /1000/);
    process.env.DOCONV_ZOO_CACHE = tempDir('doconv-zoo-hostile-cache-');
    const enough = await archiveRegistry({ 'model.json': data }, { unpackedSize: 5000 });
    const r = await pull(ENTRY, { registry: enough.registry });
    expect(readFileSync(join(r.path, 'model.json'))).toEqual(Buffer.from(data));
  });
});

describe('issue 12 items 20 and 21: unpacking under the lock, resuming a complete download, nothing half-written', () => {
  async function tfjsArchive(): Promise<{ registry: string; sha256: string; archive: string }> {
    const tar = await import('tar');
    const work = tempDir('doconv-zoo-hostile-tar-');
    mkdirSync(join(work, 'in'));
    const names: string[] = [];
    for (let i = 0; i < 40; i++) {
      names.push(`group${i}-shard1of1.bin`);
      writeFileSync(join(work, 'in', names[i]!), pseudoRandomBytes(256 * 1024, i + 1));
    }
    writeFileSync(join(work, 'in', 'model.json'), '{}');
    names.push('model.json');
    const archive = join(work, 'web.tar.gz');
    await tar.c({ gzip: true, file: archive, cwd: join(work, 'in') }, names);
    const bytes = readFileSync(archive);
    const sha256 = sha256Of(bytes);
    return { registry: localRegistry({ urls: [archive], sha256, size: bytes.length, filename: 'web.tar.gz', archive: true, format: 'tfjs' }), sha256, archive };
  }

  it('two concurrent pulls of an archive in one process both succeed, and it is unpacked once', async () => {
    const { registry, sha256 } = await tfjsArchive();
    const [a, b] = await Promise.all([pull(ENTRY, { registry }), pull(ENTRY, { registry })]);
    expect(a.path).toBe(b.path);
    expect(existsSync(join(a.path, 'model.json'))).toBe(true);
    expect(readdirSync(join(cache, 'artifacts', sha256)).sort()).toEqual(['web.tar.gz', 'web.tar.gz.d']);
  });

  it('two concurrent CLI pulls of an archive both exit 0, and one folder results', async () => {
    const { registry, sha256 } = await tfjsArchive();
    const [a, b] = await Promise.all([0, 1].map(() => runCliAsync(['pull', ENTRY, '--registry', registry, '--json'], { DOCONV_ZOO_CACHE: cache })));
    expect(a!.status, a!.stderr).toBe(0);
    expect(b!.status, b!.stderr).toBe(0);
    expect(readdirSync(join(cache, 'artifacts', sha256)).sort()).toEqual(['web.tar.gz', 'web.tar.gz.d']);
  });

  it('SIGTERM while unpacking leaves no .d.tmp-PID folder behind', async () => {
    const { registry, sha256 } = await tfjsArchive();
    const folder = join(cache, 'artifacts', sha256);
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), 'pull', ENTRY, '--registry', registry], { env: { ...process.env, DOCONV_ZOO_CACHE: cache }, stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    const deadline = Date.now() + 20_000;
    let sawTemp = false;
    while (Date.now() < deadline && child.exitCode === null) {
      if (existsSync(folder) && readdirSync(folder).some((n) => n.includes('.d.tmp-'))) {
        sawTemp = true;
        child.kill('SIGTERM');
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    await exited;
    expect(sawTemp, 'the unpack finished before it could be interrupted').toBe(true);
    expect(readdirSync(folder).filter((n) => n.includes('.tmp'))).toEqual([]);
  });

  it('a corrupt archive (its hash verifies) is CORRUPT, and no temporary folder is left', async () => {
    const dir = tempDir('doconv-zoo-hostile-tar-');
    const bytes = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), pseudoRandomBytes(4000, 3)]);
    writeFileSync(join(dir, 'bad.tar.gz'), bytes);
    const sha256 = sha256Of(bytes);
    const registry = localRegistry({ urls: [join(dir, 'bad.tar.gz')], sha256, size: bytes.length, filename: 'bad.tar.gz', archive: true, format: 'tfjs' });
    await expectRejects(pull(ENTRY, { registry }), 'CORRUPT', /unpack/);
    expect(readdirSync(join(cache, 'artifacts', sha256))).toEqual(['bad.tar.gz']);
  });

  it('a complete .part whose hash verifies, and a server that answers 416 to its Range, is done: not deleted, not refetched', async () => {
    const dest = join(cache, 'artifacts', payloadSha, 'model.pth');
    mkdirSync(join(cache, 'artifacts', payloadSha), { recursive: true });
    writeFileSync(`${dest}.part`, payload);
    const before = server.hits.get('norange') ?? 0;
    const r = await pull(ENTRY, { registry: localRegistry(okArtifact('norange/model.pth')), ...fast });
    expect(r.path).toBe(dest);
    expect(sha256Of(readFileSync(dest))).toBe(payloadSha);
    expect((server.hits.get('norange') ?? 0) - before).toBeLessThanOrEqual(1);
  });

  it('a complete .part with the wrong bytes is discarded and downloaded afresh', async () => {
    const dest = join(cache, 'artifacts', payloadSha, 'model.pth');
    mkdirSync(join(cache, 'artifacts', payloadSha), { recursive: true });
    writeFileSync(`${dest}.part`, pseudoRandomBytes(payload.length, 99));
    const r = await pull(ENTRY, { registry: localRegistry(okArtifact('norange/model.pth')), ...fast });
    expect(sha256Of(readFileSync(r.path))).toBe(payloadSha);
  });

  it('a 416 to a partial .part starts over from byte 0', async () => {
    const dest = join(cache, 'artifacts', payloadSha, 'model.pth');
    mkdirSync(join(cache, 'artifacts', payloadSha), { recursive: true });
    writeFileSync(`${dest}.part`, payload.subarray(0, 1000));
    const r = await pull(ENTRY, { registry: localRegistry(okArtifact('norange/model.pth')), ...fast });
    expect(sha256Of(readFileSync(r.path))).toBe(payloadSha);
    expect(readdirSync(join(cache, 'artifacts', payloadSha))).toEqual(['model.pth']);
  });
});

describe('issue 12 item 18: a corrupt manifest in registry verify / registry add is one line, exit 1', () => {
  const record = {
    dataset: 'mnist',
    datasetFingerprint: 'f',
    count: 1,
    top1: 100,
    backend: 'onnx',
    device: 'cpu',
    toolVersion: '0.1.0',
    date: '2026-01-01',
    modelSha256: payloadSha,
  };

  it.each([
    ['does not match the schema', '{"schemaVersion": 1, "name": "x", "entries": [{}]}', /schema/],
    ['is not JSON', '{"schemaVersion": 1,', /not JSON/],
    ['has a bad filename', JSON.stringify(manifestWith({ urls: ['x'], sha256: payloadSha, size: 1, filename: '../x' })), /filename/],
  ])('registry verify, when the manifest %s', async (_kind, text, pattern) => {
    const dir = writeRegistry(tempDir('doconv-zoo-hostile-registry-'), text);
    const recordFile = join(dir, 'record.json');
    writeFileSync(recordFile, JSON.stringify(record));
    const r = await runCliAsync(['registry', 'verify', ENTRY, '--record', recordFile, '--registry', dir], { DOCONV_ZOO_CACHE: cache });
    expectOneLineError(r, pattern);
    expect(readFileSync(join(dir, 'manifest.json'), 'utf8')).toBe(text);
  });

  it('registry add, when the manifest already there does not match the schema', async () => {
    const text = '{"schemaVersion": 1, "name": "x", "entries": [{"name": 5}]}';
    const dir = writeRegistry(tempDir('doconv-zoo-hostile-registry-'), text);
    const r = await runCliAsync(['registry', 'add', join(ROOT, 'examples', 'doconv_resnet20_cifar.pth'), '--name', 'added', '--registry', dir], { DOCONV_ZOO_CACHE: cache });
    expectOneLineError(r, /schema/);
    expect(readFileSync(join(dir, 'manifest.json'), 'utf8')).toBe(text);
  });
});

afterEach(() => {
  delete process.env.DOCONV_ZOO_CACHE;
});
