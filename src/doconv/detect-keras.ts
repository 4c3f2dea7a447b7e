import { DoconvError } from '../errors.js';
import { PyDict, type PyValue } from '../formats/pickle-values.js';
import { Tensor } from '../tensor/tensor.js';
import { resolveKernel, type KernelOverride } from './kernel-spec.js';
import type { DoConvLayer } from './layer.js';

interface KerasLayerConfig {
  className: string;
  config: Record<string, unknown>;
}

/** Every layer config in a Keras model config (Sequential, Functional, nested models), by name. */
export function kerasLayerConfigs(modelConfig: unknown): Map<string, KerasLayerConfig> {
  const out = new Map<string, KerasLayerConfig>();
  const visit = (node: unknown, depth: number): void => {
    if (depth > 64 || node === null || typeof node !== 'object') return;
    const n = node as { class_name?: unknown; config?: unknown };
    const cfg = n.config as Record<string, unknown> | undefined;
    if (typeof n.class_name === 'string' && cfg !== undefined && typeof cfg === 'object') {
      if (typeof cfg.name === 'string') out.set(cfg.name, { className: n.class_name, config: cfg });
      if (Array.isArray(cfg.layers)) for (const l of cfg.layers) visit(l, depth + 1);
    }
  };
  visit(modelConfig, 0);
  return out;
}

interface WeightGroup {
  layer: string;
  prefix: string;
  /** weight role -> key: Keras 2 names (kernel, bias, D), or Keras 3 variable indices. */
  byName: Map<string, string>;
  indexed: string[];
}

/** Groups the flat `path -> tensor` dict by owning layer (Keras 2 `.../name:0`, Keras 3 `layers/<name>/vars/<i>`). */
function weightGroups(dict: PyDict): WeightGroup[] {
  const groups = new Map<string, WeightGroup>();
  for (const key of dict.keys) {
    if (typeof key !== 'string') continue;
    const k3 = /^(.*?)(?:^|\/)layers\/([^/]+)\/vars\/(\d+)$/.exec(key);
    const cut = key.lastIndexOf('/');
    const prefix = k3 ? key.slice(0, key.length - k3[3]!.length) : key.slice(0, cut + 1);
    const layer = k3 ? k3[2]! : (key.split('/')[cut > 0 ? key.split('/').length - 2 : 0] ?? key);
    let g = groups.get(prefix);
    if (g === undefined) {
      g = { layer, prefix, byName: new Map(), indexed: [] };
      groups.set(prefix, g);
    }
    if (k3) g.indexed[Number(k3[3])] = key;
    else g.byName.set(key.slice(cut + 1).replace(/:\d+$/, ''), key);
  }
  return [...groups.values()];
}

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
  const groups = weightGroups(root);
  // Without a config, a 3-D kernel of D_mul 1 and no D is taken as a 1x1 DOConv2D only in a file that
  // has DOConv2D layers with D (a Conv1D with kernel size 1 has the same shape).
  const fileHasD = [...root.keys].some((k) => typeof k === 'string' && /(^|\/)D(:\d+)?$/.test(k));
  for (const g of groups) {
    const cfg = configs.get(g.layer);
    if (cfg !== undefined && cfg.className !== 'DOConv2D') continue;
    let kernelKey: string | undefined;
    let dKey: string | undefined;
    let biasKey: string | undefined;
    if (g.indexed.length > 0) {
      // Keras 3: variables in creation order -- kernel, bias (if use_bias), D (if M*N > 1).
      const useBias = cfg ? cfg.config.use_bias !== false : undefined;
      kernelKey = g.indexed[0];
      const rest = g.indexed.slice(1).filter((k): k is string => k !== undefined);
      if (useBias === undefined) {
        dKey = rest.find((k) => (root.get(k) as Tensor).shape.length === 3);
        biasKey = rest.find((k) => (root.get(k) as Tensor).shape.length === 1);
      } else {
        biasKey = useBias ? rest[0] : undefined;
        dKey = useBias ? rest[1] : rest[0];
      }
    } else {
      kernelKey = g.byName.get('kernel');
      dKey = g.byName.get('D');
      biasKey = g.byName.get('bias');
    }
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
