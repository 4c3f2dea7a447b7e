import { walkTree, joinPath } from '../checkpoint/tree.js';
import { DoconvError } from '../errors.js';
import type { PyValue } from '../formats/pickle-values.js';
import { Tensor } from '../tensor/tensor.js';
import type { DoConvLayer } from './layer.js';

/**
 * Finds the layers of GluonCV's DOConv2D (do_conv_gluoncv.py): `<prefix>weight` (C_out, C_in/g, M, N)
 * beside `<prefix>D` (M*N, M*N, C_in). The reference supports D_mul = M*N only. A 1x1 layer has no D
 * and its weight is already the kernel, so it is an ordinary convolution here.
 */
export function detectGluonLayers(root: PyValue): DoConvLayer[] {
  const layers: DoConvLayer[] = [];
  walkTree(root, {
    dict(dict, path) {
      for (const key of dict.keys) {
        if (typeof key !== 'string' || !key.endsWith('weight')) continue;
        const prefix = key.slice(0, -'weight'.length);
        const W = dict.get(key);
        const D = dict.get(`${prefix}D`);
        if (!(W instanceof Tensor) || !(D instanceof Tensor) || W.shape.length !== 4) continue;
        const full = (k: string) => joinPath(path, k);
        const [outChannels, ipg, M, N] = W.shape as [number, number, number, number];
        const area = M * N;
        if (D.shape.length !== 3 || D.shape[0] !== area || D.shape[1] !== area) {
          throw new DoconvError('DOCONV_SHAPE_MISMATCH', `Gluon DOConv2D D must be (M*N, M*N, C_in) = (${area}, ${area}, C_in), got [${D.shape.join(', ')}]`, { key: full(`${prefix}D`) });
        }
        const inChannels = D.shape[2]!;
        if (ipg < 1 || inChannels % ipg !== 0 || outChannels % (inChannels / ipg) !== 0) {
          throw new DoconvError('DOCONV_SHAPE_MISMATCH', `C_in ${inChannels}, C_in/g ${ipg} and C_out ${outChannels} do not give a whole number of groups`, { key: full(key) });
        }
        const bias = dict.get(`${prefix}bias`);
        layers.push({
          name: joinPath(path, prefix.replace(/[._]$/, '')),
          pairing: 'gluon',
          inChannels,
          outChannels,
          inChannelsPerGroup: ipg,
          groups: inChannels / ipg,
          kernel: [M, N],
          kernelArea: area,
          dMul: area,
          bias: bias instanceof Tensor,
          W,
          D,
          dDiag: undefined,
          container: dict,
          keys: { W: key, D: `${prefix}D`, fused: key, ...(bias instanceof Tensor ? { bias: `${prefix}bias` } : {}) },
        });
      }
    },
  });
  return layers;
}
