// Cross-check (Python tier): the eval preprocessing against torchvision's on PIL. JPEGs shaped like
// ImageNet validation files (PIL-written: qualities 70..95, 4:2:0/4:2:2/4:4:4, progressive, grey)
// go through sharp + our Pillow-exact resize + crop + normalize and through torchvision's
// Resize(256)/CenterCrop(224)/ToTensor/Normalize: the tensors must be identical, bit for bit.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pythonTier, PYTHON, runPython } from './helpers/python.js';
import { ROOT, tempDir } from './helpers/paths.js';

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
});
