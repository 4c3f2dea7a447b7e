// GPU selection and GPU evaluation.
// The selection logic (which engines --device gpu tries, in what order, and what it says when none
// starts) is checked everywhere. The evaluation tests run the small zoo and a DO-Conv ResNet-50 on
// the GPU and compare with the CPU: the same top-1 on every sample, logits within 1e-3 (relative to
// the largest logit). Where no GPU engine starts (CI has no GPU) they are skipped with the reason
// printed; scripts/gpu/run-on-device.sh runs them on the `device` tool's GPU machine.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDataset, type TensorDataset } from '../src/eval/datasets.js';
import { evaluate } from '../src/runtime/eval.js';
import { gpuPlan, noGpuMessage } from '../src/runtime/execution-providers.js';
import { loadModel } from '../src/runtime/load-model.js';
import type { Model } from '../src/runtime/types.js';
import { relativeError } from './helpers/npz.js';
import { argmaxRows } from './helpers/onnx.js';
import { ROOT, tempDir } from './helpers/paths.js';

describe('--device gpu: which engines, in which order', () => {
  it('onnx backend: CUDA, then WebGPU, then tfjs-node-gpu when installed', () => {
    expect(gpuPlan('onnx', 'checkpoint', { tfjsNodeGpu: true }).candidates).toEqual([
      { engine: 'onnx', provider: 'cuda' },
      { engine: 'onnx', provider: 'webgpu' },
      { engine: 'tfjs', backend: 'tensorflow', package: '@tensorflow/tfjs-node-gpu' },
    ]);
    const plain = gpuPlan('onnx', 'zoo-name', { tfjsNodeGpu: false });
    expect(plain.candidates.map((c) => (c.engine === 'onnx' ? c.provider : c.package))).toEqual(['cuda', 'webgpu']);
    expect(plain.skipped).toEqual(['@tensorflow/tfjs-node-gpu: not installed']);
  });

  it('an .onnx file cannot fall back to TensorFlow.js, and a TensorFlow.js folder cannot use onnxruntime', () => {
    const onnx = gpuPlan('onnx', 'onnx-file', { tfjsNodeGpu: true });
    expect(onnx.candidates.map((c) => c.engine)).toEqual(['onnx', 'onnx']);
    expect(onnx.skipped[0]).toMatch(/cannot run on TensorFlow\.js/);
    const folder = gpuPlan('onnx', 'tfjs-folder', { tfjsNodeGpu: true });
    expect(folder.candidates).toEqual([{ engine: 'tfjs', backend: 'tensorflow', package: '@tensorflow/tfjs-node-gpu' }]);
    expect(gpuPlan('tfjs', 'tfjs-folder', { tfjsNodeGpu: false }).candidates).toEqual([]);
    expect(gpuPlan('tfjs', 'checkpoint', { tfjsNodeGpu: true }).candidates.map((c) => c.engine)).toEqual(['tfjs']);
  });

  it('the error names every engine tried, why it failed, and what to install', () => {
    const m = noGpuMessage(['onnxruntime cuda: Failed to load shared library', 'onnxruntime webgpu: No supported adapters'], ['@tensorflow/tfjs-node-gpu: not installed']);
    expect(m).toContain('onnxruntime cuda: Failed to load shared library; onnxruntime webgpu: No supported adapters; @tensorflow/tfjs-node-gpu: not installed');
    expect(m).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12 npm install onnxruntime-node');
    expect(m).toContain('npm install @tensorflow/tfjs-node-gpu');
    expect(m).toContain('--device cpu');
  });

  it('tfjs backend with --device gpu on a machine without tfjs-node-gpu: a clear error, not a silent CPU run', async () => {
    if (existsSync(join(ROOT, 'node_modules', '@tensorflow', 'tfjs-node-gpu'))) return;
    await expect(loadModel(join(ROOT, 'registry', 'artifacts', 'doconv_mnist_sample.pth'), { backend: 'tfjs', device: 'gpu' })).rejects.toThrow(/no GPU engine could be used here \(tried: @tensorflow\/tfjs-node-gpu: not installed\)/);
  });
});

/** Whether a GPU engine starts here, and if not, why (printed, then the GPU tests are skipped). */
async function probeGpu(): Promise<{ ok: boolean; reason: string }> {
  try {
    const m = await loadModel(join(ROOT, 'registry', 'artifacts', 'doconv_mnist_sample.pth'), { device: 'gpu', inputSize: [28, 28] });
    const ep = m.executionProvider;
    await m.dispose();
    return { ok: true, reason: ep };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}

const gpu = await probeGpu();
if (!gpu.ok) console.log(`GPU evaluation tests skipped: ${gpu.reason}`);
else console.log(`GPU evaluation tests run on ${gpu.reason}`);

/** The relative error (max |a - b| / max |b|), and whether every row's argmax agrees. */
function compare(a: Float32Array, b: Float32Array, classes: number): { rel: number; sameTop1: boolean; rows: number } {
  return { rel: relativeError(a, b), sameTop1: argmaxRows(a, classes).join() === argmaxRows(b, classes).join(), rows: a.length / classes };
}

async function run(model: Model, data: Float32Array, shape: number[], batch: number): Promise<Float32Array> {
  const per = shape.slice(1).reduce((x, y) => x * y, 1);
  const n = data.length / per;
  const parts: Float32Array[] = [];
  for (let i = 0; i < n; i += batch) {
    const k = Math.min(batch, n - i);
    parts.push((await model.predict({ data: data.subarray(i * per, (i + k) * per), shape: [k, ...shape.slice(1)] })).data);
  }
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe.skipIf(!gpu.ok)('GPU evaluation agrees with the CPU', () => {
  it.each(['doconv_mnist_sample', 'doconv_mnist_resnet8_g4'])('%s: every digit, same top-1, logits within 1e-3; the recorded accuracy exactly', async (name) => {
    process.env.DOCONV_ZOO_CACHE ??= tempDir('doconv-zoo-cache-');
    const digits = openDataset('mnist') as TensorDataset;
    const cpu = await loadModel(name, { device: 'cpu' });
    const gpuModel = await loadModel(name, { device: 'gpu' });
    try {
      const shape = [digits.labels.length, 1, 28, 28];
      const a = await run(gpuModel, digits.images, shape, 256);
      const b = await run(cpu, digits.images, shape, 256);
      const c = compare(a, b, 10);
      console.log(`${name}: ${gpuModel.executionProvider} vs cpu over ${c.rows} digits: max rel diff ${c.rel.toExponential(2)}, same top-1: ${c.sameTop1}`);
      expect(c.sameTop1).toBe(true);
      expect(c.rel).toBeLessThan(1e-3);
      const r = await evaluate(name, { data: 'mnist', device: 'gpu', batchSize: 256 });
      const { BUNDLED_MANIFEST } = await import('../src/registry/manifest.js');
      const { readFileSync } = await import('node:fs');
      const entry = (JSON.parse(readFileSync(BUNDLED_MANIFEST, 'utf8')) as { entries: { name: string; accuracy: { recorded: { correct: number } } }[] }).entries.find((e) => e.name === name)!;
      expect(r.correct).toBe(entry.accuracy.recorded.correct);
      expect(r.record.device).toBe('gpu');
    } finally {
      await cpu.dispose();
      await gpuModel.dispose();
    }
  }, 600_000);

  const resnet50 = process.env.DOCONV_ZOO_GPU_RESNET50 ?? join(ROOT, 'test', '.cache', 'generated', 'resnet50_zip.pth');
  it.skipIf(!existsSync(resnet50))('DO-Conv ResNet-50: same top-1 on 32 images, logits within 1e-3', async () => {
    const cpu = await loadModel(resnet50, { device: 'cpu', inputSize: [224, 224] });
    const gpuModel = await loadModel(resnet50, { device: 'gpu', inputSize: [224, 224] });
    try {
      let seed = 12345;
      const x = new Float32Array(32 * 3 * 224 * 224).map(() => {
        seed = (seed * 1103515245 + 12345) >>> 0;
        return (seed / 2 ** 32) * 4 - 2;
      });
      const shape = [32, 3, 224, 224];
      const a = await run(gpuModel, x, shape, 16);
      const b = await run(cpu, x, shape, 16);
      const c = compare(a, b, 1000);
      console.log(`resnet50: ${gpuModel.executionProvider} vs cpu over ${c.rows} images: max rel diff ${c.rel.toExponential(2)}, same top-1: ${c.sameTop1}`);
      expect(c.sameTop1).toBe(true);
      expect(c.rel).toBeLessThan(1e-3);
    } finally {
      await cpu.dispose();
      await gpuModel.dispose();
    }
  }, 600_000);
});
