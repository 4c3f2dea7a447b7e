#!/usr/bin/env node
// Writes registry/manifest.json's ImageNet entries from the DO-Conv paper's table (arXiv 2006.12030,
// ImageNet-1k val top-1 %: baseline and DO-Conv gain) and GluonCV's published reference numbers,
// keeping entries that are already there (small-zoo entries, verifications). Then the JSON Schema.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { ManifestSchema, manifestJsonSchema } = await import(join(root, 'dist/registry/schema.js'));

// name: [baseline top-1, DO-Conv gain, GluonCV reference top-1]
const PAPER = {
  plain18: [69.97, 1.01, undefined],
  resnet18_v1: [70.87, 0.82, 70.93], resnet34_v1: [74.49, 0.49, 74.37], resnet50_v1: [77.32, 0.08, 77.36], resnet101_v1: [78.16, 0.46, 78.34], resnet152_v1: [79.34, 0.07, 79.22],
  resnet18_v1b: [71.08, 0.71, 70.94], resnet34_v1b: [74.35, 0.77, 74.65], resnet50_v1b: [77.56, 0.44, 77.67], resnet101_v1b: [79.14, 0.25, 79.2], resnet152_v1b: [79.6, 0.1, 79.69],
  resnet18_v2: [70.8, 0.64, 71.0], resnet34_v2: [74.76, 0.22, 74.4], resnet50_v2: [77.17, 0.31, 77.17], resnet101_v2: [78.56, 0.11, 78.53], resnet152_v2: [79.24, 0.14, 79.21],
  resnext50_32x4d: [79.21, 0.4, 79.32],
};
const DEPTH = { 18: ['basic', [2, 2, 2, 2]], 34: ['basic', [3, 4, 6, 3]], 50: ['bottleneck', [3, 4, 6, 3]], 101: ['bottleneck', [3, 4, 23, 3]], 152: ['bottleneck', [3, 8, 36, 3]] };
const round2 = (x) => Math.round(x * 100) / 100;

function entry(name, [base, gain, gluon]) {
  const depth = Number(/(\d+)/.exec(name)[1]);
  const [block, layers] = DEPTH[depth];
  const family = name.startsWith('plain') ? 'plain' : name.startsWith('resnext') ? 'resnet_v1b' : `resnet_${name.split('_').pop()}`;
  const groups = name.startsWith('resnext') ? 32 : 1;
  return {
    name,
    description: `${name} with every convolution a DO-Conv layer, as trained for the DO-Conv paper's ImageNet table (GluonCV).`,
    // name: what --arch takes (and pull converts with): these rows are named as specFromName spells them.
    architecture: { name, family, depth, block, layers, groups, widthPerGroup: groups > 1 ? 4 : 64, numClasses: 1000 },
    input: { size: [224, 224], channels: 3, layout: 'NCHW', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 256, crop: 224 },
    accuracy: {
      paper: { dataset: 'ImageNet-1k val', baselineTop1: base, doconvGain: gain, doconvTop1: round2(base + gain), source: 'DO-Conv (arXiv 2006.12030), ImageNet table' },
      ...(gluon !== undefined ? { gluoncvReferenceTop1: gluon } : {}),
      verified: [],
    },
    artifacts: [],
    artifactsNote: 'The DO-Conv authors published no ImageNet DO-Conv weights. Host your own with `doconv-zoo registry add CKPT --name ' + name + ' --registry DIR`.',
    license: 'unknown (no weights published)',
    paper: { title: 'DO-Conv: Depthwise Over-parameterized Convolutional Layer', arxiv: '2006.12030', url: 'https://arxiv.org/abs/2006.12030' },
  };
}

const path = join(root, 'registry', 'manifest.json');
const old = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : { entries: [] };
const kept = old.entries.filter((e) => !(e.name in PAPER));
const previous = new Map(old.entries.map((e) => [e.name, e]));
const entries = Object.entries(PAPER).map(([name, row]) => {
  const e = entry(name, row);
  const p = previous.get(name);
  if (p) Object.assign(e, { artifacts: p.artifacts, accuracy: { ...e.accuracy, verified: p.accuracy.verified } });
  if (e.artifacts.length > 0) delete e.artifactsNote;
  return e;
});
const manifest = ManifestSchema.parse({ schemaVersion: 1, name: 'doconv-zoo', entries: [...entries, ...kept] });
writeFileSync(path, `${JSON.stringify(manifest, null, 1)}\n`);
writeFileSync(join(root, 'registry', 'manifest.schema.json'), `${JSON.stringify(manifestJsonSchema(), null, 1)}\n`);
console.log(`wrote ${manifest.entries.length} entries`);
