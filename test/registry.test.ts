import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BUNDLED_MANIFEST } from '../src/registry/manifest.js';
import { pull } from '../src/registry/pull.js';
import { ManifestSchema, manifestJsonSchema } from '../src/registry/schema.js';
import { CLI, ROOT, tempDir } from './helpers/paths.js';

const payload = readFileSync(join(ROOT, 'examples', 'doconv_resnet20_cifar.pth'));
const sha256 = createHash('sha256').update(payload).digest('hex');

/** A bounded loopback server whose routes misbehave in the ways downloads meet in the wild. */
class FaultServer {
  server!: Server;
  base = '';
  hits = new Map<string, { count: number; ranges: string[] }>();
  connections = 0;
  private once = new Set<string>();

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', () => this.connections++);
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  private first(route: string): boolean {
    if (this.once.has(route)) return false;
    this.once.add(route);
    return true;
  }

  /** Serves the payload honouring Range, optionally slowly. */
  private send(req: IncomingMessage, res: ServerResponse, body: Buffer, delayMs = 0): void {
    const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const part = body.subarray(start);
    res.writeHead(m ? 206 : 200, { 'content-length': part.length, ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) });
    if (delayMs === 0) {
      res.end(part);
      return;
    }
    let at = 0;
    const tick = setInterval(() => {
      if (res.destroyed) return clearInterval(tick);
      const next = part.subarray(at, at + 32 * 1024);
      at += next.length;
      if (next.length === 0) {
        clearInterval(tick);
        res.end();
      } else res.write(next);
    }, delayMs);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const route = (req.url ?? '').split('/')[1] ?? '';
    const h = this.hits.get(route) ?? { count: 0, ranges: [] };
    h.count++;
    if (req.headers.range) h.ranges.push(req.headers.range);
    this.hits.set(route, h);
    switch (route) {
      case 'ok':
        return this.send(req, res, payload);
      case 'cut':
        if (this.first('cut')) {
          res.writeHead(200, { 'content-length': payload.length });
          res.write(payload.subarray(0, Math.floor(payload.length / 2)), () => res.destroy());
          return;
        }
        return this.send(req, res, payload);
      case 'wrong': {
        const bad = Buffer.from(payload);
        bad[1000] = bad[1000]! ^ 0xff;
        return this.send(req, res, bad);
      }
      case 'flaky':
        if (this.first('flaky')) {
          res.writeHead(500).end('try again');
          return;
        }
        return this.send(req, res, payload);
      case 'stall':
        return; // never answers
      case 'redirect':
        res.writeHead(302, { location: `${this.base}/ok/model.pth` }).end();
        return;
      case 'slow':
        return this.send(req, res, payload, 10);
      default:
        res.writeHead(404).end();
    }
  }
}

const server = new FaultServer();
beforeAll(() => server.start());
afterAll(() => server.stop());

let cache = '';
beforeEach(() => {
  cache = tempDir('doconv-zoo-cache-');
  process.env.DOCONV_ZOO_CACHE = cache;
});

/** A registry folder whose one entry lists `routes` as mirrors, in order. */
function registry(...routes: string[]): string {
  const dir = tempDir('doconv-zoo-registry-');
  const manifest = JSON.parse(readFileSync(BUNDLED_MANIFEST, 'utf8'));
  const entry = manifest.entries.find((e: { name: string }) => e.name === 'doconv_resnet20_cifar_example');
  entry.artifacts = [{ format: 'pytorch', urls: routes.map((r) => `${server.base}/${r}/model.pth`), sha256, size: payload.length, filename: 'model.pth' }];
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ ...manifest, entries: [entry] }));
  return dir;
}

const fast = { timeoutMs: 500, backoffMs: 10, attempts: 3 };
const cached = () => join(cache, 'artifacts', sha256, 'model.pth');
const pullFrom = (...routes: string[]) => pull('doconv_resnet20_cifar_example', { registry: registry(...routes), ...fast });

describe('pull: downloads that go wrong', () => {
  it('a connection cut mid-body is resumed with an HTTP Range request and verified', async () => {
    const r = await pullFrom('cut');
    expect(r.fromCache).toBe(false);
    expect(server.hits.get('cut')!.ranges[0]).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(server.hits.get('cut')!.ranges[0]!)![0])).toBeGreaterThan(0);
    expect(createHash('sha256').update(readFileSync(cached())).digest('hex')).toBe(sha256);
  });

  it('wrong bytes: nothing enters the cache, and the error names both hashes', async () => {
    await expect(pullFrom('wrong')).rejects.toThrow(new RegExp(`expected ${sha256}, got [0-9a-f]{64}`));
    expect(existsSync(join(cache, 'artifacts', sha256)) ? readdirSync(join(cache, 'artifacts', sha256)) : []).toEqual([]);
  });

  it('a 500 is retried with backoff and the 200 that follows is taken', async () => {
    await pullFrom('flaky');
    expect(server.hits.get('flaky')!.count).toBe(2);
    expect(existsSync(cached())).toBe(true);
  });

  it('a server that stalls times out, and the next mirror delivers', async () => {
    const before = server.hits.get('ok')?.count ?? 0;
    await pull('doconv_resnet20_cifar_example', { registry: registry('stall', 'ok'), timeoutMs: 300, backoffMs: 10, attempts: 1 });
    expect(server.hits.get('ok')!.count).toBe(before + 1);
  });

  it('a 404 moves on to the next mirror at once; redirects are followed', async () => {
    await pullFrom('missing', 'ok');
    expect(server.hits.get('missing')!.count).toBe(1);
    process.env.DOCONV_ZOO_CACHE = tempDir('doconv-zoo-cache-');
    await pullFrom('redirect');
    expect(server.hits.get('redirect')!.count).toBe(1);
  });

  it('four concurrent pulls of one artifact share one download', async () => {
    const before = server.hits.get('slow')?.count ?? 0;
    const reg = registry('slow');
    const results = await Promise.all([0, 1, 2, 3].map(() => pull('doconv_resnet20_cifar_example', { registry: reg, ...fast, timeoutMs: 5000 })));
    expect(results.every((r) => r.path === cached())).toBe(true);
    expect(server.hits.get('slow')!.count - before).toBe(1);
  });

  it('a pull killed with SIGKILL mid-download resumes on the next run and verifies', async () => {
    const reg = registry('slow');
    const env = { ...process.env, DOCONV_ZOO_CACHE: cache };
    const child = spawn(process.execPath, [CLI, 'pull', 'doconv_resnet20_cifar_example', '--registry', reg, '--json'], { env, stdio: 'ignore' });
    const part = `${cached()}.part`;
    const deadline = Date.now() + 20_000;
    while (!(existsSync(part) && statSync(part).size > 256 * 1024) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const partial = statSync(part).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(payload.length);
    const ranges = server.hits.get('slow')!.ranges.length;
    const r = await pull('doconv_resnet20_cifar_example', { registry: reg, ...fast, timeoutMs: 5000 });
    expect(r.fromCache).toBe(false);
    expect(server.hits.get('slow')!.ranges.length).toBe(ranges + 1);
    expect(createHash('sha256').update(readFileSync(r.path)).digest('hex')).toBe(sha256);
  }, 60_000);

  it('--offline with an empty cache is a clear error and opens no socket', async () => {
    const before = server.connections;
    await expect(pull('doconv_resnet20_cifar_example', { registry: registry('ok'), offline: true })).rejects.toThrow(/not in the cache .* offline mode/);
    expect(server.connections).toBe(before);
  });

  it('a second pull is served from the cache without a request', async () => {
    await pullFrom('ok');
    const before = server.connections;
    const r = await pullFrom('ok');
    expect(r.fromCache).toBe(true);
    expect(server.connections).toBe(before);
  });
});

describe('pull: multi-file artifacts', () => {
  it('a TensorFlow.js folder shipped as .tar.gz is verified, unpacked, and runs', async () => {
    const { convertCheckpoint } = await import('../src/convert.js');
    const { loadModel } = await import('../src/runtime/load-model.js');
    const tar = await import('tar');
    const work = tempDir();
    await convertCheckpoint(join(ROOT, 'examples', 'doconv_resnet20_cifar.pth'), join(work, 'web'), { to: 'tfjs' });
    const archive = join(work, 'web.tar.gz');
    await tar.c({ gzip: true, file: archive, cwd: join(work, 'web') }, readdirSync(join(work, 'web')));
    const bytes = readFileSync(archive);
    const reg = tempDir('doconv-zoo-registry-');
    const manifest = JSON.parse(readFileSync(BUNDLED_MANIFEST, 'utf8'));
    const entry = manifest.entries.find((e: { name: string }) => e.name === 'doconv_resnet20_cifar_example');
    entry.artifacts = [{ format: 'tfjs', urls: [archive], sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, filename: 'web.tar.gz', archive: true }];
    writeFileSync(join(reg, 'manifest.json'), JSON.stringify({ ...manifest, entries: [entry] }));
    const r = await pull('doconv_resnet20_cifar_example', { registry: reg });
    expect(existsSync(join(r.path, 'model.json'))).toBe(true);
    const m = await loadModel(r.path, { backend: 'tfjs' });
    try {
      expect((await m.predict({ data: new Float32Array(32 * 32 * 3), shape: [1, 32, 32, 3] })).shape).toEqual([1, 10]);
    } finally {
      await m.dispose();
    }
  });
});

describe('the manifest', () => {
  const manifest = ManifestSchema.parse(JSON.parse(readFileSync(BUNDLED_MANIFEST, 'utf8')));

  it('validates, and registry/manifest.schema.json is the schema as exported', () => {
    const onDisk = JSON.parse(readFileSync(join(ROOT, 'registry', 'manifest.schema.json'), 'utf8'));
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(manifestJsonSchema())));
  });

  // The DO-Conv paper's ImageNet table (top-1 %): baseline, DO-Conv gain; GluonCV's own reference.
  const TABLE: Record<string, [number, number, number | undefined]> = {
    plain18: [69.97, 1.01, undefined],
    resnet18_v1: [70.87, 0.82, 70.93], resnet34_v1: [74.49, 0.49, 74.37], resnet50_v1: [77.32, 0.08, 77.36], resnet101_v1: [78.16, 0.46, 78.34], resnet152_v1: [79.34, 0.07, 79.22],
    resnet18_v1b: [71.08, 0.71, 70.94], resnet34_v1b: [74.35, 0.77, 74.65], resnet50_v1b: [77.56, 0.44, 77.67], resnet101_v1b: [79.14, 0.25, 79.2], resnet152_v1b: [79.6, 0.1, 79.69],
    resnet18_v2: [70.8, 0.64, 71.0], resnet34_v2: [74.76, 0.22, 74.4], resnet50_v2: [77.17, 0.31, 77.17], resnet101_v2: [78.56, 0.11, 78.53], resnet152_v2: [79.24, 0.14, 79.21],
    resnext50_32x4d: [79.21, 0.4, 79.32],
  };
  it.each(Object.entries(TABLE))('%s carries the paper\'s numbers exactly', (name, [base, gain, gluon]) => {
    const e = manifest.entries.find((x) => x.name === name)!;
    expect(e.accuracy.paper).toMatchObject({ baselineTop1: base, doconvGain: gain, doconvTop1: Math.round((base + gain) * 100) / 100 });
    expect(e.accuracy.gluoncvReferenceTop1).toBe(gluon);
    expect(e.artifacts).toEqual([]);
    expect(e.artifactsNote).toMatch(/published no ImageNet DO-Conv weights/);
  });
});

describe('pull --to onnx|tfjs: the entry says what the network is, and what is ready to run', () => {
  const example = join(ROOT, 'examples', 'doconv_resnet20_cifar.pth');

  /** A registry folder with the example entry, its architecture and artifacts replaced. */
  function entryRegistry(architecture: Record<string, unknown>, artifacts: Record<string, unknown>[]): string {
    const reg = tempDir('doconv-zoo-registry-');
    const manifest = JSON.parse(readFileSync(BUNDLED_MANIFEST, 'utf8'));
    const entry = manifest.entries.find((e: { name: string }) => e.name === 'doconv_resnet20_cifar_example');
    entry.architecture = { ...entry.architecture, ...architecture };
    if (architecture.name === undefined) delete entry.architecture.name;
    entry.artifacts = artifacts;
    writeFileSync(join(reg, 'manifest.json'), JSON.stringify({ ...manifest, entries: [entry] }));
    return reg;
  }
  const artifactOf = (format: string, file: string, extra: Record<string, unknown> = {}) => {
    const bytes = readFileSync(file);
    return { format, urls: [file], sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, ...extra };
  };
  const onnxArchitecture = async (file: string) => (await import('../src/formats/onnx-info.js')).readOnnxInfo(readFileSync(file)).metadata.architecture;

  it('converts as the entry\'s architecture names it, not as the key names suggest', async () => {
    // torchvision names cannot tell v1 from v1b: detection says v1b, the entry says v1.
    const reg = entryRegistry({ name: 'cifar_resnet20_v1', family: 'resnet_v1' }, [artifactOf('pytorch', example, { filename: 'model.pth' })]);
    const r = await pull('doconv_resnet20_cifar_example', { registry: reg, to: 'onnx' });
    expect(await onnxArchitecture(r.converted!)).toBe('cifar_resnet20_v1');
    const t = await pull('doconv_resnet20_cifar_example', { registry: reg, to: 'tfjs' });
    expect(JSON.parse(readFileSync(join(t.converted!, 'model.json'), 'utf8')).userDefinedMetadata.architecture).toBe('cifar_resnet20_v1');
    const { loadModel } = await import('../src/runtime/load-model.js');
    const m = await loadModel('doconv_resnet20_cifar_example', { registry: reg });
    try {
      expect(m.architecture).toBe('cifar_resnet20_v1');
    } finally {
      await m.dispose();
    }
    // An entry of an older registry, without a name, is recognised as before.
    process.env.DOCONV_ZOO_CACHE = tempDir('doconv-zoo-cache-');
    const old = await pull('doconv_resnet20_cifar_example', { registry: entryRegistry({}, [artifactOf('pytorch', example, { filename: 'model.pth' })]), to: 'onnx' });
    expect(await onnxArchitecture(old.converted!)).toBe('cifar_resnet20_v1b');
  });

  it('an entry\'s own ONNX model is used as it is: downloaded, verified, never converted', async () => {
    const { convertCheckpoint } = await import('../src/convert.js');
    const work = tempDir();
    const published = join(work, 'published.onnx');
    await convertCheckpoint(example, published, { dynamicSize: true });
    const reg = entryRegistry({ name: 'cifar_resnet20_v1b' }, [artifactOf('pytorch', example, { filename: 'model.pth' }), artifactOf('onnx', published, { filename: 'published.onnx' })]);
    const r = await pull('doconv_resnet20_cifar_example', { registry: reg, to: 'onnx' });
    expect(r.converted).toBe(join(cache, 'artifacts', r.sha256, 'published.onnx'));
    expect(readFileSync(r.converted!).equals(readFileSync(published))).toBe(true);
    expect(existsSync(join(cache, 'converted'))).toBe(false);
    // --to source still takes the checkpoint.
    expect((await pull('doconv_resnet20_cifar_example', { registry: reg })).path).toBe(cached());
  });

  it('an entry\'s own TensorFlow.js archive is the tfjs model; an entry with only that cannot become ONNX', async () => {
    const { convertCheckpoint } = await import('../src/convert.js');
    const tar = await import('tar');
    const work = tempDir();
    await convertCheckpoint(example, join(work, 'web'), { to: 'tfjs' });
    const archive = join(work, 'web.tar.gz');
    await tar.c({ gzip: true, file: archive, cwd: work }, ['web']); // the folder itself, not its files
    const reg = entryRegistry({ name: 'cifar_resnet20_v1b' }, [artifactOf('tfjs', archive, { filename: 'web.tar.gz', archive: true })]);
    const r = await pull('doconv_resnet20_cifar_example', { registry: reg, to: 'tfjs' });
    expect(r.converted).toBe(join(r.path, 'web'));
    expect(readFileSync(join(r.converted!, 'model.json')).equals(readFileSync(join(work, 'web', 'model.json')))).toBe(true);
    expect(existsSync(join(cache, 'converted'))).toBe(false);
    await expect(pull('doconv_resnet20_cifar_example', { registry: reg, to: 'onnx' })).rejects.toThrow(/publishes only a tfjs model, which cannot be converted to onnx; pull it with --to tfjs/);
  });
});
