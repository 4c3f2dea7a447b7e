// @tier shared-fixtures: reads ../shared/fixtures (or DOCONV_ZOO_FIXTURES); skipped where absent, a failure under CI=true (vitest.config.ts).
// A real browser: Debian's headless Chromium, driven by playwright-core, loads a converted model
// and tfjs's own browser bundle from a server on 127.0.0.1 and classifies an input; the logits it
// reports must match the reference (and Node). With CI=true a missing Chromium fails the test.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoint } from '../src/convert.js';
import { toFloat32 } from '../src/tensor/tensor.js';
import { nchwToNhwc } from '../src/tensor/layout.js';
import { readNpyFile, relativeError } from './helpers/npz.js';
import { argmaxRows } from './helpers/onnx.js';
import { fixture, ROOT, tempDir } from './helpers/paths.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing; .ci/run installs Debian's chromium`);

const PAGE = `<!doctype html><html><head><script src="/tf.min.js"></script></head><body><script>
window.classify = async (data, shape, backend) => {
  await tf.setBackend(backend);
  await tf.ready();
  const model = await tf.loadGraphModel('/model/model.json');
  const y = model.predict(tf.tensor(data, shape, 'float32'));
  return { backend: tf.getBackend(), shape: y.shape, logits: Array.from(await y.data()) };
};
</script></body></html>`;

describe.skipIf(!available)('TensorFlow.js model in headless Chromium', () => {
  const modelDir = join(tempDir(), 'web_model');
  const bundle = join(ROOT, 'node_modules', '@tensorflow', 'tfjs', 'dist', 'tf.min.js');
  let server: Server;
  let base = '';

  beforeAll(async () => {
    await convertCheckpoint(fixture('pytorch', 'resnet_basic_1111.pth'), modelDir, { to: 'tfjs', inputSize: [32, 32] });
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      let file: string | undefined;
      if (url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end(PAGE);
        return;
      }
      if (url.pathname === '/tf.min.js') file = bundle;
      else if (url.pathname.startsWith('/model/')) {
        const rel = normalize(url.pathname.slice('/model/'.length));
        if (!rel.startsWith('..')) file = join(modelDir, rel);
      }
      if (file === undefined || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      const type = extname(file) === '.js' ? 'text/javascript' : extname(file) === '.json' ? 'application/json' : 'application/octet-stream';
      res.writeHead(200, { 'content-type': type });
      res.end(readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => server?.close());

  it('loads the model, classifies the fixture input, and its logits match the reference within 1e-4', async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(base, { timeout: 60_000 });
      const x = readNpyFile(fixture('pytorch', 'resnet_basic_1111.input.npy'));
      const turned = nchwToNhwc(toFloat32(x), x.shape);
      const nhwc = Array.from(turned.data);
      const [n, h, w, c] = turned.shape as [number, number, number, number];
      const result = (await page.evaluate(
        ({ data, shape }) => (globalThis as unknown as { classify: (d: number[], s: number[], b: string) => Promise<unknown> }).classify(data, shape, 'cpu'),
        { data: nhwc, shape: [n, h, w, c] },
      )) as { backend: string; shape: number[]; logits: number[] };
      expect(result.backend).toBe('cpu');
      expect(result.shape).toEqual([2, 10]);
      const ref = toFloat32(readNpyFile(fixture('pytorch', 'resnet_basic_1111.expected.npy')));
      const logits = Float32Array.from(result.logits);
      expect(relativeError(logits, ref)).toBeLessThan(1e-4);
      expect(argmaxRows(logits, 10)).toEqual(argmaxRows(ref, 10));
    } finally {
      await browser.close();
    }
  }, 120_000);
});
