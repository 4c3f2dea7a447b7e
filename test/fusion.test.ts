// @tier shared-fixtures: reads ../shared/fixtures (or DOCONV_ZOO_FIXTURES); skipped where absent, a failure under CI=true (vitest.config.ts).
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/checkpoint/load.js';
import { fuseLayer } from '../src/doconv/fuse-layer.js';
import { fuseTorchKernel, identityDiag, totalD } from '../src/doconv/fuse-kernel.js';
import { parseKernelOverride } from '../src/doconv/kernel-spec.js';
import type { DoConvLayer } from '../src/doconv/layer.js';
import { DoconvError } from '../src/errors.js';
import { toFloat32 } from '../src/tensor/tensor.js';
import { fixture } from './helpers/paths.js';
import { readNpz, relativeError } from './helpers/npz.js';

const kernels = [parseKernelOverride('4=3x1')];
const reference = readNpz(fixture('pytorch', 'layers.fused.npz'));

describe.each([
  ['zip format', 'layers.pth'],
  ['legacy format', 'layers_legacy.pth'],
])('PyTorch DO-Conv fusion, %s (../shared/fixtures/pytorch/%s)', async (_label, file) => {
  const ckpt = await loadCheckpoint(fixture('pytorch', file), { kernels });

  it('recognises the six DOConv2d layers with their hyper-parameters', async () => {
    const summary = ckpt.layers.map((l) => [l.name, l.inChannels, l.outChannels, l.groups, l.kernel, l.dMul, l.bias]);
    expect(summary).toEqual([
      ['0', 3, 8, 1, [3, 3], 9, true],
      ['1', 8, 16, 2, [3, 3], 10, false],
      ['2', 16, 32, 16, [3, 3], 9, true],
      ['3', 32, 8, 1, [5, 5], 27, true],
      ['4', 8, 6, 1, [3, 1], 3, true],
      ['5', undefined, 4, undefined, [1, 1], 1, true],
    ]);
  });

  it.each(['0', '1', '2', '3', '4', '5'])('fuses layer %s to the reference kernel within 1e-6 relative', async (name) => {
    const layer = ckpt.layers.find((l) => l.name === name)!;
    const fused = fuseLayer(layer);
    const ref = reference.get(`${name}.weight`)!;
    expect(fused.shape).toEqual(ref.shape);
    expect(relativeError(fused, ref)).toBeLessThan(1e-6);
  });
});

describe('the PyTorch pairing rule', async () => {
  const ckpt = await loadCheckpoint(fixture('pytorch', 'layers.pth'), { kernels });
  const grouped = ckpt.layers.find((l) => l.name === '1')!; // groups = 2, D_mul = 10

  it('pairs D row (o mod g)*ipg + c with W[o, c] for grouped layers; the conv-input pairing would be wrong', async () => {
    const W = toFloat32(grouped.W);
    const Dt = totalD(toFloat32(grouped.D!), toFloat32(grouped.dDiag!), grouped);
    const ipg = grouped.inChannelsPerGroup;
    const opg = grouped.outChannels / grouped.groups!;
    // The "natural" rule a converter might guess: D row = the input channel the conv reads.
    const natural = new Float32Array(grouped.outChannels * ipg * 9);
    for (let o = 0; o < grouped.outChannels; o++)
      for (let c = 0; c < ipg; c++)
        for (let m = 0; m < 9; m++) {
          let acc = 0;
          for (let s = 0; s < grouped.dMul; s++) acc += Dt[(Math.floor(o / opg) * ipg + c) * 9 * grouped.dMul + m * grouped.dMul + s]! * W[(o * ipg + c) * grouped.dMul + s]!;
          natural[(o * ipg + c) * 9 + m] = acc;
        }
    const ref = reference.get('1.weight')!;
    expect(relativeError(natural, ref)).toBeGreaterThan(1e-2);
    expect(relativeError(fuseLayer(grouped), ref)).toBeLessThan(1e-6);
  });

  it('builds d_diag as the MN x MN identity repeated floor(D_mul/MN) times, zero-padded to D_mul', async () => {
    const d = identityDiag(4, 10); // MN = 4, D_mul = 10: two identities, then 2 zero columns
    const row = (m: number) => Array.from(d.subarray(m * 10, m * 10 + 10));
    expect(row(0)).toEqual([1, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    expect(row(3)).toEqual([0, 0, 0, 1, 0, 0, 0, 1, 0, 0]);
  });

  it('gives the same kernel when d_diag is missing and rebuilt from M*N and D_mul', async () => {
    for (const layer of ckpt.layers.filter((l) => l.D !== undefined)) {
      const rebuilt: DoConvLayer = { ...layer, dDiag: undefined };
      expect(relativeError(fuseLayer(rebuilt), fuseLayer(layer))).toBe(0);
    }
  });

  it('computes K[o,c,m] = sum_s Dt[(o mod g)*ipg+c, m, s] W[o,c,s] on a hand-checked example', async () => {
    // C_out = 2, groups = 2, ipg = 1, MN = 1, D_mul = 2: Dt rows are [1,2] and [3,4].
    const K = fuseTorchKernel([10, 20, 30, 40], [1, 2, 3, 4], { outChannels: 2, inChannelsPerGroup: 1, groups: 2, kernelArea: 1, dMul: 2 }, new Float32Array(2));
    expect(Array.from(K)).toEqual([1 * 10 + 2 * 20, 3 * 30 + 4 * 40]);
  });

  it('emits fp16 and bf16 kernels rounded once from the fp32 result', async () => {
    const layer = ckpt.layers.find((l) => l.name === '3')!;
    const f32 = toFloat32(fuseLayer(layer));
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const low = fuseLayer(layer, { dtype });
      expect(low.dtype).toBe(dtype);
      expect(relativeError(low, f32)).toBeLessThan(dtype === 'float16' ? 1e-3 : 8e-3);
    }
  });
});

describe('kernel shapes a state dict does not record', () => {
  it('refuses a non-square M*N without --kernel, naming the layer and the option', async () => {
    const ckpt = await loadCheckpoint(fixture('pytorch', 'layers.pth'));
    const layer = ckpt.layers.find((l) => l.name === '4')!;
    expect(layer.kernel).toBeUndefined();
    try {
      fuseLayer(layer);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DoconvError);
      expect((err as DoconvError).code).toBe('KERNEL_SHAPE_AMBIGUOUS');
      expect((err as DoconvError).message).toContain("--kernel '4=MxN'");
    }
  });

  it('accepts wildcards and refuses a shape whose area does not match D', async () => {
    expect((await loadCheckpoint(fixture('pytorch', 'layers.pth'), { kernels: [parseKernelOverride('?=1x3')] })).layers[4]!.kernel).toEqual([1, 3]);
    await expect(loadCheckpoint(fixture('pytorch', 'layers.pth'), { kernels: [parseKernelOverride('4=2x2')] })).rejects.toThrow(/does not fit/);
    expect(() => parseKernelOverride('4=3by1')).toThrow(DoconvError);
  });
});
