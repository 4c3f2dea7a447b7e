import { DoconvError } from '../errors.js';
import { PyDict, type PyValue } from '../formats/pickle-values.js';
import { Tensor } from '../tensor/tensor.js';
import { resolveKernel, type KernelOverride } from './kernel-spec.js';
import { kerasLayerConfigs, kerasWeightGroups } from '../readers/keras-weights.js';
import type { DoConvLayer } from './layer.js';

export { kerasLayerConfigs, type KerasLayerConfig } from '../readers/keras-weights.js';

/**
 * Finds the layers of the Keras reference DOConv2D (do_conv_tensorflow.py): `kernel` (W, shape
 * (D_mul, C_in/g, C_out)), `bias`, `D` (M*N, D_mul, C_in; absent for 1x1). The model config names
 * them (class_name "DOConv2D", kernel_size, D_mul, use_bias); without one, a 3-D kernel beside a
 * 3-D D whose D_mul matches is taken as one.
 */
export function detectKerasLayers(root: PyValue, config: unknown, overrides: readonly KernelOverride[] = []): DoConvLayer[] {
  if (!(root instanceof PyDict)) return [];
  const configs = kerasLayerConfigs(config);
  const layers: DoConvLayer[] = [];
  const groups = kerasWeightGroups(root.entries(), configs);
  // Without a config, a 3-D kernel of D_mul 1 and no D is taken as a 1x1 DOConv2D only in a file that
  // has DOConv2D layers with D (a Conv1D with kernel size 1 has the same shape).
  const fileHasD = groups.some((g) => g.weights.some((w) => w.role === 'D'));
  for (const g of groups) {
    const cfg = g.config;
    if (cfg !== undefined && cfg.className !== 'DOConv2D') continue;
    const keyOf = (role: string): string | undefined => g.weights.find((w) => w.role === role)?.key;
    const kernelKey = keyOf('kernel');
    const dKey = keyOf('D');
    const biasKey = keyOf('bias');
    if (kernelKey === undefined) continue;
    const W = root.get(kernelKey);
    const D = dKey === undefined ? undefined : root.get(dKey);
    if (!(W instanceof Tensor) || W.shape.length !== 3) continue;
    if (D !== undefined && (!(D instanceof Tensor) || D.shape.length !== 3)) continue;
    if (cfg === undefined && D === undefined && !(fileHasD && W.shape[0] === 1)) continue;
    const [dMul, ipg, outChannels] = W.shape as [number, number, number];
    const ks = cfg?.config.kernel_size as number[] | undefined;
    let area: number;
    let inChannels: number | undefined;
    if (D instanceof Tensor) {
      const [a, dm, cin] = D.shape as [number, number, number];
      if (dm !== dMul) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `D_mul differs: kernel has ${dMul}, D has ${dm}`, { key: dKey });
      if (dMul < a) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `D_mul (${dMul}) must be at least M*N (${a})`, { key: dKey });
      if (ipg < 1 || cin % ipg !== 0 || outChannels % (cin / ipg) !== 0) {
        throw new DoconvError('DOCONV_SHAPE_MISMATCH', `C_in ${cin}, C_in/g ${ipg} and C_out ${outChannels} do not give a whole number of groups`, { key: kernelKey });
      }
      area = a;
      inChannels = cin;
    } else {
      if (dMul !== 1) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `a DOConv2D without D must be 1x1 with D_mul 1, kernel is [${W.shape.join(', ')}]`, { key: kernelKey });
      area = 1;
      const groups = typeof cfg?.config.groups === 'number' ? cfg.config.groups : 1;
      inChannels = ipg * groups;
    }
    if (ks !== undefined && ks[0]! * ks[1]! !== area) throw new DoconvError('DOCONV_SHAPE_MISMATCH', `kernel_size ${ks.join('x')} does not match D's M*N = ${area}`, { key: dKey ?? kernelKey });
    const kernel = ks !== undefined ? ([ks[0]!, ks[1]!] as [number, number]) : resolveKernel([g.layer], area, overrides);
    const bias = biasKey === undefined ? undefined : root.get(biasKey);
    layers.push({
      name: g.layer,
      pairing: 'keras',
      inChannels,
      outChannels,
      inChannelsPerGroup: ipg,
      groups: inChannels / ipg,
      kernel,
      kernelArea: area,
      dMul,
      bias: bias instanceof Tensor,
      W,
      D: D instanceof Tensor ? D : undefined,
      dDiag: undefined,
      container: root,
      keys: { W: kernelKey, fused: kernelKey, ...(dKey && D ? { D: dKey } : {}), ...(biasKey && bias instanceof Tensor ? { bias: biasKey } : {}) },
    });
  }
  return layers;
}
