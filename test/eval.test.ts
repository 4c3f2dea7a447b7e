// The evaluation harness: the small zoo's accuracy reproduced exactly through `eval`; tiny
// ImageNet-layout folders of generated JPEGs (class folders and the flat ILSVRC2012 layout with each
// kind of label file) give every image its right label and the same predictions; a corrupt JPEG is
// reported and counted, not fatal; records validate and `registry verify` adds them; preprocessing
// pieces follow torchvision's arithmetic.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { fingerprint, openDataset, spreadIndices, type TensorDataset } from '../src/eval/datasets.js';
import { cropOffsets, resizeAndCrop, resizedSize } from '../src/eval/preprocess.js';
import { ManifestSchema } from '../src/registry/schema.js';
import { addVerification } from '../src/registry/verify.js';
import { evaluate } from '../src/runtime/eval.js';
import { CLI, ROOT, tempDir } from './helpers/paths.js';

const MNIST_SAMPLE = join(ROOT, 'registry', 'artifacts', 'doconv_mnist_sample.pth');
const PER_CLASS = 12;

/** Digits of the test split as 8-bit grey images, `PER_CLASS` of each class, with their labels. */
function digits(): { pixels: Uint8Array[]; labels: number[] } {
  const d = openDataset('mnist') as TensorDataset;
  const pixels: Uint8Array[] = [];
  const labels: number[] = [];
  const seen = new Array(10).fill(0) as number[];
  d.labels.forEach((label, i) => {
    if (seen[label]! >= PER_CLASS) return;
    seen[label]!++;
    pixels.push(Uint8Array.from(d.images.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255)));
    labels.push(label);
  });
  return { pixels, labels };
}

const synset = (label: number) => `n0000000${label}`;

describe('eval on ImageNet-layout folders of generated JPEGs', () => {
  let root: string;
  let folder: string;
  let flat: string;
  let set: ReturnType<typeof digits>;
  beforeAll(async () => {
    process.env.DOCONV_ZOO_CACHE ??= tempDir('doconv-zoo-cache-');
    root = tempDir('doconv-eval-');
    folder = join(root, 'val-folders');
    flat = join(root, 'val-flat');
    mkdirSync(flat, { recursive: true });
    set = digits();
    // Numbered so that file order and class order differ, as in the real validation set.
    const order = set.labels.map((_, i) => i).sort((a, b) => ((a * 7919) % set.labels.length) - ((b * 7919) % set.labels.length));
    const lines: string[] = [];
    for (const [n, i] of order.entries()) {
      const name = `ILSVRC2012_val_${String(n + 1).padStart(8, '0')}.JPEG`;
      const jpeg = await sharp(Buffer.from(set.pixels[i]!), { raw: { width: 28, height: 28, channels: 1 } }).jpeg({ quality: 100 }).toBuffer();
      mkdirSync(join(folder, synset(set.labels[i]!)), { recursive: true });
      writeFileSync(join(folder, synset(set.labels[i]!), name), jpeg);
      writeFileSync(join(flat, name), jpeg);
      lines.push(`${name} ${set.labels[i]}`);
    }
    writeFileSync(join(root, 'val.txt'), `${lines.join('\n')}\n`);
  });

  it('class folders: labels are the sorted synset indices, and the accuracy is the tensors\' within JPEG rounding', async () => {
    const ds = openDataset(folder, { numClasses: 10 });
    expect(ds.kind === 'images' && ds.layout).toBe('image-folder');
    if (ds.kind !== 'images') return;
    expect(ds.samples).toHaveLength(10 * PER_CLASS);
    for (const s of ds.samples) expect(s.file.startsWith(`${synset(s.label)}/`)).toBe(true);
    const r = await evaluate(MNIST_SAMPLE, { data: folder });
    expect(r.count).toBe(10 * PER_CLASS);
    expect(r.failed).toEqual([]);
    expect(r.preprocessing).toMatchObject({ resize: 28, crop: 28, channels: 1, layout: 'NCHW' });
    // The network gets ~92% of the test digits; JPEG at quality 100 hardly moves that.
    expect(r.top1).toBeGreaterThan(80);
  }, 120_000);

  it('the flat layout with val.txt, with FILE SYNSET lines, with Kaggle\'s CSV and with one synset per line: the same labels and predictions as class folders', async () => {
    const a = await evaluate(MNIST_SAMPLE, { data: folder, keepPredictions: true });
    const flatDs = openDataset(flat, { labels: join(root, 'val.txt') });
    if (flatDs.kind !== 'images') throw new Error('expected images');
    const byName = new Map(flatDs.samples.map((s) => [s.file, s.label]));
    const ds = openDataset(folder);
    if (ds.kind !== 'images') throw new Error('expected images');
    for (const s of ds.samples) expect(byName.get(s.file.split('/')[1]!)).toBe(s.label);
    const r = await evaluate(MNIST_SAMPLE, { data: flat, keepPredictions: true });
    expect([r.correct, r.count]).toEqual([a.correct, a.count]);
    const flatTop1 = new Map(r.predictions!.map((p) => [p.id, p.top1]));
    for (const p of a.predictions!) expect(flatTop1.get(p.id.split('/')[1]!)).toBe(p.top1);
    expect(r.dataset.layout).toBe('ilsvrc-flat');
    // Other label files, synset-named
    const val = readFileSync(join(root, 'val.txt'), 'utf8').trim().split('\n').map((l) => l.split(' ') as [string, string]);
    const variants: [string, string][] = [
      ['synset-pairs.txt', val.map(([f, l]) => `${f} ${synset(Number(l))}`).join('\n')],
      ['LOC_val_solution.csv', `ImageId,PredictionString\n${val.map(([f, l]) => `${f.replace('.JPEG', '')},${synset(Number(l))} 1 2 3 4 ${synset(Number(l))} 5 6 7 8`).join('\n')}`],
      ['one-per-line.txt', [...val].sort((x, y) => (x[0] < y[0] ? -1 : 1)).map(([, l]) => synset(Number(l))).join('\n')],
    ];
    for (const [name, text] of variants) {
      writeFileSync(join(root, name), `${text}\n`);
      const v = await evaluate(MNIST_SAMPLE, { data: flat, labels: join(root, name) });
      expect([name, v.correct, v.count]).toEqual([name, a.correct, a.count]);
      expect(v.record.datasetFingerprint).toBe(r.record.datasetFingerprint);
    }
  }, 120_000);

  it('a corrupt JPEG and a truncated one are reported and counted, not fatal', async () => {
    const damaged = join(root, 'damaged');
    cpSync(folder, damaged, { recursive: true });
    const victim = join(damaged, synset(3));
    writeFileSync(join(victim, 'zz_corrupt.JPEG'), Buffer.from('this is not a JPEG at all'));
    const good = readFileSync(join(victim, readdirSync(victim)[0]!));
    writeFileSync(join(victim, 'zz_truncated.JPEG'), good.subarray(0, good.length >> 1));
    const r = await evaluate(MNIST_SAMPLE, { data: damaged });
    expect(r.failed.map((f) => f.file).sort()).toEqual([`${synset(3)}/zz_corrupt.JPEG`, `${synset(3)}/zz_truncated.JPEG`]);
    expect(r.count).toBe(10 * PER_CLASS);
    expect(r.record.failed).toBe(2);
    const cli = spawnSync(process.execPath, [CLI, 'eval', MNIST_SAMPLE, '--data', damaged, '--no-record'], { encoding: 'utf8' });
    expect(cli.status).toBe(0);
    expect(cli.stdout).toMatch(/2 could not be decoded/);
    expect(cli.stdout).toMatch(/failed: n00000003\/zz_corrupt\.JPEG: /);
  }, 120_000);

  it('partial class folders without a synset list are refused (their indices would be guesses)', () => {
    // a 1000-class network looks wnid folders up in ImageNet-1k's list, which has no n00000000
    expect(() => openDataset(folder, { numClasses: 1000 })).toThrow(/class folder 'n00000000' is not in the 1000 ImageNet-1k .*--synsets/);
    expect(() => openDataset(folder, { numClasses: 12 })).toThrow(/10 class folders but the network has 12 classes.*--synsets/);
    const synsets = join(root, 'synsets.txt');
    writeFileSync(synsets, Array.from({ length: 1000 }, (_, i) => `n${String(i).padStart(8, '0')} class ${i}`).join('\n'));
    const ds = openDataset(folder, { numClasses: 1000, synsets });
    if (ds.kind !== 'images') throw new Error('expected images');
    expect(new Set(ds.samples.map((s) => s.label))).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  });

  it("the devkit's numeric ground truth and unlabelled images are explained, not guessed", () => {
    const gt = join(root, 'ILSVRC2012_validation_ground_truth.txt');
    writeFileSync(gt, Array.from({ length: 10 * PER_CLASS }, () => '65').join('\n'));
    expect(() => openDataset(flat, { labels: gt })).toThrow(/meta\.mat's synset order/);
    writeFileSync(join(root, 'short.txt'), readFileSync(join(root, 'val.txt'), 'utf8').split('\n').slice(1).join('\n'));
    expect(() => openDataset(flat, { labels: join(root, 'short.txt') })).toThrow(/1 image\(s\) have no label/);
  });
});

describe('eval on the small zoo, records and registry verify', () => {
  beforeAll(() => {
    process.env.DOCONV_ZOO_CACHE ??= tempDir('doconv-zoo-cache-');
  });

  it('eval NAME --data mnist reproduces the recorded count exactly, writes a record, and registry verify adds it', async () => {
    const dir = tempDir('doconv-verify-');
    cpSync(join(ROOT, 'registry'), join(dir, 'registry'), { recursive: true });
    const record = join(dir, 'record.json');
    const r = spawnSync(process.execPath, [CLI, 'eval', 'doconv_mnist_sample', '--data', 'mnist', '--json', '--record', record], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { correct: number; count: number; record: { modelSha256: string } };
    expect([out.correct, out.count]).toEqual([1822, 1990]);
    const before = ManifestSchema.parse(JSON.parse(readFileSync(join(dir, 'registry', 'manifest.json'), 'utf8'))).entries.find((e) => e.name === 'doconv_mnist_sample')!.accuracy.verified;
    const v = spawnSync(process.execPath, [CLI, 'registry', 'verify', 'doconv_mnist_sample', '--record', record, '--registry', join(dir, 'registry')], { encoding: 'utf8' });
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/exactly the recorded number right/);
    const manifest = ManifestSchema.parse(JSON.parse(readFileSync(join(dir, 'registry', 'manifest.json'), 'utf8')));
    const entry = manifest.entries.find((e) => e.name === 'doconv_mnist_sample')!;
    // the bundled manifest already holds an onnx/cpu record of these weights and data: it is replaced
    const sameKind = before.filter((x) => x.backend === 'onnx' && x.device === 'cpu').length;
    expect(entry.accuracy.verified).toHaveLength(before.length - sameKind + 1);
    expect(entry.accuracy.verified.at(-1)).toMatchObject({ count: 1990, correct: 1822, top1: 91.5578, backend: 'onnx', device: 'cpu', modelSha256: entry.artifacts[0]!.sha256 });
    // The same again replaces rather than piles up; another entry's weights are refused.
    expect(addVerification('doconv_mnist_sample', record, { registry: join(dir, 'registry') }).replaced).toBe(true);
    expect(() => addVerification('doconv_mnist_resnet8_g4', record, { registry: join(dir, 'registry') })).toThrow(/not this entry's/);
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ top1: 'high' }));
    expect(() => addVerification('doconv_mnist_sample', join(dir, 'bad.json'), { registry: join(dir, 'registry') })).toThrow(/not a verification record/);
  }, 120_000);

  it('the tfjs backend reproduces it too, and --limit takes evenly spaced samples', async () => {
    const r = await evaluate('doconv_mnist_resnet8_g4', { data: 'mnist', backend: 'tfjs', batchSize: 500 });
    expect([r.correct, r.count]).toEqual([1954, 1990]);
    const part = await evaluate('doconv_mnist_resnet8_g4', { data: 'mnist', limit: 100 });
    expect(part.count).toBe(100);
    expect(part.dataset.available).toBe(1990);
    expect(spreadIndices(1990, 10)).toEqual([0, 199, 398, 597, 796, 995, 1194, 1393, 1592, 1791]);
  }, 120_000);

  it('fingerprints depend on the files and labels, not on their order', () => {
    const a = fingerprint(['b.jpg', 'a.jpg'], [1, 0]);
    expect(fingerprint(['a.jpg', 'b.jpg'], [0, 1])).toBe(a);
    expect(fingerprint(['a.jpg', 'b.jpg'], [1, 0])).not.toBe(a);
  });

  it('bad arguments are one-line errors', () => {
    const r = spawnSync(process.execPath, [CLI, 'eval', MNIST_SAMPLE, '--data', '/nonexistent/val'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no such dataset folder/);
    expect(spawnSync(process.execPath, [CLI, 'eval', MNIST_SAMPLE], { encoding: 'utf8' }).stderr).toMatch(/needs --data/);
  });
});

describe('preprocessing follows torchvision', () => {
  it('Resize(256) output sizes and CenterCrop offsets (Python rounding, half to even)', () => {
    expect(resizedSize(500, 375, 256)).toEqual([341, 256]);
    expect(resizedSize(375, 500, 256)).toEqual([256, 341]);
    expect(resizedSize(256, 256, 256)).toEqual([256, 256]);
    expect(cropOffsets(341, 256, 224)).toEqual([16, 58]); // (341-224)/2 = 58.5 -> 58
    expect(cropOffsets(227, 256, 224)).toEqual([16, 2]); // 1.5 -> 2
  });

  it('an image already at the crop size passes through untouched', () => {
    const data = Uint8Array.from({ length: 28 * 28 }, (_, i) => i % 251);
    expect(resizeAndCrop({ width: 28, height: 28, channels: 1, data }, 28, 28).data).toEqual(data);
  });
});


describe('eval treats its data as hostile', () => {
  it('a JPEG whose header claims 60000x60000 pixels is refused before decoding (counted as failed), and link loops end', async () => {
    const dir = tempDir('doconv-eval-hostile-');
    const cls = join(dir, 'val', 'n00000000');
    mkdirSync(cls, { recursive: true });
    const small = await sharp(Buffer.alloc(28 * 28, 128), { raw: { width: 28, height: 28, channels: 1 } }).jpeg().toBuffer();
    writeFileSync(join(cls, 'a_ok.jpg'), small);
    // Patch the SOF0 frame header's height and width (big-endian u16 after the precision byte).
    const bomb = Buffer.from(small);
    const sof = bomb.indexOf(Buffer.from([0xff, 0xc0]));
    expect(sof).toBeGreaterThan(0);
    bomb.writeUInt16BE(60000, sof + 5);
    bomb.writeUInt16BE(60000, sof + 7);
    writeFileSync(join(cls, 'b_bomb.jpg'), bomb);
    symlinkSync(join(dir, 'val'), join(cls, 'loop'));
    // one class folder of the digit network's ten: its class index comes from a synset list
    const synsets = join(dir, 'digit-synsets.txt');
    writeFileSync(synsets, Array.from({ length: 10 }, (_, i) => synset(i)).join('\n'));
    const before = process.memoryUsage().rss;
    const r = await evaluate(MNIST_SAMPLE, { data: join(dir, 'val'), synsets });
    expect(r.count).toBe(1);
    expect(r.failed).toHaveLength(1);
    expect(r.failed[0]!.file).toBe('n00000000/b_bomb.jpg');
    expect(r.failed[0]!.error).toMatch(/pixel limit/i);
    expect(process.memoryUsage().rss - before).toBeLessThan(2 ** 30);
  }, 60_000);
});

describe('label files are parsed defensively', () => {
  it('300 mutated label files (flipped bytes, cut lines, junk): a dataset or a DoconvError, nothing else', async () => {
    const { DoconvError } = await import('../src/errors.js');
    const dir = tempDir('doconv-labels-');
    const flat = join(dir, 'val');
    mkdirSync(flat);
    const names = Array.from({ length: 12 }, (_, i) => `ILSVRC2012_val_${String(i + 1).padStart(8, '0')}.JPEG`);
    for (const n of names) writeFileSync(join(flat, n), 'x');
    const seeds = [
      names.map((n, i) => `${n} ${i % 10}`).join('\n'),
      `ImageId,PredictionString\n${names.map((n, i) => `${n.replace('.JPEG', '')},${synset(i % 10)} 1 2 3 4`).join('\n')}`,
      names.map((_, i) => synset(i % 10)).join('\n'),
    ];
    let state = 99;
    const rand = (n: number) => {
      state = (state * 1103515245 + 12345) >>> 0;
      return state % n;
    };
    let datasets = 0;
    for (let m = 0; m < 300; m++) {
      const bytes = Buffer.from(seeds[m % seeds.length]!);
      const kind = rand(3);
      let text: Buffer;
      if (kind === 0) {
        text = Buffer.from(bytes);
        for (let k = 0; k < 1 + rand(6); k++) text[rand(text.length)] = rand(256);
      } else if (kind === 1) text = bytes.subarray(0, rand(bytes.length));
      else text = Buffer.concat([bytes, Buffer.from(Array.from({ length: rand(64) }, () => rand(256)))]);
      writeFileSync(join(dir, 'labels.txt'), text);
      try {
        openDataset(flat, { labels: join(dir, 'labels.txt'), numClasses: 10 });
        datasets++;
      } catch (err) {
        if (!(err instanceof DoconvError)) throw new Error(`mutant ${m}: ${(err as Error).stack}`);
      }
    }
    expect(datasets).toBeGreaterThan(0); // some mutants stay valid (a flipped byte inside a name's digits, say)
  });
});
