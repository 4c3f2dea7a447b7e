#!/usr/bin/env node
// Benchmark: images/s of a DO-Conv ResNet-50 on the GPU engine --device gpu picks, against the same
// model on onnxruntime's CPU provider (all cores) and torch eager on CUDA (the Python route, when
// python3 has torch with CUDA), batch 1/32/128, inputs copied from host memory every call, as eval does.
// Usage: node scripts/bench/gpu-throughput.mjs RESNET50_DOCONV.pth [--json]
import { spawnSync } from 'node:child_process';
import { availableParallelism, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { loadModel } = await import(join(root, 'dist/index.js'));
const ckpt = process.argv[2];
if (!ckpt) throw new Error('usage: gpu-throughput.mjs RESNET50_DOCONV.pth');
const BATCHES = [1, 32, 128];

async function throughput(model) {
  const out = {};
  for (const batch of BATCHES) {
    const x = new Float32Array(batch * 3 * 224 * 224).map(() => Math.random() * 2 - 1);
    const shape = [batch, 3, 224, 224];
    for (let i = 0; i < 3; i++) await model.predict({ data: x, shape });
    const runs = Math.max(5, Math.ceil(256 / batch));
    const t = performance.now();
    for (let i = 0; i < runs; i++) await model.predict({ data: x, shape });
    out[batch] = (batch * runs) / ((performance.now() - t) / 1000);
  }
  return out;
}

const rows = [];
let gpu;
try {
  gpu = await loadModel(ckpt, { device: 'gpu', inputSize: [224, 224] });
  rows.push({ engine: `onnxruntime ${gpu.executionProvider} (gpu)`, ...(await throughput(gpu)) });
  await gpu.dispose();
} catch (err) {
  rows.push({ engine: 'gpu', error: err.message.split('\n')[0] });
}
const cpu = await loadModel(ckpt, { device: 'cpu', inputSize: [224, 224], threads: availableParallelism() });
rows.push({ engine: `onnxruntime cpu (${availableParallelism()} threads)`, ...(await throughput(cpu)) });
await cpu.dispose();

// The Python route: fuse with doconv-zoo, then torch eager on CUDA.
const dir = mkdtempSync(join(tmpdir(), 'doconv-gpu-bench-'));
try {
  const fused = join(dir, 'fused.pth');
  spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), 'convert', ckpt, '-o', fused, '-q'], { stdio: 'inherit' });
  const spec = JSON.stringify({ block: 'bottleneck', layers: [3, 4, 6, 3] });
  const r = spawnSync('python3', [join(root, 'scripts/bench/torch_gpu.py'), fused, spec], { encoding: 'utf8' });
  const torch = r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').pop()) : { error: r.stderr.trim().split('\n').pop() };
  rows.push(torch.error ? { engine: 'torch cuda', error: torch.error } : { engine: `torch eager cuda fp32 (${torch.device})`, 1: torch[1], 32: torch[32], 128: torch[128] });
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (process.argv.includes('--json')) console.log(JSON.stringify(rows, null, 2));
console.log('ResNet-50 (DO-Conv, fused), images/s');
console.log(['engine'.padEnd(52), ...BATCHES.map((b) => `batch ${b}`.padStart(10))].join(''));
for (const r of rows) console.log(r.error ? `${r.engine.padEnd(52)}${r.error}` : [r.engine.padEnd(52), ...BATCHES.map((b) => r[b].toFixed(1).padStart(10))].join(''));
const g = rows[0];
const c = rows[1];
const t = rows[2];
if (!g.error) console.log(`ratios gpu/cpu: ${BATCHES.map((b) => (g[b] / c[b]).toFixed(2)).join(' / ')}${t && !t.error ? `; gpu/torch-cuda: ${BATCHES.map((b) => (g[b] / t[b]).toFixed(2)).join(' / ')}` : ''}`);
