#!/usr/bin/env node
// Benchmark: DO-Conv ResNet-50 .pth -> fused .pth, doconv-zoo against the Python route
// (torch.load + the reference einsum fuse + torch.save), measured in the same run.
// Prints wall-clock and peak RSS for each, their ratios, and peak RSS over checkpoint size.
// Usage: npm run bench:convert-pth [-- --repeat N --arch resnet50]
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({ options: { repeat: { type: 'string', default: '3' }, arch: { type: 'string', default: 'resnet50' }, json: { type: 'boolean' } } });
const repeat = Number(values.repeat);
const python = '/usr/bin/python3';
const dir = mkdtempSync(join(tmpdir(), 'doconv-bench-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true })); // the generated checkpoints are large
const caseName = `${values.arch}_zip`;

const gen = spawnSync(python, [join(root, 'scripts/reference/make_cases.py'), dir, '--only', caseName], { encoding: 'utf8' });
if (gen.status !== 0) {
  console.error(gen.stderr);
  process.exit(2);
}
const input = join(dir, `${caseName}.pth`);
const size = statSync(input).size;

/** Runs a command under /usr/bin/time, returning wall seconds and peak RSS in bytes. */
function measure(cmd, args) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M', cmd, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  const last = r.stderr.trim().split('\n').pop();
  const [sec, kb] = last.split(' ').map(Number);
  return { seconds: sec, rss: kb * 1024 };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cli = join(root, 'dist/cli/main.js');
if (!existsSync(cli)) throw new Error('run npm run build first');
const ours = [];
const theirs = [];
for (let i = 0; i < repeat; i++) {
  ours.push(measure(process.execPath, [cli, 'convert', input, '-o', join(dir, 'ours.pth'), '-q']));
  theirs.push(measure(python, [join(root, 'scripts/bench/python_route.py'), 'pth', input, join(dir, 'theirs.pth')]));
}
const o = { seconds: median(ours.map((r) => r.seconds)), rss: Math.max(...ours.map((r) => r.rss)) };
const t = { seconds: median(theirs.map((r) => r.seconds)), rss: Math.max(...theirs.map((r) => r.rss)) };
const mib = (b) => (b / 2 ** 20).toFixed(1);
const result = {
  case: `${values.arch} DO-Conv .pth (zip), ${mib(size)} MiB`,
  repeat,
  doconvZoo: { seconds: o.seconds, peakRssMiB: Number(mib(o.rss)) },
  pythonRoute: { seconds: t.seconds, peakRssMiB: Number(mib(t.rss)) },
  speedup: Number((t.seconds / o.seconds).toFixed(2)),
  peakRssOverCheckpoint: Number((o.rss / size).toFixed(2)),
  pythonPeakRssOverCheckpoint: Number((t.rss / size).toFixed(2)),
};
if (values.json) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`${result.case}, median of ${repeat}`);
  console.log(`  doconv-zoo    ${o.seconds.toFixed(2)} s, peak RSS ${mib(o.rss)} MiB (${result.peakRssOverCheckpoint}x the checkpoint)`);
  console.log(`  python route  ${t.seconds.toFixed(2)} s, peak RSS ${mib(t.rss)} MiB (${result.pythonPeakRssOverCheckpoint}x)`);
  console.log(`  speed-up      ${result.speedup}x`);
}
