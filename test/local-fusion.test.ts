// Always-run tier: DO-Conv fusion of all three frameworks from the small reference files committed
// under test/data/reference (scripts/reference/make_test_data.py). No Python, nothing outside the clone.
import { describe, expect, it } from 'vitest';
import { fuseLayer, fuseTorchKernel, identityDiag, loadCheckpoint, parseKernelOverride, totalD, toFloat32, DoconvError } from '../src/index.js';
import type { DoConvLayer } from '../src/index.js';
import { readNpz, relativeError } from './helpers/npz.js';
import { refFile, referenceManifest } from './helpers/test-data.js';

const manifest = referenceManifest();
const torchCase = manifest.cases.layers;
const kernels = [parseKernelOverride(torchCase.kernelOverride)];
const torchFused = readNpz(refFile(torchCase.fused));

describe.each(torchCase.files)('PyTorch DOConv2d stack, %s', async (file) => {
  const ckpt = await loadCheckpoint(refFile(file), { kernels });

  it('is read in its torch.save format', () => {
    expect(ckpt.format).toBe(file.includes('legacy') ? 'pytorch-legacy' : 'pytorch-zip');
    expect(ckpt.framework).toBe('pytorch');
  });

  it('recognises the six layers with the hyper-parameters they were made with', () => {
    const summary = ckpt.layers.map((l) => [l.name, l.inChannels, l.outChannels, l.groups, l.kernel, l.dMul, l.bias]);
    expect(summary).toEqual([
      ['0', 3, 4, 1, [3, 3], 9, true],
      ['1', 4, 4, 2, [3, 3], 10, false],
      ['2', 4, 8, 4, [3, 3], 9, true],
      ['3', 8, 4, 1, [5, 5], 27, true],
      ['4', 4, 6, 1, [3, 1], 3, true],
      ['5', undefined, 4, undefined, [1, 1], 1, true], // 1x1 without D: C_in and groups cannot be read off W
    ]);
    // and they agree with what the generator recorded
    for (const [i, c] of torchCase.layers.entries()) {
      const l = ckpt.layers[i]!;
      expect([l.outChannels, l.dMul, l.bias, l.kernel]).toEqual([c.cout, c.d_mul, c.bias, c.kernel]);
    }
  });

  it.each(['0', '1', '2', '3', '4', '5'])('fuses layer %s to the reference kernel within 1e-6 relative', (name) => {
    const fused = fuseLayer(ckpt.layers.find((l) => l.name === name)!);
    const ref = torchFused.get(`${name}.weight`)!;
    expect(fused.shape).toEqual(ref.shape);
    expect(relativeError(fused, ref)).toBeLessThan(1e-6);
  });

  it('rebuilds d_diag from M*N and D_mul to the same kernels when it is missing', () => {
    const withD = ckpt.layers.filter((l) => l.D !== undefined);
    expect(withD).toHaveLength(5);
    for (const layer of withD) {
      const rebuilt: DoConvLayer = { ...layer, dDiag: undefined };
      expect(relativeError(fuseLayer(rebuilt), fuseLayer(layer))).toBe(0);
    }
  });
});

describe('the PyTorch pairing rule on the grouped layer (groups 2, D_mul 10)', async () => {
  const ckpt = await loadCheckpoint(refFile('layers.pth'), { kernels });
  const grouped = ckpt.layers.find((l) => l.name === '1')!;

  it('pairs D row (o mod g)*ipg + c with W[o, c]; the row of the input channel the conv reads would be wrong', () => {
    const W = toFloat32(grouped.W);
    const Dt = totalD(toFloat32(grouped.D!), toFloat32(grouped.dDiag!), grouped);
    const ipg = grouped.inChannelsPerGroup;
    const opg = grouped.outChannels / grouped.groups!;
    const mn = grouped.kernelArea;
    const rule = (row: (o: number, c: number) => number) => {
      const K = new Float32Array(grouped.outChannels * ipg * mn);
      for (let o = 0; o < grouped.outChannels; o++)
        for (let c = 0; c < ipg; c++)
          for (let m = 0; m < mn; m++) {
            let acc = 0;
            for (let s = 0; s < grouped.dMul; s++) acc += Dt[(row(o, c) * mn + m) * grouped.dMul + s]! * W[(o * ipg + c) * grouped.dMul + s]!;
            K[(o * ipg + c) * mn + m] = acc;
          }
      return K;
    };
    const ref = torchFused.get('1.weight')!;
    expect(relativeError(rule((o, c) => (o % grouped.groups!) * ipg + c), ref)).toBeLessThan(1e-6);
    expect(relativeError(rule((o, c) => Math.floor(o / opg) * ipg + c), ref)).toBeGreaterThan(1e-2);
    expect(relativeError(fuseLayer(grouped), ref)).toBeLessThan(1e-6);
  });

  it('stores d_diag as the identity repeated floor(D_mul/MN) times, zero-padded (what identityDiag builds)', () => {
    const stored = toFloat32(grouped.dDiag!); // (C_in, 9, 10)
    const built = identityDiag(9, 10);
    for (let c = 0; c < 4; c++) expect(Array.from(stored.subarray(c * 90, c * 90 + 90))).toEqual(Array.from(built));
    expect(Array.from(built.subarray(0, 10))).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // one identity (10 // 9), then one zero column
    expect(Array.from(built.subarray(80, 90))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
  });

  it('computes K[o,c,m] = sum_s Dt[(o mod g)*ipg+c, m, s] W[o,c,s] on a hand-checked example', () => {
    const K = fuseTorchKernel([10, 20, 30, 40], [1, 2, 3, 4], { outChannels: 2, inChannelsPerGroup: 1, groups: 2, kernelArea: 1, dMul: 2 }, new Float32Array(2));
    expect(Array.from(K)).toEqual([1 * 10 + 2 * 20, 3 * 30 + 4 * 40]);
  });
});

describe('kernel shapes a state dict does not record (layer 4 is 3x1)', () => {
  it('refuses the non-square M*N = 3 without --kernel, naming the layer and the option', async () => {
    const ckpt = await loadCheckpoint(refFile('layers.pth'));
    const layer = ckpt.layers.find((l) => l.name === '4')!;
    expect(layer.kernel).toBeUndefined();
    expect(layer.kernelArea).toBe(3);
    try {
      fuseLayer(layer);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DoconvError);
      expect((err as DoconvError).code).toBe('KERNEL_SHAPE_AMBIGUOUS');
      expect((err as DoconvError).message).toContain("--kernel '4=MxN'");
    }
  });

  it('takes 1x3 for a wildcard (a different kernel from 3x1), refuses an area that does not fit', async () => {
    const ckpt = await loadCheckpoint(refFile('layers_legacy.pth'), { kernels: [parseKernelOverride('?=1x3')] });
    const layer = ckpt.layers[4]!;
    expect(layer.kernel).toEqual([1, 3]);
    expect(fuseLayer(layer).shape).toEqual([6, 4, 1, 3]);
    await expect(loadCheckpoint(refFile('layers.pth'), { kernels: [parseKernelOverride('4=2x2')] })).rejects.toThrow(/does not fit/);
  });
});

describe('Keras DOConv2D stack (keras_layers.h5, the Keras pairing rule)', async () => {
  const ckpt = await loadCheckpoint(refFile(manifest.cases.keras_layers.file));
  const ref = readNpz(refFile(manifest.cases.keras_layers.fused));

  it('recognises the six layers from model_config, the 3x1 kernel included', () => {
    expect(ckpt.format).toBe('keras-h5');
    expect(ckpt.framework).toBe('keras');
    expect(ckpt.layers.map((l) => [l.name, l.inChannels, l.outChannels, l.groups, l.kernel, l.dMul, l.bias])).toEqual([
      ['do_conv2d', 3, 4, 1, [3, 3], 9, true],
      ['do_conv2d_1', 4, 4, 2, [3, 3], 10, false],
      ['do_conv2d_2', 4, 8, 4, [3, 3], 9, true],
      ['do_conv2d_3', 8, 4, 1, [5, 5], 27, true],
      ['do_conv2d_4', 4, 6, 1, [3, 1], 3, true],
      ['do_conv2d_5', 6, 4, 1, [1, 1], 1, true],
    ]);
    expect(ckpt.layers.every((l) => l.pairing === 'keras')).toBe(true);
  });

  it('fuses every layer to the reference (M, N, C_in/g, C_out) kernel within 1e-6 relative', () => {
    expect(ref.size).toBe(6);
    for (const layer of ckpt.layers) {
      const expected = ref.get(`${layer.name}/kernel`)!;
      const fused = fuseLayer(layer);
      expect(fused.shape).toEqual(expected.shape);
      expect(relativeError(fused, expected)).toBeLessThan(1e-6);
    }
  });

  it('gives the same kernels in torch layout (C_out, C_in/g, M, N) on request', () => {
    const layer = ckpt.layers.find((l) => l.name === 'do_conv2d_1')!;
    const hwio = toFloat32(ref.get('do_conv2d_1/kernel')!); // (3, 3, 2, 4)
    const oihw = toFloat32(fuseLayer(layer, { layout: 'oihw', dtype: 'float32' }));
    for (let o = 0; o < 4; o++)
      for (let c = 0; c < 2; c++)
        for (let m = 0; m < 9; m++) expect(oihw[(o * 2 + c) * 9 + m]).toBeCloseTo(hwio[(m * 2 + c) * 4 + o]!, 6);
  });
});

describe('GluonCV DOConv2D stack (gluon_layers.params, the Gluon rule)', async () => {
  const ckpt = await loadCheckpoint(refFile(manifest.cases.gluon_layers.file));
  const ref = readNpz(refFile(manifest.cases.gluon_layers.fused));

  it('recognises the four layers with D (the 1x1 has none: its weight is the kernel)', () => {
    expect(ckpt.format).toBe('mxnet-ndarray-list');
    expect(ckpt.framework).toBe('gluon');
    expect(ckpt.layers.map((l) => [l.name, l.inChannels, l.outChannels, l.groups, l.kernel, l.dMul, l.bias])).toEqual([
      ['0', 3, 4, 1, [3, 3], 9, true],
      ['1', 4, 4, 2, [3, 3], 9, false],
      ['2', 4, 8, 4, [3, 3], 9, true],
      ['3', 8, 4, 1, [5, 5], 25, true],
    ]);
  });

  it('fuses every layer with D to the reference (C_out, C_in/g, M, N) kernel within 1e-6 relative', () => {
    for (const layer of ckpt.layers) {
      const expected = ref.get(`${layer.name}.weight`)!;
      const fused = fuseLayer(layer);
      expect(fused.shape).toEqual(expected.shape);
      expect(relativeError(fused, expected)).toBeLessThan(1e-6);
    }
    // the 1x1 layer's weight is stored as it is used
    const w4 = ckpt.tensors.find((t) => t.name === '4.weight')!.tensor;
    expect(relativeError(w4, ref.get('4.weight')!)).toBe(0);
  });
});
