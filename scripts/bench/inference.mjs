#!/usr/bin/env node
// Benchmark: images/s of our ONNX through loadModel, against the torch-exported ONNX of the same
// fused network in onnxruntime-node and torch eager on CPU; batch 1 and 8, same thread count.
// Usage: npm run bench:inference [-- --threads 2 --arch resnet50]
import { spawnSync } from 'node:child_process';
import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { generateCase, PYTHON } from './measure.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { loadModel } = await import(join(root, 'dist/index.js'));
const { values } = parseArgs({ options: { threads: { type: 'string', default: '2' }, arch: { type: 'string', default: 'resnet50' }, json: { type: 'boolean' } } });
const threads = Number(values.threads);
const SPECS = { resnet18: { block: 'basic', layers: [2, 2, 2, 2] }, resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] } };
const spec = JSON.stringify(SPECS[values.arch]);
const dir = mkdtempSync(join(tmpdir(), 'doconv-bench-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true })); // the generated checkpoints are large
const input = generateCase(root, dir, `${values.arch}_zip`);
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
};
run(process.execPath, [join(root, 'dist/cli/main.js'), 'convert', input, '-o', join(dir, 'ours.onnx'), '-q']);
run(process.execPath, [join(root, 'dist/cli/main.js'), 'convert', input, '-o', join(dir, 'fused.pth'), '-q']);
run(PYTHON, [join(root, 'scripts/bench/python_route.py'), 'onnx', input, join(dir, 'torch.onnx'), spec]);

async function throughput(predict) {
  const out = {};
  for (const [batch, runs] of [[1, 30], [8, 6]]) {
    const x = new Float32Array(batch * 3 * 224 * 224).map(() => Math.random());
    for (let i = 0; i < 3; i++) await predict(x, batch);
    const t = performance.now();
    for (let i = 0; i < runs; i++) await predict(x, batch);
    out[batch] = (batch * runs) / ((performance.now() - t) / 1000);
  }
  return out;
}

const model = await loadModel(join(dir, 'ours.onnx'), { threads });
const ours = await throughput((x, b) => model.predict({ data: x, shape: [b, 3, 224, 224] }));
await model.dispose();
const session = await ort.InferenceSession.create(join(dir, 'torch.onnx'), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
const torchOnnx = await throughput((x, b) => session.run({ input: new ort.Tensor('float32', x, [b, 3, 224, 224]) }));
await session.release();
const eager = JSON.parse(run(PYTHON, [join(root, 'scripts/bench/torch_eager.py'), join(dir, 'fused.pth'), spec, String(threads)]));
const result = { arch: values.arch, threads, imagesPerSecond: { doconvZooOnnx: ours, torchExportedOnnx: torchOnnx, torchEager: eager } };
if (values.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`${values.arch} inference, images/s with ${threads} threads (batch 1 / batch 8)`);
  const row = (name, r) => console.log(`  ${name.padEnd(34)} ${r[1].toFixed(1).padStart(6)} / ${r[8].toFixed(1).padStart(6)}`);
  row('ours (loadModel, onnxruntime-node)', ours);
  row('torch-exported ONNX (onnxruntime)', torchOnnx);
  row('torch eager', eager);
  console.log(`  ours / torch-exported: ${(ours[1] / torchOnnx[1]).toFixed(2)} (batch 1), ${(ours[8] / torchOnnx[8]).toFixed(2)} (batch 8)`);
}
