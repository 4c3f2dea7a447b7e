import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { collectTensors, dataParallelPrefix, findStateDict } from '../checkpoint/tree.js';
import { kerasLayerConfigs } from '../doconv/detect-keras.js';
import { kerasOwner } from '../arch/keras-sequential.js';
import { DoconvError } from '../errors.js';
import { PyDict } from '../formats/pickle-values.js';
import { hwioToOihw, transpose2d } from '../tensor/layout.js';
import { Tensor } from '../tensor/tensor.js';

/** What a group of parameters is, across frameworks. */
export type ModuleKind = 'conv' | 'dense' | 'batchnorm' | 'other';

/**
 * One layer's parameters in framework-neutral form: convs (C_out, C_in/g, M, N), dense (out, in),
 * BatchNorm as gamma/beta/mean/var. `other` keeps unknown tensors under their own leaf names.
 */
export interface NeutralModule {
  name: string;
  kind: ModuleKind;
  params: Map<string, Tensor>;
}


/** PyTorch/Gluon state dicts: `<module>.<leaf>`; BatchNorm recognised by its running statistics. */
function dotModules(entries: [string, Tensor][]): NeutralModule[] {
  const groups = new Map<string, Map<string, Tensor>>();
  for (const [key, t] of entries) {
    const cut = key.lastIndexOf('.');
    const mod = cut < 0 ? '' : key.slice(0, cut);
    const leaf = key.slice(cut + 1);
    const g = groups.get(mod) ?? new Map<string, Tensor>();
    g.set(leaf, t);
    groups.set(mod, g);
  }
  const out: NeutralModule[] = [];
  for (const [name, leaves] of groups) {
    if (leaves.has('running_mean') && leaves.has('running_var')) {
      const params = new Map<string, Tensor>();
      const gamma = leaves.get('gamma') ?? leaves.get('weight');
      const beta = leaves.get('beta') ?? leaves.get('bias');
      if (gamma) params.set('gamma', gamma);
      if (beta) params.set('beta', beta);
      params.set('mean', leaves.get('running_mean')!);
      params.set('var', leaves.get('running_var')!);
      out.push({ name, kind: 'batchnorm', params });
      continue;
    }
    const w = leaves.get('weight');
    const rest = [...leaves.keys()].filter((k) => k !== 'weight' && k !== 'bias');
    if (w !== undefined && rest.length === 0 && (w.shape.length === 4 || w.shape.length === 2)) {
      const params = new Map<string, Tensor>([['weight', w]]);
      if (leaves.has('bias')) params.set('bias', leaves.get('bias')!);
      out.push({ name, kind: w.shape.length === 4 ? 'conv' : 'dense', params });
      continue;
    }
    out.push({ name, kind: 'other', params: leaves });
  }
  return out;
}

/** Keras: one module per layer, roles from the weight names (Keras 2) or the config's class (Keras 3). */
function kerasModules(dict: PyDict, config: unknown): NeutralModule[] {
  const configs = kerasLayerConfigs(config);
  const groups = new Map<string, [string, Tensor][]>();
  for (const [k, v] of dict.entries()) {
    if (typeof k !== 'string' || !(v instanceof Tensor)) continue;
    const owner = kerasOwner(k);
    const list = groups.get(owner) ?? [];
    list.push([k, v]);
    groups.set(owner, list);
  }
  const out: NeutralModule[] = [];
  for (const [name, list] of groups) {
    const leaf = (k: string) => k.slice(k.lastIndexOf('/') + 1).replace(/:\d+$/, '');
    const named = new Map(list.map(([k, t]) => [leaf(k), t]));
    const cls = configs.get(name)?.className;
    if (/^\d+$/.test(leaf(list[0]![0])) && cls !== undefined) {
      // Keras 3 vars: roles by class and creation order
      const roles = cls === 'BatchNormalization' ? ['gamma', 'beta', 'moving_mean', 'moving_variance'] : ['kernel', 'bias'];
      named.clear();
      list.forEach(([, t], i) => named.set(roles[i] ?? String(i), t));
    }
    if (named.has('moving_mean')) {
      const params = new Map<string, Tensor>();
      if (named.has('gamma')) params.set('gamma', named.get('gamma')!);
      if (named.has('beta')) params.set('beta', named.get('beta')!);
      params.set('mean', named.get('moving_mean')!);
      params.set('var', named.get('moving_variance')!);
      out.push({ name, kind: 'batchnorm', params });
    } else if (named.has('kernel') && (named.get('kernel')!.shape.length === 4 || named.get('kernel')!.shape.length === 2)) {
      const k = named.get('kernel')!;
      const params = new Map<string, Tensor>([['weight', k.shape.length === 4 ? hwioToOihw(k) : transpose2d(k)]]);
      if (named.has('bias')) params.set('bias', named.get('bias')!);
      out.push({ name, kind: k.shape.length === 4 ? 'conv' : 'dense', params });
    } else out.push({ name, kind: 'other', params: named });
  }
  return out;
}

/** The fused checkpoint's model parameters as framework-neutral modules, in file order. */
export function neutralModules(ckpt: Checkpoint): NeutralModule[] {
  if (ckpt.framework === 'keras') {
    if (!(ckpt.root instanceof PyDict)) throw new DoconvError('BAD_ARGUMENT', 'Keras checkpoint without weights', { file: ckpt.file });
    return kerasModules(ckpt.root, ckpt.config);
  }
  const sd = findStateDict(ckpt.root);
  if (sd === undefined) throw new DoconvError('BAD_ARGUMENT', 'found no model state dict to translate', { file: ckpt.file });
  const prefix = dataParallelPrefix(sd.dict);
  const entries = collectTensors(sd.dict).map(({ name, tensor }) => [name.slice(prefix.length).replace(/^(arg|aux):/, ''), tensor] as [string, Tensor]);
  return dotModules(entries.filter(([k]) => !k.endsWith('num_batches_tracked')));
}
