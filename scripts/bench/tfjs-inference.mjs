#!/usr/bin/env node
// Benchmark: ResNet-50 images/s through loadModel on TensorFlow.js (wasm, cpu) against our ONNX on
// onnxruntime-node, batch 1, in one run; then ResNeXt-50's grouped convs in tfjs written as split
// per-group convs against one block-diagonal conv. Usage: npm run bench:tfjs [-- --runs N]
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateCase } from './measure.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { convertCheckpoint, loadModel } = await import(join(root, 'dist/index.js'));
const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' }, json: { type: 'boolean' } } });
const runs = Number(values.runs);
const dir = mkdtempSync(join(tmpdir(), 'doconv-bench-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true })); // the generated checkpoints are large

async function imagesPerSecond(model, layout, n) {
  const shape = layout === 'NHWC' ? [1, 224, 224, 3] : [1, 3, 224, 224];
  const x = new Float32Array(3 * 224 * 224).map(() => Math.random());
  for (let i = 0; i < 2; i++) await model.predict({ data: x, shape });
  const t = performance.now();
  for (let i = 0; i < n; i++) await model.predict({ data: x, shape });
  return n / ((performance.now() - t) / 1000);
}

const results = {};
const r50 = generateCase(root, dir, 'resnet50_zip');
await convertCheckpoint(r50, join(dir, 'r50.onnx'));
await convertCheckpoint(r50, join(dir, 'r50_tfjs'), { to: 'tfjs' });
const onnx = await loadModel(join(dir, 'r50.onnx'), { threads: 2 });
results['resnet50 onnxruntime-node'] = await imagesPerSecond(onnx, 'NCHW', runs);
await onnx.dispose();
for (const backend of ['wasm', 'cpu']) {
  const m = await loadModel(join(dir, 'r50_tfjs'), { backend: 'tfjs', tfjsBackend: backend });
  results[`resnet50 tfjs-${backend}`] = await imagesPerSecond(m, 'NHWC', backend === 'cpu' ? Math.max(2, Math.ceil(runs / 5)) : runs);
  await m.dispose();
}
const x50 = generateCase(root, dir, 'resnext50_32x4d_zip');
for (const grouped of ['split', 'dense']) {
  await convertCheckpoint(x50, join(dir, `x50_${grouped}`), { to: 'tfjs', groupedConv: grouped });
  const m = await loadModel(join(dir, `x50_${grouped}`), { backend: 'tfjs', tfjsBackend: 'wasm' });
  results[`resnext50 tfjs-wasm grouped=${grouped}`] = await imagesPerSecond(m, 'NHWC', Math.max(3, Math.ceil(runs / 2)));
  await m.dispose();
}
if (values.json) console.log(JSON.stringify(results, null, 2));
else {
  console.log('images/s, batch 1, 224x224 (2 cores)');
  for (const [k, v] of Object.entries(results)) console.log(`  ${k.padEnd(36)} ${v.toFixed(2)}`);
  const o = results['resnet50 onnxruntime-node'];
  console.log(`  tfjs-wasm / onnxruntime: ${(results['resnet50 tfjs-wasm'] / o).toFixed(2)}, tfjs-cpu / onnxruntime: ${(results['resnet50 tfjs-cpu'] / o).toFixed(3)}`);
}
