// @tier shared-fixtures: reads ../shared/fixtures (or DOCONV_ZOO_FIXTURES); skipped where absent, a failure under CI=true (vitest.config.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/checkpoint/load.js';
import { convertCheckpoint } from '../src/convert.js';
import { fuseLayer } from '../src/doconv/fuse-layer.js';
import { hwioToOihw } from '../src/tensor/layout.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { relativeError } from './helpers/npz.js';
import { runOnNpy } from './helpers/onnx.js';
import { fixture, tempDir } from './helpers/paths.js';

const dir = tempDir();

async function fusedKernels(file: string): Promise<Map<string, Tensor>> {
  const ckpt = await loadCheckpoint(file);
  return new Map(ckpt.layers.map((l) => [l.name.replace(/^.*\//, ''), fuseLayer(l, { layout: 'oihw', dtype: 'float32' })]));
}

describe('plain checkpoints of every framework', () => {
  it('pth -> keras-h5 -> our reader: every conv kernel is the fused kernel, in Keras layout (M, N, C_in/g, C_out)', async () => {
    const src = fixture('pytorch', 'resnet_basic_1111.pth');
    const out = join(dir, 'basic.h5');
    await convertCheckpoint(src, out);
    const back = await loadCheckpoint(out);
    expect(back.format).toBe('keras-h5');
    const fused = await fusedKernels(src);
    for (const [name, kernel] of fused) {
      const k = back.tensors.find((t) => t.name === `${name}/${name}/kernel:0`)!.tensor;
      expect(k.shape).toEqual([kernel.shape[2], kernel.shape[3], kernel.shape[1], kernel.shape[0]]);
      expect(relativeError(hwioToOihw(k), kernel)).toBe(0);
    }
    const bn = back.tensors.find((t) => t.name === 'bn1/bn1/moving_variance:0')!;
    expect(bn.tensor.shape).toEqual([64]);
  });

  it('pth -> gluon-params -> our reader: the same fused kernels, BatchNorm as gamma/beta/running_*', async () => {
    const src = fixture('pytorch', 'resnext_1111_4x8d.pth');
    const out = join(dir, 'resnext.params');
    await convertCheckpoint(src, out);
    const back = await loadCheckpoint(out);
    expect(back.framework).toBe('gluon');
    for (const [name, kernel] of await fusedKernels(src)) {
      expect(relativeError(back.tensors.find((t) => t.name === `${name}.weight`)!.tensor, kernel)).toBe(0);
    }
    expect(back.tensors.some((t) => t.name === 'layer1.0.bn2.gamma')).toBe(true);
  });

  it('the gluon-params output is recognised as GluonCV ResNetV1b and runs as ONNX with the reference outputs', async () => {
    const out = join(dir, 'basic.params');
    await convertCheckpoint(fixture('pytorch', 'resnet_basic_1111.pth'), out);
    const onnx = join(dir, 'basic_from_gluon.onnx');
    const s = await convertCheckpoint(out, onnx, { inputSize: [32, 32] });
    expect(s.architecture?.name).toBe('resnet10_v1b');
    const r = await runOnNpy(onnx, fixture('pytorch', 'resnet_basic_1111.input.npy'), fixture('pytorch', 'resnet_basic_1111.expected.npy'));
    expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
  });

  it('keras-h5 -> pth: torch names and (C_out, C_in/g, M, N) kernels', async () => {
    const src = fixture('layers', 'keras_layers.h5');
    const out = join(dir, 'keras.pth');
    await convertCheckpoint(src, out);
    const back = await loadCheckpoint(out);
    for (const [name, kernel] of await fusedKernels(src)) {
      expect(relativeError(back.tensors.find((t) => t.name === `${name}.weight`)!.tensor, kernel)).toBe(0);
    }
  });

  it('gluon .params -> keras-h5 -> gluon-params keeps every fused kernel', async () => {
    const src = fixture('layers', 'gluon_layers.params');
    const h5 = join(dir, 'gluon.h5');
    const params = join(dir, 'gluon_again.params');
    await convertCheckpoint(src, h5);
    await convertCheckpoint(h5, params);
    const back = await loadCheckpoint(params);
    for (const [name, kernel] of await fusedKernels(src)) {
      expect(relativeError(back.tensors.find((t) => t.name === `${name}.weight`)!.tensor, kernel)).toBe(0);
    }
  });
});

describe('--keep-doconv across frameworks', () => {
  it.each([
    ['keras-h5', 'h5'],
    ['gluon-params', 'params'],
  ] as const)('pth -> %s unfused (groups 1): fusing the result later gives the same kernels', async (to, ext) => {
    const src = fixture('pytorch', 'resnet_basic_1111.pth');
    const out = join(dir, `kept.${ext}`);
    await convertCheckpoint(src, out, { keepDoconv: true });
    const back = await loadCheckpoint(out);
    const ours = new Map((await fusedKernelsOf(back)).entries());
    const direct = await fusedKernels(src);
    expect(ours.size).toBe(to === 'gluon-params' ? direct.size - 3 : direct.size); // Gluon keeps no 1x1 DO-Conv: its weight is the kernel
    for (const [name, kernel] of ours) expect(relativeError(kernel, direct.get(name)!)).toBeLessThan(1e-6);
  });

  it('Keras -> Gluon unfused keeps grouped layers (same pairing), and the kernels stay the same', async () => {
    const src = fixture('layers', 'gluon_layers.params');
    const out = join(dir, 'kept_gluon.h5');
    await convertCheckpoint(src, out, { keepDoconv: true });
    const ours = await fusedKernelsOf(await loadCheckpoint(out));
    for (const [name, kernel] of await fusedKernels(src)) expect(relativeError(ours.get(name)!, kernel)).toBeLessThan(1e-6);
  });

  it.each([
    ['layers/keras_layers.h5', 'pth', /groups = 2: PyTorch pairs D row \(o mod g\)\*ipg \+ c.*Drop --keep-doconv/],
    ['pytorch/resnext_1111_4x8d.pth', 'params', /groups = 4: .*no unfused pytorch -> gluon translation is exact/],
  ])('%s -> .%s refuses grouped layers, naming the reason and the fused alternative', async (src, ext, message) => {
    const out = join(dir, `refused.${ext}`);
    await expect(convertCheckpoint(fixture(...src.split('/')), out, { keepDoconv: true })).rejects.toThrow(message);
    expect(existsSync(out)).toBe(false);
  });
});

async function fusedKernelsOf(ckpt: Awaited<ReturnType<typeof loadCheckpoint>>): Promise<Map<string, Tensor>> {
  return new Map(ckpt.layers.map((l) => [l.name.replace(/^.*\//, '').replace(/\.$/, ''), fuseLayer(l, { layout: 'oihw', dtype: 'float32' })]));
}
