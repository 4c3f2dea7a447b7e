// @tier shared-fixtures: reads ../shared/fixtures (or DOCONV_ZOO_FIXTURES); skipped where absent, a failure under CI=true (vitest.config.ts).
// The cross-check tier: real PyTorch (Debian's python3-torch) makes DO-Conv checkpoints and their
// reference outputs; our fused output is loaded into plain torchvision networks with
// load_state_dict(strict=True) and must reproduce them. Skipped off CI without Python; on CI
// (CI=true) a missing Python fails the run.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writePth } from '../src/emit/pth.js';
import { fuseLayer } from '../src/doconv/fuse-layer.js';
import { inspectFile } from '../src/inspect.js';
import { loadCheckpoint } from '../src/checkpoint/load.js';
import { toFloat32 } from '../src/tensor/tensor.js';
import { nchwToNhwc } from '../src/tensor/layout.js';
import { readNpyFile, readNpz, relativeError } from './helpers/npz.js';
import { argmaxRows, runOnNpy } from './helpers/onnx.js';
import { loadModel } from '../src/runtime/load-model.js';
import { fixture, ROOT, runCli, tempDir } from './helpers/paths.js';
import { pythonTier, runPython, runPythonAsync } from './helpers/python.js';

const tier = pythonTier();
const LOADER = join(ROOT, 'scripts', 'reference', 'load_fused.py');
const CHECKER = join(ROOT, 'scripts', 'reference', 'check_onnx.py');
const CACHE = process.env.DOCONV_ZOO_TEST_CACHE ?? join(ROOT, 'test', '.cache', 'generated');

interface Case {
  name: string;
  file: string;
  format: string;
  spec?: Record<string, unknown>;
  input?: string;
  expected?: string;
  dtype?: string;
  stateDictKey?: string;
  prefix?: string;
  values?: string;
  dtypes?: Record<string, string>;
}

interface Verdict {
  weightsOnly: boolean;
  relError: number;
  top1Agree: boolean;
  dtypes: string[];
}

function loadFused(ckpt: string, spec: object, input: string, expected: string, extra: string[] = []): Verdict {
  const r = runPython([LOADER, '--ckpt', ckpt, '--spec', JSON.stringify(spec), '--input', input, '--expected', expected, ...extra]);
  if (r.status !== 0) throw new Error(`load_fused.py failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Verdict;
}

function convert(input: string, output: string, extra: string[] = []): void {
  const r = runCli(['convert', input, '-o', output, '--json', ...extra], 600_000);
  if (r.status !== 0) throw new Error(`convert failed: ${r.stderr}`);
}

const REFERENCE = join(ROOT, 'scripts', 'reference');
const GLUON_CACHE = join(CACHE, 'gluon');
const KERAS_CACHE = join(CACHE, 'keras');

const runs = new Map<string, Promise<void>>();

/**
 * Runs a generator script into `dir` unless `dir` holds the output of the same sources already (a
 * stamp of their SHA-256). Memoised: several describe blocks need the same cases, in any order.
 */
function generate(script: string, dir: string, sources: string[] = []): Promise<void> {
  let run = runs.get(dir);
  if (run === undefined) {
    run = (async () => {
      const stamp = join(dir, 'generator.sha256');
      const hash = createHash('sha256');
      for (const f of [script, ...sources]) hash.update(readFileSync(join(REFERENCE, f)));
      const digest = hash.digest('hex');
      if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
      const r = await runPythonAsync([join(REFERENCE, script), dir]);
      if (r.status !== 0) throw new Error(`${script} failed:\n${r.stderr}`);
      writeFileSync(stamp, digest);
    })();
    runs.set(dir, run);
  }
  return run;
}

const casesIn = (dir: string, manifest: string): Case[] => (JSON.parse(readFileSync(join(dir, manifest), 'utf8')) as { cases: Case[] }).cases;

/** The torch-generated cases (full-size networks and checkpoint variants). */
async function generatedCases(): Promise<Case[]> {
  await generate('make_cases.py', CACHE, ['doconv_reference.py', 'networks.py']);
  return casesIn(CACHE, 'manifest.json');
}

/** GluonCV-named cases, with their torch mirrors. */
async function gluonCases(): Promise<Case[]> {
  await generate('make_gluon_cases.py', GLUON_CACHE, ['gluon_networks.py']);
  return casesIn(GLUON_CACHE, 'gluon_manifest.json');
}

/** Keras-named cases; returns their folder. */
async function kerasCases(): Promise<string> {
  await generate('make_keras_cases.py', KERAS_CACHE);
  return KERAS_CACHE;
}

describe.skipIf(!tier.available)(`cross-check against PyTorch (${tier.reason})`, () => {
  const out = tempDir();

  describe('shared fixtures made by the authors\' DOConv2d', () => {
    it.each([
      ['resnet_basic_1111', { block: 'basic', layers: [1, 1, 1, 1], num_classes: 10 }],
      ['resnext_1111_4x8d', { block: 'bottleneck', layers: [1, 1, 1, 1], num_classes: 10, groups: 4, width_per_group: 8 }],
    ])('%s: our fused .pth in a plain torchvision ResNet matches expected.npy', async (name, spec) => {
      const fused = join(out, `${name}.fused.pth`);
      convert(fixture('pytorch', `${name}.pth`), fused);
      const v = loadFused(fused, spec, fixture('pytorch', `${name}.input.npy`), fixture('pytorch', `${name}.expected.npy`));
      expect(v.weightsOnly).toBe(true);
      expect(v.relError).toBeLessThan(1e-4);
      expect(v.top1Agree).toBe(true);
    });
  });

  it('torch.load reads our ZIP64 archives, and Python\'s zipfile finds every CRC right', async () => {
    const src = await loadCheckpoint(fixture('pytorch', 'layers.pth'));
    const file = join(out, 'zip64.pth');
    writePth(file, src.root, { forceZip64: true });
    const code = `import torch, zipfile, sys
sd = torch.load(sys.argv[1], weights_only=True)
assert zipfile.ZipFile(sys.argv[1]).testzip() is None
print(len(sd), float(sd['3.W'].double().sum()))`;
    const r = runPython(['-c', code, file]);
    expect(r.stderr).toBe('');
    const [count, sum] = r.stdout.trim().split(' ');
    expect(Number(count)).toBe(21);
    const w = toFloat32(src.tensors.find((t) => t.name === '3.W')!.tensor);
    expect(Number(sum)).toBeCloseTo(w.reduce((a, b) => a + b, 0), 3);
  });

  it('a float16 Keras DOConv2D file (h5py): read as float16 from its raw bytes and fused like its float32 twin', async () => {
    const file = join(out, 'keras_f16.h5');
    const code = `import h5py, numpy as np, sys
src = h5py.File(sys.argv[1], 'r')
dst = h5py.File(sys.argv[2], 'w')
for k, v in src.attrs.items(): dst.attrs[k] = v
def copy(name, obj):
    if isinstance(obj, h5py.Dataset):
        dst.create_dataset(name, data=obj[()].astype(np.float16))
    else:
        g = dst.require_group(name)
        for k, v in obj.attrs.items(): g.attrs[k] = v
src.visititems(copy)
dst.close()`;
    const r = runPython(['-c', code, fixture('layers', 'keras_layers.h5'), file]);
    expect(r.stderr).toBe('');
    const half = await loadCheckpoint(file);
    expect(half.tensors.every((t) => t.tensor.dtype === 'float16')).toBe(true);
    const full = await loadCheckpoint(fixture('layers', 'keras_layers.h5'));
    for (const [i, layer] of half.layers.entries()) {
      const a = fuseLayer(layer, { dtype: 'float32' });
      const b = fuseLayer(full.layers[i]!);
      expect(relativeError(a, b)).toBeLessThan(2e-3); // float16 parameters, fused in float32
    }
  });

  it('the bundled example (a DO-Conv CIFAR ResNet-20) converts to what a plain one loads, outputs within 1e-4', async () => {
    const fused = join(out, 'example.pth');
    convert(join(ROOT, 'examples', 'doconv_resnet20_cifar.pth'), fused);
    const ex = (f: string) => join(ROOT, 'examples', `doconv_resnet20_cifar.${f}.npy`);
    const v = loadFused(fused, { family: 'cifar_resnet', blocks_per_stage: 3, num_classes: 10 }, ex('input'), ex('expected'));
    expect(v.weightsOnly).toBe(true);
    expect(v.relError).toBeLessThan(1e-4);
    expect(v.top1Agree).toBe(true);
  });

  describe('GluonCV-named DO-Conv networks (.params), reference fused by a NumPy transcription of do_conv_gluoncv.py', () => {
    let cases: Case[] = [];
    beforeAll(async () => {
      cases = await gluonCases();
    });
    it.each(['resnet50_v1', 'resnet50_v2', 'resnext50_32x4d', 'resnet18_v1', 'resnet18_v2'])('%s: detected, ONNX passes the checker, onnxruntime within 1e-4 of the torch mirror', async (name) => {
      const c = cases.find((x) => x.name === name)!;
      const file = join(GLUON_CACHE, c.file);
      expect((await inspectFile(file)).architecture?.name).toBe(name);
      const onnx = join(out, `gluon_${name}.onnx`);
      convert(file, onnx);
      expect(JSON.parse(runPython([CHECKER, onnx]).stdout).ok).toBe(true);
      const r = await runOnNpy(onnx, join(GLUON_CACHE, c.input!), join(GLUON_CACHE, c.expected!));
      expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
      expect(r.top1).toEqual(r.refTop1);
    });
  });

  it.each([
    ['keras_resnet50', 'resnet50_v1'],
    ['keras_resnet50_v2', 'keras_resnet50_v2'],
  ])('Keras-named DO-Conv %s (save_weights HDF5): detected as %s, NHWC ONNX within 1e-4 of the torch mirror', async (caseName, archName) => {
    const dirK = await kerasCases();
    const file = join(dirK, `${caseName}.h5`);
    const report = await inspectFile(file);
    expect(report.architecture?.name).toBe(archName);
    expect(report.doconvLayers).toHaveLength(53);
    const onnx = join(out, `${caseName}.onnx`);
    convert(file, onnx);
    expect(JSON.parse(runPython([CHECKER, onnx]).stdout).ok).toBe(true);
    const r = await runOnNpy(onnx, join(dirK, `${caseName}.input.npy`), join(dirK, `${caseName}.expected.npy`));
    expect(r.model.inputShape).toEqual(['batch', 224, 224, 3]);
    expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
    expect(r.top1).toEqual(r.refTop1);
  });

  describe('TensorFlow.js (wasm backend) against torch, zoo networks of every naming', () => {
    const nhwc = (t: ReturnType<typeof readNpyFile>) => nchwToNhwc(toFloat32(t), t.shape);
    it.each([
      ['resnet50_v1b (torchvision names)', () => join(CACHE, 'resnet50_zip'), 'pth', false],
      ['resnext50_32x4d (torchvision names)', () => join(CACHE, 'resnext50_32x4d_zip'), 'pth', false],
      ['resnet50_v2 (GluonCV names)', () => join(GLUON_CACHE, 'resnet50_v2'), 'params', false],
      ['keras_resnet50 (Keras applications names)', () => join(CACHE, 'keras', 'keras_resnet50'), 'h5', true],
      ['keras_resnet50_v2 (Keras applications names)', () => join(CACHE, 'keras', 'keras_resnet50_v2'), 'h5', true],
    ] as const)('%s: logits within 1e-4 of torch, top-1 identical', async (_label, base, ext, inputIsNhwc) => {
      await Promise.all([generatedCases(), gluonCases(), kerasCases()]);
      const stem = base();
      if (!existsSync(`${stem}.${ext}`)) throw new Error(`missing generated case ${stem}.${ext}`);
      const folder = join(out, `tfjs_${stem.split('/').pop()}`);
      convert(`${stem}.${ext}`, folder, ['--to', 'tfjs']);
      const x = readNpyFile(`${stem}.input.npy`);
      const ref = toFloat32(readNpyFile(`${stem}.expected.npy`));
      const m = await loadModel(folder, { backend: 'tfjs', tfjsBackend: 'wasm' });
      try {
        const y = await m.predict(inputIsNhwc ? { data: toFloat32(x), shape: [...x.shape] } : nhwc(x));
        expect(relativeError(y.data, ref)).toBeLessThan(1e-4);
        expect(argmaxRows(y.data, y.shape[1]!)).toEqual(argmaxRows(ref, y.shape[1]!));
      } finally {
        await m.dispose();
      }
    }, 300_000);
  });

  describe('generated full-size networks and checkpoint variants', () => {
    let cases: Case[] = [];
    beforeAll(async () => {
      cases = await generatedCases();
    });
    const networkNames = ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152', 'resnext50_32x4d'].flatMap((a) => [`${a}_zip`, `${a}_legacy`]);
    const byName = (name: string): Case => {
      const c = cases.find((x) => x.name === name);
      if (c === undefined) throw new Error(`generator made no case ${name}`);
      return c;
    };
    const path = (f: string) => join(CACHE, f);

    it.each(networkNames)('%s: fused in a plain torchvision network, logits within 1e-4, top-1 identical', async (name) => {
      const c = byName(name);
      expect((await inspectFile(path(c.file))).format).toBe(c.format);
      const fused = join(out, `${name}.pth`);
      convert(path(c.file), fused);
      const v = loadFused(fused, c.spec!, path(c.input!), path(c.expected!));
      expect(v.weightsOnly).toBe(true);
      expect(v.relError).toBeLessThan(1e-4);
      expect(v.top1Agree).toBe(true);
    });

    const zooName = (arch: string) => (arch.startsWith('resnext') ? arch : `${arch}_v1b`);

    it.each(networkNames.filter((n) => n.endsWith('_zip')))('%s as ONNX: detected, checker full_check passes, onnxruntime within 1e-4 at 224x224 and 160x224', async (name) => {
      const c = byName(name);
      const arch = name.replace(/_zip$/, '');
      const report = await inspectFile(path(c.file));
      expect(report.architecture?.name).toBe(zooName(arch));
      for (const [suffix, size] of [['', '224x224'], ['160x224', '160x224']] as const) {
        const onnx = join(out, `${name}.${size}.onnx`);
        convert(path(c.file), onnx, ['--input-size', size]);
        const check = runPython([CHECKER, onnx]);
        expect(check.stderr).toBe('');
        expect(JSON.parse(check.stdout)).toMatchObject({ ok: true, ir_version: 8, opset: 17 });
        const r = await runOnNpy(onnx, path(`${name}.input${suffix}.npy`), path(`${name}.expected${suffix}.npy`));
        expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
        expect(r.top1).toEqual(r.refTop1);
      }
    });

    it('plain18 (no shortcuts) is detected as such and runs as ONNX within 1e-4', async () => {
      const c = byName('plain18_zip');
      expect((await inspectFile(path(c.file))).architecture?.name).toBe('plain18');
      const onnx = join(out, 'plain18.onnx');
      convert(path(c.file), onnx);
      const r = await runOnNpy(onnx, path(c.input!), path(c.expected!));
      expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
      expect(r.top1).toEqual(r.refTop1);
    });

    it('resnet50_v1 (stride on the first 1x1) needs --arch resnet50_v1; with it, ONNX within 1e-4', async () => {
      const c = byName('resnet50_v1_zip');
      expect((await inspectFile(path(c.file))).architecture?.assumptions[0]).toMatch(/v1 from v1b/);
      const onnx = join(out, 'resnet50_v1.onnx');
      convert(path(c.file), onnx, ['--arch', 'resnet50_v1']);
      const r = await runOnNpy(onnx, path(c.input!), path(c.expected!));
      expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
      expect(r.top1).toEqual(r.refTop1);
      // The structures really differ: read as v1b, the same weights give other logits.
      const wrong = join(out, 'resnet50_v1_as_v1b.onnx');
      convert(path(c.file), wrong);
      expect(relativeError((await runOnNpy(wrong, path(c.input!), path(c.expected!))).y, r.ref)).toBeGreaterThan(1e-3);
    });

    it.each(['resnet18_c10', 'resnext50_32x4d_c10'])('%s (10 classes): pth and ONNX both match the reference', async (name) => {
      const c = byName(name);
      const pth = join(out, `${name}.pth`);
      convert(path(c.file), pth);
      expect(loadFused(pth, c.spec!, path(c.input!), path(c.expected!)).relError).toBeLessThan(1e-4);
      const onnx = join(out, `${name}.onnx`);
      convert(path(c.file), onnx);
      const r = await runOnNpy(onnx, path(c.input!), path(c.expected!));
      expect(r.shape).toEqual([2, 10]);
      expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
      expect(r.top1).toEqual(r.refTop1);
    });

    it('resnet50 as ONNX: --fp16 within 1e-2 (top-1 identical), --no-fold-bn within 1e-5 of folded', async () => {
      const c = byName('resnet50_zip');
      const variants: Record<string, string[]> = { folded: [], fp16: ['--fp16'], bn: ['--no-fold-bn'] };
      const outputs: Record<string, Awaited<ReturnType<typeof runOnNpy>>> = {};
      for (const [tag, flags] of Object.entries(variants)) {
        const onnx = join(out, `resnet50.${tag}.onnx`);
        convert(path(c.file), onnx, flags);
        expect(JSON.parse(runPython([CHECKER, onnx]).stdout).ok).toBe(true);
        outputs[tag] = await runOnNpy(onnx, path(c.input!), path(c.expected!));
      }
      expect(relativeError(outputs.fp16!.y, outputs.fp16!.ref)).toBeLessThan(1e-2);
      expect(outputs.fp16!.top1).toEqual(outputs.fp16!.refTop1);
      expect(relativeError(outputs.bn!.y, outputs.folded!.y)).toBeLessThan(1e-5);
    });

    it.each(['float16', 'bfloat16'])('resnet18 stored in %s as ONNX (fused and folded in float32): within 1e-4', async (dtype) => {
      const c = byName(`resnet18_${dtype}`);
      const onnx = join(out, `r18_${dtype}.onnx`);
      convert(path(c.file), onnx);
      const r = await runOnNpy(onnx, path(c.input!), path(c.expected!));
      expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
      expect(r.top1).toEqual(r.refTop1);
    });

    it.each(['float16', 'bfloat16'])('resnet18 stored in %s: kept in its dtype (top-1 identical) or fused to float32 (1e-4)', async (dtype) => {
      const c = byName(`resnet18_${dtype}`);
      const same = join(out, `r18_${dtype}.pth`);
      convert(path(c.file), same);
      const kept = loadFused(same, c.spec!, path(c.input!), path(c.expected!));
      expect(kept.dtypes).toContain(`torch.${dtype}`);
      expect(kept.relError).toBeLessThan(dtype === 'float16' ? 2e-3 : 2e-2);
      expect(kept.top1Agree).toBe(true);
      const wide = join(out, `r18_${dtype}_f32.pth`);
      convert(path(c.file), wide, ['--dtype', 'float32']);
      const widened = loadFused(wide, c.spec!, path(c.input!), path(c.expected!));
      expect(widened.dtypes).toEqual(['torch.float32', 'torch.int64']);
      expect(widened.relError).toBeLessThan(1e-4);
    });

    it('a DataParallel training checkpoint: nesting and prefix kept by default, stripped by --flatten', async () => {
      const c = byName('resnet18_training');
      const nested = join(out, 'train_nested.pth');
      convert(path(c.file), nested);
      const kept = loadFused(nested, c.spec!, path(c.input!), path(c.expected!), ['--key', 'state_dict', '--strip-prefix', 'module.']);
      expect(kept.relError).toBeLessThan(1e-4);
      const back = await loadCheckpoint(nested);
      expect(back.tensors.some((t) => t.name.startsWith('optimizer.state.'))).toBe(true);
      const flat = join(out, 'train_flat.pth');
      convert(path(c.file), flat, ['--flatten']);
      const v = loadFused(flat, c.spec!, path(c.input!), path(c.expected!));
      expect(v.weightsOnly).toBe(true);
      expect(v.relError).toBeLessThan(1e-4);
    });

    it('tensors that are views into one shared storage, one of them transposed', async () => {
      const c = byName('resnet18_views');
      const fused = join(out, 'views.pth');
      convert(path(c.file), fused);
      const v = loadFused(fused, c.spec!, path(c.input!), path(c.expected!));
      expect(v.relError).toBeLessThan(1e-4);
      expect(v.top1Agree).toBe(true);
    });

    it.each(['dtypes_zip', 'dtypes_legacy'])('%s: every dtype, offset and stride read as numpy sees it', async (name) => {
      const c = byName(name);
      const ckpt = await loadCheckpoint(path(c.file));
      const values = readNpz(path(c.values!));
      expect(ckpt.tensors.map((t) => [t.name, t.tensor.dtype])).toEqual(Object.entries(c.dtypes!));
      for (const { name: key, tensor } of ckpt.tensors) {
        const ref = values.get(key)!;
        expect(tensor.shape).toEqual(ref.shape);
        if (tensor.dtype === 'bfloat16') expect(Array.from(toFloat32(tensor))).toEqual(Array.from(toFloat32(ref)));
        else expect(Buffer.compare(tensor.bytes(), ref.bytes())).toBe(0);
      }
    });
  });
});
