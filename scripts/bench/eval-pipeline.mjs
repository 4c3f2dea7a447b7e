#!/usr/bin/env node
// Benchmark: images/s of `eval` on CPU, JPEG decoding and preprocessing included, against the same
// model's bare inference (random tensors, same batch and threads) and against the Python route
// (torchvision ImageFolder + DataLoader with PIL, torch eager). The pipeline should keep the runtime
// busy: eval within 15% of bare inference.
// Usage: npm run bench:eval [-- --images 256 --batch 16 --threads 2 --rounds 3 --photos DIR]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateCase, median, PYTHON } from './measure.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { loadModel } = await import(join(root, 'dist/index.js'));
const { evaluate } = await import(join(root, 'dist/runtime/eval.js'));
const { values } = parseArgs({ options: { images: { type: 'string', default: '256' }, batch: { type: 'string', default: '16' }, threads: { type: 'string', default: String(availableParallelism()) }, photos: { type: 'string' }, rounds: { type: 'string', default: '3' }, json: { type: 'boolean' } } });
const images = Number(values.images);
const batch = Number(values.batch);
const threads = Number(values.threads);
const dir = mkdtempSync(join(tmpdir(), 'doconv-bench-eval-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const ckpt = generateCase(root, dir, 'resnet50_zip');
const data = join(dir, 'val');
// The first ImageNet-1k synset: label 0 for the 1000-class ResNet-50, as torchvision gives it.
mkdirSync(join(data, 'n01440764'), { recursive: true });
const made = spawnSync(PYTHON, [join(root, 'scripts/reference/make_photo_variants.py'), ...(values.photos ? [values.photos] : []), '--out', join(data, 'n01440764'), '--count', String(images)], { encoding: 'utf8' });
if (made.status !== 0) throw new Error(made.stderr);

// Bare inference: the same number of images, batch and threads, tensors already in memory.
async function bareInference() {
  const model = await loadModel(ckpt, { inputSize: [224, 224], threads });
  const x = new Float32Array(batch * 3 * 224 * 224).map(() => Math.random() * 2 - 1);
  for (let i = 0; i < 2; i++) await model.predict({ data: x, shape: [batch, 3, 224, 224] });
  const t = performance.now();
  for (let done = 0; done < images; done += batch) await model.predict({ data: x, shape: [batch, 3, 224, 224] });
  await model.dispose();
  return images / ((performance.now() - t) / 1000);
}
// Alternating rounds, medians: on a 2-core machine single runs vary by several percent.
const rounds = Number(values.rounds);
const bares = [];
const evals = [];
const waits = [];
let e;
for (let r = 0; r < rounds; r++) {
  bares.push(await bareInference());
  e = await evaluate(ckpt, { data, batchSize: batch, threads, keepPredictions: true });
  evals.push(e.imagesPerSecond);
  waits.push(e.waitSeconds / e.seconds);
}
const bare = median(bares);
e.imagesPerSecond = median(evals);
const fused = join(dir, 'fused.pth');
spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), 'convert', ckpt, '-o', fused, '-q']);
const spec = JSON.stringify({ block: 'bottleneck', layers: [3, 4, 6, 3] });
const py = spawnSync(PYTHON, [join(root, 'scripts/bench/torch_eval.py'), fused, spec, data, String(threads), '1', String(batch)], { encoding: 'utf8' });
const torch = py.status === 0 ? JSON.parse(py.stdout.trim().split('\n').pop()) : { error: py.stderr.trim().split('\n').pop() };

const agree = torch.top1 ? e.predictions.filter((p) => torch.top1[p.id] === p.top1).length : null;
const rows = { images, batch, threads, decodeThreads: Math.max(1, availableParallelism() - 1), bareInference: bare, eval: e.imagesPerSecond, evalTop1Correct: e.correct, python: torch.imagesPerSecond ?? null, pythonCorrect: torch.correct ?? null, sameTop1AsPython: agree };
if (values.json) console.log(JSON.stringify(rows, null, 2));
console.log(`ResNet-50, ${images} JPEGs (300-600 px), batch ${batch}, ${threads} inference threads, ${availableParallelism()} cores`);
console.log(`bare inference (onnxruntime)        ${bare.toFixed(1)} img/s (median of ${rounds}: ${bares.map((b) => b.toFixed(1)).join(', ')})`);
console.log(`eval (decode + preprocess + infer)  ${e.imagesPerSecond.toFixed(1)} img/s (median of ${rounds}: ${evals.map((b) => b.toFixed(1)).join(', ')}) = ${((100 * e.imagesPerSecond) / bare).toFixed(1)}% of bare inference`);
console.log(`the network waited for decoded images ${(100 * median(waits)).toFixed(1)}% of the eval time; decoding and preprocessing ran on ${Math.max(1, availableParallelism() - 1)} thread(s)`);
console.log(torch.error ? `python route failed: ${torch.error}` : `python route (torchvision+PIL, torch) ${torch.imagesPerSecond.toFixed(1)} img/s; eval is ${(e.imagesPerSecond / torch.imagesPerSecond).toFixed(2)}x; the same top-1 class on ${agree}/${e.predictions.length} images`);
