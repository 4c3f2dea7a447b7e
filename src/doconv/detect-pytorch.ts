import { joinPath, walkTree } from '../checkpoint/tree.js';
import { DoconvError } from '../errors.js';
import type { PyDict, PyValue } from '../formats/pickle-values.js';
import { isFloatDType } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';
import { resolveKernel, type KernelOverride } from './kernel-spec.js';
import type { DoConvLayer } from './layer.js';

/** Larger kernels than 32x32 are refused: fusion costs |W| * M*N, so this bounds it by the file size. */
export const MAX_KERNEL_AREA = 1024;

function tensorAt(dict: PyDict, key: string): Tensor | undefined {
  const v = dict.get(key);
  return v instanceof Tensor ? v : undefined;
}

/**
 * Finds the layers of the reference DOConv2d (do_conv_pytorch.py) in every dict of the tree:
 * `<name>.W` (C_out, C_in/g, D_mul) with `<name>.D` and `<name>.d_diag` (C_in, M*N, D_mul), or a
 * 3-D `<name>.W` alone whose last dim is 1 (a 1x1 layer: D_mul forced to 1, no D). Every shape is
 * checked against the others; a contradiction is an error naming the key.
 */
export function detectPytorchLayers(root: PyValue, overrides: readonly KernelOverride[] = []): DoConvLayer[] {
  const layers: DoConvLayer[] = [];
  walkTree(root, {
    dict(dict, path) {
      for (const key of dict.keys) {
        if (typeof key !== 'string' || !(key === 'W' || key.endsWith('.W'))) continue;
        const W = tensorAt(dict, key);
        if (W === undefined || W.shape.length !== 3) continue;
        const prefix = key.slice(0, -1);
        const local = prefix.replace(/\.$/, '');
        const name = joinPath(path, local);
        const at = (suffix: string): string => `${prefix}${suffix}`;
        const fullKey = (k: string): string => joinPath(path, k);
        const D = tensorAt(dict, at('D'));
        const dDiag = tensorAt(dict, at('d_diag'));
        const bias = tensorAt(dict, at('bias'));
        const [outChannels, inPerGroup, dMul] = W.shape as [number, number, number];
        if (!isFloatDType(W.dtype)) throw new DoconvError('DTYPE_UNSUPPORTED', `DO-Conv W must be floating point, got ${W.dtype}`, { key: fullKey(key) });
        if (dict.has(at('weight'))) {
          throw new DoconvError('DOCONV_SHAPE_MISMATCH', `layer has both W and weight; cannot tell which kernel is meant`, { key: fullKey(at('weight')) });
        }
        if (D === undefined) {
          if (dDiag !== undefined) throw new DoconvError('DOCONV_SHAPE_MISMATCH', 'd_diag without D', { key: fullKey(at('d_diag')) });
          if (dMul !== 1) continue; // a 3-D W without D that is not a 1x1 DO-Conv: not ours to touch
          layers.push({
            name, pairing: 'pytorch', inChannels: undefined, outChannels, inChannelsPerGroup: inPerGroup, groups: undefined,
            kernel: [1, 1], kernelArea: 1, dMul: 1, bias: bias !== undefined, W, D: undefined, dDiag: undefined, container: dict,
            keys: { W: key, fused: at('weight'), ...(bias ? { bias: at('bias') } : {}) },
          });
          continue;
        }
        if (D.shape.length !== 3) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `D must be 3-D (C_in, M*N, D_mul), got [${D.shape.join(', ')}]`, { key: fullKey(at('D')) });
        const [inChannels, area, dMulD] = D.shape as [number, number, number];
        if (dMulD !== dMul) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `D_mul differs: W has ${dMul}, D has ${dMulD}`, { key: fullKey(at('D')) });
        if (area > MAX_KERNEL_AREA) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `M*N = ${area} exceeds the largest supported kernel (${MAX_KERNEL_AREA})`, { key: fullKey(at('D')) });
        if (area < 1 || dMul < area) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `D_mul (${dMul}) must be at least M*N (${area})`, { key: fullKey(at('D')) });
        if (inPerGroup < 1 || inChannels % inPerGroup !== 0) {
          throw new DoconvError('DOCONV_SHAPE_MISMATCH', `C_in (${inChannels}) is not a multiple of W's C_in/groups (${inPerGroup})`, { key: fullKey(key) });
        }
        const groups = inChannels / inPerGroup;
        if (outChannels % groups !== 0) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `C_out (${outChannels}) is not a multiple of groups (${groups})`, { key: fullKey(key) });
        if (dDiag !== undefined && dDiag.shape.join() !== D.shape.join()) {
          throw new DoconvError('DOCONV_SHAPE_MISMATCH', `d_diag shape [${dDiag.shape.join(', ')}] differs from D's [${D.shape.join(', ')}]`, { key: fullKey(at('d_diag')) });
        }
        if (!isFloatDType(D.dtype)) throw new DoconvError('DTYPE_UNSUPPORTED', `DO-Conv D must be floating point, got ${D.dtype}`, { key: fullKey(at('D')) });
        if (bias !== undefined && (bias.shape.length !== 1 || bias.shape[0] !== outChannels)) {
          throw new DoconvError('DOCONV_SHAPE_MISMATCH', `bias shape [${bias.shape.join(', ')}] does not match C_out ${outChannels}`, { key: fullKey(at('bias')) });
        }
        const kernel = resolveKernel([name, local], area, overrides);
        layers.push({
          name, pairing: 'pytorch', inChannels, outChannels, inChannelsPerGroup: inPerGroup, groups, kernel, kernelArea: area, dMul,
          bias: bias !== undefined, W, D, dDiag, container: dict,
          keys: { W: key, D: at('D'), fused: at('weight'), ...(dDiag ? { dDiag: at('d_diag') } : {}), ...(bias ? { bias: at('bias') } : {}) },
        });
      }
    },
  });
  return layers;
}
