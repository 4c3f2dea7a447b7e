import { Tensor } from '../tensor/tensor.js';

/**
 * Keras weight naming, in one place for every stage that reads Keras weights (DO-Conv detection,
 * the graph builders' parameter source, the cross-framework writers): which layer owns a weight
 * key, which keys are model weights at all, and what each weight is (its role) -- from the name
 * in Keras 2 files (`<layer>/<layer>/kernel:0`), from the layer's class, its config and the
 * variables' creation order in Keras 3 files (`layers/<layer>/vars/<i>`).
 */

export interface KerasLayerConfig {
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

/** A Keras 3 variable key: `.../<owner>/vars/<index>`. */
const KERAS3_VAR = /^(?:(.*)\/)?vars\/(\d+)$/;

/**
 * Whether a key is a weight of the model: Keras 3 files also keep the optimizer's variables
 * (`optimizer/vars/<i>`: iteration count, learning rate, moments) and metric state beside it.
 */
export function isKerasModelWeight(key: string): boolean {
  return !/^(optimizer|metrics)(\/|$)/.test(key);
}

/**
 * The Keras layer that owns a weight key: Keras 3 `layers/<layer>/vars/<i>`, Keras 2
 * `<layer>/<layer>/<w>:0` -- the segment before `vars` or before the weight's name, so a nested
 * model's weights (`model_1/conv/kernel:0`, `layers/model_1/layers/conv/vars/0`) belong to its layers.
 */
export function kerasOwner(key: string): string {
  const k3 = KERAS3_VAR.exec(key);
  const scope = k3 ? k3[1] : key.slice(0, Math.max(key.lastIndexOf('/'), 0));
  if (scope === undefined || scope === '') return key.split('/')[0]!;
  return scope.slice(scope.lastIndexOf('/') + 1);
}

/** The variable index of a Keras 3 key, or undefined for a Keras 2 name. */
export function kerasVarIndex(key: string): number | undefined {
  const k3 = KERAS3_VAR.exec(key);
  return k3 ? Number(k3[2]) : undefined;
}

/** The leaf of a Keras 2 weight name: `conv/conv/kernel:0` -> `kernel`. */
export function kerasLeaf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1).replace(/:\d+$/, '');
}

/**
 * The roles (Keras 2 weight names: kernel, bias, gamma, beta, moving_mean, moving_variance, D)
 * of one Keras 3 layer's variables in creation order. From the config where the layer has one:
 * BatchNormalization creates gamma only with scale, beta only with center; DOConv2D creates
 * kernel, bias (use_bias), D (M*N > 1); other layers kernel and bias (use_bias). Without a
 * config the shapes decide: four 1-D variables are a BatchNormalization, a 3-D variable beside
 * a 3-D kernel is a DOConv2D's D. Roles that cannot be told are undefined.
 */
export function kerasVarRoles(cfg: KerasLayerConfig | undefined, vars: readonly Tensor[]): (string | undefined)[] {
  const rank = vars.map((t) => t.shape.length);
  const c = cfg?.config ?? {};
  const bias = c.use_bias === false ? [] : ['bias'];
  const exactly = (roles: string[]): (string | undefined)[] => (roles.length === vars.length ? roles : vars.map(() => undefined));
  switch (cfg?.className) {
    case undefined:
      break;
    case 'BatchNormalization':
    case 'LayerNormalization':
      return exactly([...(c.scale === false ? [] : ['gamma']), ...(c.center === false ? [] : ['beta']), ...(cfg.className === 'BatchNormalization' ? ['moving_mean', 'moving_variance'] : [])]);
    case 'DOConv2D':
      // D only where M*N > 1: a 1x1 layer has kernel and bias alone.
      return ['kernel', ...bias, 'D'].slice(0, vars.length);
    case 'DepthwiseConv2D':
      return exactly(['depthwise_kernel', ...bias]);
    case 'SeparableConv2D':
      return exactly(['depthwise_kernel', 'pointwise_kernel', ...bias]);
    case 'Embedding':
      return exactly(['embeddings']);
    default:
      return ['kernel', ...bias];
  }
  if (vars.length === 4 && rank.every((r) => r === 1)) return ['gamma', 'beta', 'moving_mean', 'moving_variance'];
  if (rank[0] === 3) return rank.map((r, i) => (i === 0 ? 'kernel' : r === 3 ? 'D' : r === 1 ? 'bias' : undefined));
  return ['kernel', 'bias'];
}

/** One layer's weights: the key of each, with its role where it can be told. */
export interface KerasWeightGroup {
  /** The owning layer's name (see kerasOwner). */
  layer: string;
  /** What the group's keys share: `.../layers/<layer>/vars/` or `<layer>/<layer>/`. */
  prefix: string;
  weights: { key: string; role: string | undefined; tensor: Tensor }[];
  /** The layer's config, when the model config has one. */
  config: KerasLayerConfig | undefined;
}

/**
 * The model weights of a flat Keras `path -> tensor` dict (its entries) grouped by owning layer, in
 * the model config's layer order (else file order), each weight with its role. Optimizer and
 * metric variables are left out.
 */
export function kerasWeightGroups(entries: Iterable<[unknown, unknown]>, configs: ReadonlyMap<string, KerasLayerConfig>): KerasWeightGroup[] {
  const groups = new Map<string, KerasWeightGroup>();
  const keras3 = new Map<KerasWeightGroup, { index: number; key: string; tensor: Tensor }[]>();
  for (const [key, value] of entries) {
    if (typeof key !== 'string' || !(value instanceof Tensor) || !isKerasModelWeight(key)) continue;
    const index = kerasVarIndex(key);
    const layer = kerasOwner(key);
    const prefix = index !== undefined ? key.slice(0, key.length - String(index).length) : key.slice(0, key.lastIndexOf('/') + 1);
    let g = groups.get(prefix);
    if (g === undefined) {
      g = { layer, prefix, weights: [], config: configs.get(layer) };
      groups.set(prefix, g);
    }
    if (index === undefined) g.weights.push({ key, role: kerasLeaf(key), tensor: value });
    else {
      const list = keras3.get(g) ?? [];
      list.push({ index, key, tensor: value });
      keras3.set(g, list);
    }
  }
  for (const [g, list] of keras3) {
    list.sort((a, b) => a.index - b.index);
    const roles = kerasVarRoles(g.config, list.map((v) => v.tensor));
    for (const [i, v] of list.entries()) g.weights.push({ key: v.key, role: v.index === i ? roles[i] : undefined, tensor: v.tensor });
  }
  // Keras 3 files list layers by name (HDF5 orders groups alphabetically): the model config's order wins.
  const position = new Map([...configs.keys()].map((name, i) => [name, i]));
  const at = (g: KerasWeightGroup): number => position.get(g.layer) ?? position.size;
  return [...groups.values()].sort((a, b) => at(a) - at(b));
}
