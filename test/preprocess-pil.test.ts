// @tier shared-fixtures: reads ../shared/fixtures (or DOCONV_ZOO_FIXTURES); skipped where absent, a failure under CI=true (vitest.config.ts).
// Cross-check (Python tier): the eval preprocessing against torchvision's on PIL. JPEGs shaped like
// ImageNet validation files (PIL-written: qualities 70..95, 4:2:0/4:2:2/4:4:4, progressive, grey)
// go through sharp + our Pillow-exact resize + crop + normalize and through torchvision's
// Resize(256)/CenterCrop(224)/ToTensor/Normalize: the tensors must be identical, bit for bit.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pythonTier, PYTHON, runPython } from './helpers/python.js';
import { CLI, fixture, ROOT, tempDir } from './helpers/paths.js';
import { mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { evaluate } from '../src/runtime/eval.js';

const tier = pythonTier();
if (!tier.available) console.log(`PIL cross-check skipped: ${tier.reason}`);

describe.skipIf(!tier.available)('preprocessing is torchvision-on-PIL exactly', () => {
  it('sharp-decoded, resized and normalised tensors equal torchvision\'s on 60 generated JPEGs; jpeg-js is measured', () => {
    const dir = tempDir('doconv-pil-');
    const made = runPython([join(ROOT, 'scripts/reference/make_photo_variants.py'), '--out', dir, '--count', '60', '--seed', '7']);
    expect(made.status, made.stderr).toBe(0);
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/bench/decode-agreement.mjs'), dir, '--json'], { encoding: 'utf8', env: { ...process.env, PYTHON } });
    expect(r.status, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf(']') + 1)) as { decoder: string; images: number; identical: number; maxTensorDiff: number; meanAbsDiff: number }[];
    const sharp = results.find((x) => x.decoder === 'sharp')!;
    expect(sharp.images).toBe(60);
    expect(sharp.identical).toBe(60);
    expect(sharp.maxTensorDiff).toBe(0);
    const jpegJs = results.find((x) => x.decoder === 'jpeg-js')!;
    console.log(`jpeg-js: ${jpegJs.identical}/60 identical, mean |diff| ${jpegJs.meanAbsDiff.toFixed(3)} levels`);
    expect(jpegJs.meanAbsDiff).toBeLessThan(2); // close, not identical: its chroma upsampling differs from libjpeg's
  }, 300_000);

  it('eval end to end: every image gets the class that torchvision ImageFolder + PIL + torch give it', async () => {
    const dir = tempDir('doconv-eval-torch-');
    const made = runPython([join(ROOT, 'scripts/reference/make_photo_variants.py'), '--out', join(dir, 'all'), '--count', '40', '--seed', '11']);
    expect(made.status, made.stderr).toBe(0);
    const data = join(dir, 'val');
    readdirSync(join(dir, 'all')).sort().forEach((f, i) => {
      const cls = join(data, `n0000000${i % 4}`);
      mkdirSync(cls, { recursive: true });
      renameSync(join(dir, 'all', f), join(cls, f));
    });
    const ckpt = fixture('pytorch', 'resnet_basic_1111.pth');
    const fused = join(dir, 'fused.pth');
    expect(spawnSync(process.execPath, [CLI, 'convert', ckpt, '-o', fused, '-q']).status).toBe(0);
    const spec = JSON.stringify({ block: 'basic', layers: [1, 1, 1, 1], num_classes: 10 });
    const torch = runPython([join(ROOT, 'scripts/bench/torch_eval.py'), fused, spec, data, '2', '0', '8']);
    expect(torch.status, torch.stderr).toBe(0);
    const ref = JSON.parse(torch.stdout.trim().split('\n').pop()!) as { images: number; correct: number; top1: Record<string, number> };
    // 4 class folders of a 10-class model: their indices come from a synset list.
    const synsets = join(dir, 'synsets.txt');
    writeFileSync(synsets, Array.from({ length: 10 }, (_, i) => `n0000000${i}`).join('\n'));
    const ours = await evaluate(ckpt, { data, synsets, batchSize: 8, keepPredictions: true });
    expect(ours.preprocessing).toMatchObject({ resize: 256, crop: 224, layout: 'NCHW', channels: 3 });
    expect(ours.count).toBe(40);
    expect(ours.correct).toBe(ref.correct);
    for (const p of ours.predictions!) expect([p.id, p.top1]).toEqual([p.id, ref.top1[p.id]]);
  }, 300_000);
});
