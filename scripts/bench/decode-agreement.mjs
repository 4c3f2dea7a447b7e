#!/usr/bin/env node
// How often doconv-zoo's preprocessing (decoder + Pillow-exact resize + crop + normalize) gives the
// very tensor torchvision gives with PIL (scripts/reference/preprocess_pil.py), per decoder.
// Usage: node scripts/bench/decode-agreement.mjs DIR_OF_JPEGS [--json]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { createDecoder } = await import(join(root, 'dist/eval/decode.js'));
const { preprocessInto, resizeAndCrop, toChannels } = await import(join(root, 'dist/eval/preprocess.js'));
const { readNpy } = await import(join(root, 'dist/formats/npy.js'));
const dir = process.argv[2];
if (!dir) throw new Error('usage: decode-agreement.mjs DIR_OF_JPEGS');
const files = readdirSync(dir).filter((f) => /\.(jpe?g)$/i.test(f)).sort().map((f) => join(dir, f));
const tmp = mkdtempSync(join(tmpdir(), 'doconv-agree-'));
try {
  const ref = join(tmp, 'ref.npy');
  const r = spawnSync('/usr/bin/python3', [join(root, 'scripts/reference/preprocess_pil.py'), ref, '256', '224', ...files], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(r.stderr);
  const refF = new Float32Array(readNpy(new Uint8Array(readFileSync(ref))).bytes().slice().buffer);
  const refU8 = readNpy(new Uint8Array(readFileSync(`${ref}.u8.npy`))).bytes();
  const per = 224 * 224 * 3;
  const spec = { resize: 256, crop: 224, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], layout: 'NCHW', channels: 3 };
  const results = [];
  for (const name of ['sharp', 'jpeg-js']) {
    const decode = await createDecoder(name);
    let identical = 0;
    let failed = 0;
    let sumAbs = 0;
    let maxAbs = 0;
    let maxFloat = 0;
    for (let i = 0; i < files.length; i++) {
      let img;
      try {
        img = await decode(readFileSync(files[i]));
      } catch {
        failed++;
        continue;
      }
      const crop = resizeAndCrop(toChannels(img, 3), 256, 224).data;
      let same = true;
      let abs = 0;
      for (let k = 0; k < per; k++) {
        const d = Math.abs(crop[k] - refU8[i * per + k]);
        if (d) same = false;
        abs += d;
        if (d > maxAbs) maxAbs = d;
      }
      sumAbs += abs / per;
      if (same) identical++;
      const out = new Float32Array(per);
      preprocessInto(img, spec, out, 0);
      for (let k = 0; k < per; k++) maxFloat = Math.max(maxFloat, Math.abs(out[k] - refF[i * per + k]));
    }
    results.push({ decoder: name, images: files.length, identical, failed, meanAbsDiff: sumAbs / Math.max(1, files.length - failed), maxAbsDiff: maxAbs, maxTensorDiff: maxFloat });
  }
  if (process.argv.includes('--json')) console.log(JSON.stringify(results, null, 2));
  for (const x of results)
    console.log(`${x.decoder.padEnd(8)} ${x.identical}/${x.images} crops identical to PIL's (${((100 * x.identical) / x.images).toFixed(1)}%), mean |diff| ${x.meanAbsDiff.toFixed(4)} levels, max ${x.maxAbsDiff}, max tensor diff ${x.maxTensorDiff.toExponential(2)}${x.failed ? `, ${x.failed} failed` : ''}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
