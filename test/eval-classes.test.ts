// eval never guesses class indices (issue 13): whatever is evaluated (an .onnx file, a TensorFlow.js
// folder, a DO-Conv checkpoint), the network's own class count decides how class folders and label
// files are numbered. A 1000-class network maps WordNet-id folders through the shipped ImageNet-1k
// list (n01484850 is 2, not 0); --synsets FILE overrides it; exactly N folders for an N-class network
// are numbered in sorted order (torchvision ImageFolder); everything else is exit 1 with the reason.
// The networks are tiny nearest-colour classifiers built here (GlobalAveragePool, Flatten, Gemm):
// an image of class c's colour is predicted as c, so a right label also scores top-1 100%.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnnxModel, writeOnnx } from '../src/emit/onnx.js';
import { writeTfjsModel } from '../src/emit/tfjs.js';
import { DoconvError } from '../src/errors.js';
import { openDataset } from '../src/eval/datasets.js';
import { IMAGENET_1K_WNIDS } from '../src/eval/imagenet-1k-wnids.js';
import type { Graph } from '../src/graph/ir.js';
import { evaluate, type EvalResult } from '../src/runtime/eval.js';
import { Tensor } from '../src/tensor/tensor.js';
import { writeTree } from './hostile/eval-helpers.js';
import { ROOT, runCli, tempDir } from './helpers/paths.js';

const MNIST_SAMPLE = join(ROOT, 'registry', 'artifacts', 'doconv_mnist_sample.pth');
const SIZE = 8;
const PREPROCESSING = { resize: SIZE, crop: SIZE, mean: [0, 0, 0], std: [1, 1, 1] };

/** Class c's colour in [0, 1]: its three decimal digits as tenths (distinct for c < 1000). */
function colour(c: number): [number, number, number] {
  return [(c % 10) / 10, (Math.floor(c / 10) % 10) / 10, (Math.floor(c / 100) % 10) / 10];
}

/** A 3x8x8 network whose logit c is 2 w_c.x - |w_c|^2 for the mean colour x: the nearest class colour wins. */
function colourNet(classes: number): Graph {
  const w = new Float32Array(classes * 3);
  const b = new Float32Array(classes);
  for (let c = 0; c < classes; c++) {
    const k = colour(c);
    k.forEach((v, i) => (w[c * 3 + i] = 2 * v));
    b[c] = -k.reduce((s, v) => s + v * v, 0);
  }
  return {
    input: 'input',
    output: 'logits',
    inputShape: [3, SIZE, SIZE],
    nodes: [
      { name: 'pool', op: { kind: 'GlobalAvgPool' }, inputs: ['input'], output: 'pool' },
      { name: 'flatten', op: { kind: 'Flatten' }, inputs: ['pool'], output: 'flat' },
      { name: 'fc', op: { kind: 'Dense', weight: Tensor.fromFloat32(w, [classes, 3]), bias: Tensor.fromFloat32(b, [classes]) }, inputs: ['flat'], output: 'logits' },
    ],
  };
}

function colourOnnx(dir: string, classes: number): string {
  const path = join(dir, `colour${classes}.onnx`);
  writeOnnx(path, buildOnnxModel(colourNet(classes), { metadata: { preprocessing: JSON.stringify({ ...PREPROCESSING, layout: 'NCHW' }) } }));
  return path;
}

/** A lossless 8x8 PNG of class c's colour. */
function png(c: number): Promise<Buffer> {
  const [r, g, b] = colour(c).map((v) => Math.round(v * 255)) as [number, number, number];
  return sharp({ create: { width: SIZE, height: SIZE, channels: 3, background: { r, g, b } } }).png().toBuffer();
}

/** Class folders `name -> class colour`, two images each. */
async function folders(classes: Record<string, number>): Promise<string> {
  const files: Record<string, Buffer> = {};
  for (const [name, c] of Object.entries(classes)) for (const i of [1, 2]) files[`${name}/img${i}.png`] = await png(c);
  return writeTree(join(tempDir('doconv-eval-classes-'), 'val'), files);
}

/** Each sample's label, by its class folder (or file) name. */
function labelsOf(r: EvalResult): Record<string, number> {
  return Object.fromEntries(r.predictions!.map((p) => [p.id.split('/')[0]!, p.label]));
}

async function refusal(model: string, options: Parameters<typeof evaluate>[1]): Promise<DoconvError> {
  const err = await evaluate(model, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DoconvError);
  return err as DoconvError;
}

describe('the shipped ImageNet-1k synset list', () => {
  it('holds the 1000 ILSVRC2012 wnids once each, in sorted order, with the classes known from LOC_synset_mapping.txt', () => {
    expect(IMAGENET_1K_WNIDS).toHaveLength(1000);
    expect(new Set(IMAGENET_1K_WNIDS).size).toBe(1000);
    for (const w of IMAGENET_1K_WNIDS) expect(w).toMatch(/^n\d{8}$/);
    expect([...IMAGENET_1K_WNIDS].sort()).toEqual([...IMAGENET_1K_WNIDS]);
    expect(IMAGENET_1K_WNIDS.slice(0, 4)).toEqual(['n01440764', 'n01443537', 'n01484850', 'n01491361']);
    expect(IMAGENET_1K_WNIDS[999]).toBe('n15075141'); // toilet tissue
    const known: [string, number][] = [
      ['n01530575', 10], // brambling
      ['n02123045', 281], // tabby
      ['n04589890', 904], // window screen
      ['n07920052', 967], // espresso
    ];
    for (const [w, i] of known) expect([w, IMAGENET_1K_WNIDS.indexOf(w)]).toEqual([w, i]);
  });
});

describe('a 1000-class network numbers WordNet-id folders by ImageNet-1k', () => {
  let dir: string;
  let model: string;
  beforeAll(() => {
    dir = tempDir('doconv-eval-classes-');
    model = colourOnnx(dir, 1000);
  });

  it('eval MODEL.onnx on two synset folders labels them 2 and 3 (the --predictions CSV), and the network agrees: top-1 100%', async () => {
    const data = await folders({ n01484850: 2, n01491361: 3, n02123045: 281 });
    const csv = join(dir, 'predictions.csv');
    const r = runCli(['eval', model, '--data', data, '--predictions', csv, '--no-record', '--json', '-q']);
    expect(r.status, r.stderr).toBe(0);
    const rows = readFileSync(csv, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    expect(rows.map(([file, label, top1]) => [file!.split('/')[0], Number(label), Number(top1)])).toEqual([
      ['n01484850', 2, 2],
      ['n01484850', 2, 2],
      ['n01491361', 3, 3],
      ['n01491361', 3, 3],
      ['n02123045', 281, 281],
      ['n02123045', 281, 281],
    ]);
    expect(JSON.parse(r.stdout)).toMatchObject({ count: 6, correct: 6, top1: 100 });
  }, 60_000);

  it("a folder named 'foo' beside a synset folder is exit 1 with one line giving the reason", async () => {
    const data = await folders({ foo: 2, n01484850: 2 });
    const r = runCli(['eval', model, '--data', data, '--no-record']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/class folder 'foo' is not a WordNet id \(nXXXXXXXX\): with 2 class folders for the network's 1000 classes.*--synsets FILE/);
  }, 60_000);

  it('a wnid that is not one of the 1000 is refused, naming it', async () => {
    const data = await folders({ n00000001: 2, n01484850: 2 });
    const err = await refusal(model, { data });
    expect(err.message).toMatch(/class folder 'n00000001' is not in the 1000 ImageNet-1k \(ILSVRC2012\) synsets.*--synsets FILE/);
  });

  it('--synsets FILE overrides the built-in list: reversed, n01484850 is 997; a list of the wrong length is refused', async () => {
    const data = await folders({ n01484850: 997, n01491361: 996 });
    const reversed = join(dir, 'reversed.txt');
    writeFileSync(reversed, `${[...IMAGENET_1K_WNIDS].reverse().join('\n')}\n`);
    const r = await evaluate(model, { data, synsets: reversed, keepPredictions: true });
    expect(labelsOf(r)).toEqual({ n01484850: 997, n01491361: 996 });
    expect(r.top1).toBe(100);
    const short = join(dir, 'short.txt');
    writeFileSync(short, IMAGENET_1K_WNIDS.slice(0, 999).join('\n'));
    expect((await refusal(model, { data, synsets: short })).message).toMatch(/short\.txt: the --synsets list names 999 classes but the network has 1000/);
  });

  it('the flat ILSVRC2012 folder: LOC_val_solution.csv, FILE INDEX lines and one synset per line give the ImageNet-1k indices', async () => {
    const flat = join(tempDir('doconv-eval-flat-'), 'val');
    const images = { ILSVRC2012_val_00000001: 281, ILSVRC2012_val_00000002: 2, ILSVRC2012_val_00000003: 904, ILSVRC2012_val_00000004: 2 };
    const files: Record<string, Buffer> = {};
    for (const [name, c] of Object.entries(images)) files[`${name}.png`] = await png(c);
    writeTree(flat, files);
    const wnid = (c: number) => IMAGENET_1K_WNIDS[c]!;
    const entries = Object.entries(images);
    const labelFiles: [string, string][] = [
      ['LOC_val_solution.csv', `ImageId,PredictionString\n${entries.map(([n, c]) => `${n},${wnid(c)} 1 2 3 4`).join('\n')}\n`],
      ['val.txt', `${entries.map(([n, c]) => `${n}.png ${c}`).join('\n')}\n`],
      ['synset-per-line.txt', `${entries.map(([, c]) => wnid(c)).join('\n')}\n`],
    ];
    for (const [name, text] of labelFiles) {
      writeFileSync(join(flat, '..', name), text);
      const r = await evaluate(model, { data: flat, labels: join(flat, '..', name), keepPredictions: true });
      expect([name, labelsOf(r)]).toEqual([name, { 'ILSVRC2012_val_00000001.png': 281, 'ILSVRC2012_val_00000002.png': 2, 'ILSVRC2012_val_00000003.png': 904, 'ILSVRC2012_val_00000004.png': 2 }]);
      expect(r.top1).toBe(100);
    }
    writeFileSync(join(flat, '..', 'bad.txt'), `${entries.map(([n], i) => `${n}.png ${i === 2 ? 'n00000001' : wnid(2)}`).join('\n')}\n`);
    expect((await refusal(model, { data: flat, labels: join(flat, '..', 'bad.txt') })).message).toMatch(/bad\.txt: synset 'n00000001' of the label file is not in the 1000 ImageNet-1k/);
    writeFileSync(join(flat, '..', 'big.txt'), `${entries.map(([n]) => `${n}.png 1000`).join('\n')}\n`);
    expect((await refusal(model, { data: flat, labels: join(flat, '..', 'big.txt') })).message).toMatch(/big\.txt, key 'line 1': class 1000 is outside the network's 1000 classes/);
  });
});

describe('a network with another class count', () => {
  let dir: string;
  let model: string;
  beforeAll(() => {
    dir = tempDir('doconv-eval-classes-');
    model = colourOnnx(dir, 5);
  });

  it('exactly its 5 class folders, any names, are numbered in sorted order (torchvision ImageFolder)', async () => {
    const data = await folders({ tench: 4, apple: 0, dog: 2, cat: 1, eel: 3 });
    const r = await evaluate(model, { data, keepPredictions: true });
    expect(labelsOf(r)).toEqual({ apple: 0, cat: 1, dog: 2, eel: 3, tench: 4 });
    expect(r.top1).toBe(100);
  });

  it('fewer folders than classes without --synsets, and more folders than classes, are refused', async () => {
    const fewer = await folders({ apple: 0, cat: 1, dog: 2, eel: 3 });
    expect((await refusal(model, { data: fewer })).message).toMatch(/4 class folders but the network has 5 classes, so which class each is cannot be known.*--synsets FILE/);
    // wnid names do not help a network that is not ImageNet-1k's
    const wnids = await folders({ n01484850: 0, n01491361: 1 });
    expect((await refusal(model, { data: wnids })).message).toMatch(/2 class folders but the network has 5 classes/);
    const more = await folders({ a: 0, b: 1, c: 2, d: 3, e: 4, f: 4 });
    const r = runCli(['eval', model, '--data', more, '--no-record']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/6 class folders but the network has 5 classes: there is no class for some of them/);
  }, 60_000);

  it('--synsets FILE (its class ids in index order, not sorted) numbers a subset of folders', async () => {
    const synsets = join(dir, 'five.txt');
    writeFileSync(synsets, 'n09999994\nn09999990 second class\nn09999993\nn09999991\nn09999992\n');
    const data = await folders({ n09999990: 1, n09999993: 2 });
    const r = await evaluate(model, { data, synsets, keepPredictions: true });
    expect(labelsOf(r)).toEqual({ n09999990: 1, n09999993: 2 });
    expect(r.top1).toBe(100);
    const foo = await folders({ foo: 1, n09999993: 2 });
    expect((await refusal(model, { data: foo, synsets })).message).toMatch(/class folder 'foo' is not in the --synsets list/);
  });

  it('a TensorFlow.js folder (no declared output shape: the class count comes from one blank run) follows the same rules', async () => {
    const tfjs = join(dir, 'colour5-tfjs');
    writeTfjsModel(tfjs, colourNet(5), { metadata: { preprocessing: { ...PREPROCESSING, inputSize: [SIZE, SIZE], layout: 'NHWC' } } });
    const options = { backend: 'tfjs' as const, tfjsBackend: 'cpu' as const, preprocessing: PREPROCESSING };
    const two = await folders({ n01484850: 0, n01491361: 1 });
    expect((await refusal(tfjs, { data: two, ...options })).message).toMatch(/2 class folders but the network has 5 classes/);
    const all = await folders({ e: 4, d: 3, c: 2, b: 1, a: 0 });
    const r = await evaluate(tfjs, { data: all, ...options, keepPredictions: true });
    expect(labelsOf(r)).toEqual({ a: 0, b: 1, c: 2, d: 3, e: 4 });
    expect(r.top1).toBe(100);
  }, 60_000);

  it('a DO-Conv checkpoint (10 classes) on one class folder is refused before any image is decoded', async () => {
    const data = writeTree(join(tempDir('doconv-eval-classes-'), 'val'), { 'n00000003/a.jpg': 'not an image at all' });
    const err = await refusal(MNIST_SAMPLE, { data });
    expect(err.message).toMatch(/1 class folders but the network has 10 classes/);
    // without the network, the folders are taken as all the classes (the library's openDataset)
    const ds = openDataset(data);
    expect(ds.kind === 'images' && ds.samples).toEqual([{ file: 'n00000003/a.jpg', label: 0 }]);
  });
});
