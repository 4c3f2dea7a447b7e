// The runtime says what is wrong, once, in one line: an input the model was not built for (ONNX and
// TensorFlow.js, through predict and through the API), a GPU that is not there (without the native
// libraries' own warnings), a tfjs backend that is not installed; and a DO-Conv checkpoint runs on
// the tfjs backend on the CPU as it does on the GPU.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertCheckpoint } from '../src/convert.js';
import { DoconvError } from '../src/errors.js';
import { encodeNpy } from '../src/formats/npy.js';
import { checkInputShape } from '../src/runtime/input-shape.js';
import { loadModel } from '../src/runtime/load-model.js';
import { Tensor } from '../src/tensor/tensor.js';
import { ROOT, runCli, tempDir } from './helpers/paths.js';

const CKPT = join(ROOT, 'examples', 'doconv_resnet20_cifar.pth');
let dir = '';
let onnx = '';
let onnxDynamic = '';
let tfjs = '';

/** A float32 .npy of `shape` holding a deterministic ramp. */
function npy(name: string, shape: number[]): string {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat(encodeNpy(Tensor.fromFloat32(data, shape))));
  return path;
}

const ramp = (shape: number[]) => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i)), shape });

beforeAll(async () => {
  dir = tempDir();
  onnx = join(dir, 'r20.onnx');
  onnxDynamic = join(dir, 'r20-dynamic.onnx');
  tfjs = join(dir, 'r20-tfjs');
  await convertCheckpoint(CKPT, onnx, {});
  await convertCheckpoint(CKPT, onnxDynamic, { dynamicSize: true });
  await convertCheckpoint(CKPT, tfjs, { to: 'tfjs' });
}, 120_000);

describe('an input the model was not built for', () => {
  it('predict on an ONNX model built for 32x32 given 64x64: exit 1, one line naming both shapes and the fix, the error as JSON on stdout', () => {
    const r = runCli(['predict', onnx, '--input', npy('x64.npy', [2, 3, 64, 64]), '--output', join(dir, 'y.npy'), '--json']);
    expect(r.status, r.stderr).toBe(1);
    const err = JSON.parse(r.stdout).error;
    expect(err.code).toBe('BAD_ARGUMENT');
    expect(err.message).toContain('[2, 3, 64, 64]');
    expect(err.message).toContain('[batch, 3, 32, 32]');
    expect(err.message).toContain('--input-size 64x64');
    expect(err.message).toContain('--dynamic-size');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(existsSync(join(dir, 'y.npy'))).toBe(false);
  });

  it('predict on a TensorFlow.js folder given NCHW 64x64: the same error, in NHWC terms', () => {
    const r = runCli(['predict', tfjs, '--backend', 'tfjs', '--input', npy('x64b.npy', [1, 3, 64, 64]), '--output', join(dir, 'y.npy'), '--json']);
    expect(r.status, r.stderr).toBe(1);
    const err = JSON.parse(r.stdout).error;
    expect(err.code).toBe('BAD_ARGUMENT');
    expect(err.message).toContain("[1, 3, 64, 64] (as NHWC [1, 64, 64, 3]) does not fit the model's input [batch, 32, 32, 3]");
    expect(err.message).toContain('--input-size 64x64');
  });

  it('the API refuses the shape before onnxruntime or TensorFlow.js sees it (BAD_ARGUMENT, not MODEL_INVALID)', async () => {
    for (const [source, options, shape, why] of [
      [onnx, {}, [1, 3, 64, 64], /built for 32x32 images, these are 64x64/],
      [onnx, {}, [1, 1, 32, 32], /it has 1 channel where the model takes 3 \(NCHW\)/],
      [onnx, {}, [3, 32, 32], /the model takes 4-D input/],
      [tfjs, { backend: 'tfjs' as const }, [1, 64, 64, 3], /built for 32x32 images, these are 64x64/],
      [tfjs, { backend: 'tfjs' as const }, [1, 3, 32, 32], /it has 32 channels where the model takes 3 \(NHWC\)/],
    ] as const) {
      const m = await loadModel(source, options);
      try {
        const err = await m.predict(ramp([...shape])).then(() => undefined, (e: unknown) => e);
        expect(err, `${source} ${shape}`).toBeInstanceOf(DoconvError);
        expect((err as DoconvError).code).toBe('BAD_ARGUMENT');
        expect((err as DoconvError).message).toMatch(why);
      } finally {
        await m.dispose();
      }
    }
  });

  it('a dynamic batch and --dynamic-size height and width take any size', async () => {
    const m = await loadModel(onnxDynamic);
    try {
      expect(m.inputShape).toEqual(['batch', 3, 'height', 'width']);
      for (const shape of [[1, 3, 64, 64], [5, 3, 17, 40], [2, 3, 32, 32]]) expect((await m.predict(ramp(shape))).shape).toEqual([shape[0], 10]);
    } finally {
      await m.dispose();
    }
  });

  it('one check for both: rank, fixed batch, channels and size by layout; symbolic dimensions and undeclared shapes pass', () => {
    expect(() => checkInputShape([4, 3, 9, 9], ['batch', 3, 'h', 'w'], 'NCHW')).not.toThrow();
    expect(() => checkInputShape([4, 9, 9, 3], ['batch', 9, 9, 3], 'NHWC')).not.toThrow();
    expect(() => checkInputShape([4, 3, 9, 9], [], 'NCHW')).not.toThrow();
    expect(() => checkInputShape([2, 3, 32, 32], [1, 3, 32, 32], 'NCHW')).toThrow(/batches of exactly 1/);
    expect(() => checkInputShape([1, 32, 32, 1], ['batch', 28, 28, 1], 'NHWC', { file: 'x.npy' })).toThrow(/^x\.npy: input of shape \[1, 32, 32, 1\] .*built for 28x28 images, these are 32x32.*--input-size 32x32/);
    expect(() => checkInputShape([1, 3, 28, 32], ['batch', 3, 28, 'width'], 'NCHW')).not.toThrow();
    expect(() => checkInputShape([1, 3, 30, 32], ['batch', 3, 28, 'width'], 'NCHW')).toThrow(/built for 28xwidth images, these are 30x32/);
  });
});

describe('--device gpu where there is no GPU', () => {
  it('prints one line of its own, none of the native libraries\' warnings; verbose lets them through', () => {
    const x = npy('x32.npy', [1, 3, 32, 32]);
    const r = runCli(['predict', onnx, '--input', x, '--output', join(dir, 'gpu.npy'), '--device', 'gpu']);
    if (r.status === 0) {
      // A machine with a GPU engine: nothing to hide, and it ran.
      expect(existsSync(join(dir, 'gpu.npy'))).toBe(true);
      return;
    }
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(/^doconv-zoo: error: .*no GPU engine could be used here \(tried: onnxruntime cuda: .*; onnxruntime webgpu: /);
    expect(r.stderr).not.toMatch(/Warning:|Couldn't load Vulkan|XDG_RUNTIME_DIR|onnxruntime_src|\x1b\[/);
    // The same load with verbose: the probes' native output reaches stderr (here the CUDA library
    // onnxruntime could not load, or Dawn's Vulkan warning), so something was kept out above.
    const script = `import { loadModel } from ${JSON.stringify(join(ROOT, 'dist', 'index.js'))}; await loadModel(${JSON.stringify(onnx)}, { device: 'gpu', verbose: true }).catch(() => {});`;
    const v = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(v.stderr).toMatch(/libonnxruntime_providers|cuda|Vulkan|adapter/i);
  }, 60_000);
});

describe('predict on a DO-Conv checkpoint', () => {
  it('a --kernel pattern that matches no layer is an error there too (converted in memory, not silently ignored)', () => {
    const x = npy('xk.npy', [1, 3, 32, 32]);
    const r = runCli(['predict', CKPT, '--input', x, '--output', join(dir, 'k.npy'), '--kernel', 'no.such.layer=3x1']);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('no.such.layer');
    expect(existsSync(join(dir, 'k.npy'))).toBe(false);
    const ok = runCli(['predict', CKPT, '--input', x, '--output', join(dir, 'k.npy'), '--kernel', 'layer1.0.conv1=3x3', '--verbose']);
    expect(ok.status, ok.stderr).toBe(0);
  }, 60_000);
});

describe('tfjs backends', () => {
  it('--tfjs-backend tensorflow without @tensorflow/tfjs-node: exit 1 saying how to install it and what is available (no silent wasm run)', () => {
    if (existsSync(join(ROOT, 'node_modules', '@tensorflow', 'tfjs-node'))) return;
    const r = runCli(['predict', tfjs, '--backend', 'tfjs', '--tfjs-backend', 'tensorflow', '--input', npy('t.npy', [1, 3, 32, 32]), '--output', join(dir, 't-out.npy')]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr).toContain('@tensorflow/tfjs-node, which is not installed: npm install @tensorflow/tfjs-node');
    expect(r.stderr).toContain('backends available here: wasm, cpu');
    expect(existsSync(join(dir, 't-out.npy'))).toBe(false);
  });

  it('an explicitly chosen backend is the one that runs', async () => {
    const m = await loadModel(tfjs, { backend: 'tfjs', tfjsBackend: 'cpu' });
    try {
      expect(m.executionProvider).toBe('tfjs-cpu');
    } finally {
      await m.dispose();
    }
  });
});

describe('a DO-Conv checkpoint on the tfjs backend, on the CPU', () => {
  const tmp = { before: process.env.TMPDIR };
  let scratch = '';
  beforeAll(() => {
    scratch = tempDir('doconv-zoo-scratch-');
    process.env.TMPDIR = scratch; // the conversion's temporary folder goes here, to be seen removed
  });
  afterAll(() => {
    if (tmp.before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmp.before;
  });

  it('loads from the path and from bytes, computes what the ONNX model computes, and leaves no temporary folder', async () => {
    const x = ramp([2, 32, 32, 3]);
    const nchw = new Float32Array(2 * 3 * 32 * 32);
    for (let n = 0; n < 2; n++) for (let c = 0; c < 3; c++) for (let i = 0; i < 32 * 32; i++) nchw[(n * 3 + c) * 1024 + i] = x.data[(n * 1024 + i) * 3 + c]!;
    const reference = await loadModel(onnx);
    const expected = (await reference.predict({ data: nchw, shape: [2, 3, 32, 32] })).data;
    await reference.dispose();
    for (const source of [CKPT, new Uint8Array(readFileSync(CKPT))]) {
      const m = await loadModel(source, { backend: 'tfjs', tfjsBackend: 'cpu' });
      try {
        expect(m.backend).toBe('tfjs');
        expect(m.inputShape).toEqual(['batch', 32, 32, 3]);
        expect(m.architecture).toBe('cifar_resnet20_v1b');
        const y = await m.predict(x);
        expect(y.shape).toEqual([2, 10]);
        let worst = 0;
        const scale = Math.max(...expected.map(Math.abs));
        for (let i = 0; i < 20; i++) worst = Math.max(worst, Math.abs(y.data[i]! - expected[i]!) / scale);
        expect(worst).toBeLessThan(1e-4);
      } finally {
        await m.dispose();
      }
    }
    expect(readdirSync(scratch).filter((f) => f.startsWith('doconv-zoo-tfjs-'))).toEqual([]);
  }, 60_000);

  it('an ONNX file on the tfjs backend is refused, pointing to the onnx backend', async () => {
    await expect(loadModel(onnx, { backend: 'tfjs' })).rejects.toThrow(/not an ONNX model; run it with backend 'onnx'/);
  });
});
