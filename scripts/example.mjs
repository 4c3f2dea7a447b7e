#!/usr/bin/env node
// The README's first command: convert the bundled DO-Conv ResNet-20 checkpoint to a plain .pth and
// to ONNX, run the ONNX model on the bundled input, and compare with the DO-Conv reference output.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { readNpy, toFloat32 } = await import(join(root, 'dist/index.js'));
const ex = (f) => join(root, 'examples', f);
const out = (f) => join(root, 'examples', 'out', f);

function step(title, args) {
  console.log(`\n$ doconv-zoo ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [join(root, 'dist/cli/main.js'), ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`${title} failed (exit ${r.status})`);
    process.exit(r.status ?? 2);
  }
}

step('inspect', ['inspect', ex('doconv_resnet20_cifar.pth')]);
step('convert to .pth', ['convert', ex('doconv_resnet20_cifar.pth'), '-o', out('resnet20_cifar.fused.pth')]);
step('convert to ONNX', ['convert', ex('doconv_resnet20_cifar.pth'), '-o', out('resnet20_cifar.onnx')]);
step('predict', ['predict', out('resnet20_cifar.onnx'), '--input', ex('doconv_resnet20_cifar.input.npy'), '--output', out('logits.npy')]);

const load = (p) => toFloat32(readNpy(new Uint8Array(readFileSync(p))));
const y = load(out('logits.npy'));
const ref = load(ex('doconv_resnet20_cifar.expected.npy'));
let num = 0;
let den = 0;
for (let i = 0; i < y.length; i++) {
  num = Math.max(num, Math.abs(y[i] - ref[i]));
  den = Math.max(den, Math.abs(ref[i]));
}
const argmax = (a, r) => a.subarray(r * 10, r * 10 + 10).reduce((b, v, i, s) => (v > s[b] ? i : b), 0);
const same = Array.from({ length: y.length / 10 }, (_, r) => argmax(y, r) === argmax(ref, r)).every(Boolean);
console.log(`\nONNX logits vs the DO-Conv reference network: max relative error ${(num / den).toExponential(2)}, top-1 ${same ? 'identical' : 'DIFFERENT'}`);
process.exit(num / den < 1e-4 && same ? 0 : 1);
