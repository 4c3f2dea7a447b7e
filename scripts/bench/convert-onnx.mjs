#!/usr/bin/env node
// Benchmark: DO-Conv ResNet-50 .pth -> .onnx, doconv-zoo against the Python route (torch.load, the
// reference einsum fuse, load into torchvision, torch.onnx.export), measured in the same run.
// Usage: npm run bench:convert-onnx [-- --repeat N --arch resnet50]
import { existsSync, rmSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateCase, measure, median, mib, PYTHON } from './measure.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({ options: { repeat: { type: 'string', default: '3' }, arch: { type: 'string', default: 'resnet50' }, json: { type: 'boolean' } } });
const SPECS = { resnet18: { block: 'basic', layers: [2, 2, 2, 2] }, resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] }, resnet152: { block: 'bottleneck', layers: [3, 8, 36, 3] } };
const dir = mkdtempSync(join(tmpdir(), 'doconv-bench-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true })); // the generated checkpoints are large
const input = generateCase(root, dir, `${values.arch}_zip`);
const size = statSync(input).size;
const cli = join(root, 'dist/cli/main.js');
if (!existsSync(cli)) throw new Error('run npm run build first');
const ours = [];
const theirs = [];
for (let i = 0; i < Number(values.repeat); i++) {
  ours.push(measure(process.execPath, [cli, 'convert', input, '-o', join(dir, 'ours.onnx'), '-q']));
  theirs.push(measure(PYTHON, [join(root, 'scripts/bench/python_route.py'), 'onnx', input, join(dir, 'theirs.onnx'), JSON.stringify(SPECS[values.arch])]));
}
const o = { seconds: median(ours.map((r) => r.seconds)), rss: Math.max(...ours.map((r) => r.rss)) };
const t = { seconds: median(theirs.map((r) => r.seconds)), rss: Math.max(...theirs.map((r) => r.rss)) };
const result = {
  case: `${values.arch} DO-Conv .pth -> .onnx, checkpoint ${mib(size)} MiB`,
  doconvZoo: { seconds: o.seconds, peakRssMiB: Number(mib(o.rss)) },
  pythonRoute: { seconds: t.seconds, peakRssMiB: Number(mib(t.rss)) },
  speedup: Number((t.seconds / o.seconds).toFixed(2)),
  peakRssOverCheckpoint: Number((o.rss / size).toFixed(2)),
};
if (values.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`${result.case}, median of ${values.repeat}`);
  console.log(`  doconv-zoo    ${o.seconds.toFixed(2)} s, peak RSS ${mib(o.rss)} MiB (${result.peakRssOverCheckpoint}x the checkpoint)`);
  console.log(`  python route  ${t.seconds.toFixed(2)} s, peak RSS ${mib(t.rss)} MiB`);
  console.log(`  speed-up      ${result.speedup}x`);
}
