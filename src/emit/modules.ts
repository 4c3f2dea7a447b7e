import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { collectTensors, dataParallelPrefix, findStateDict } from '../checkpoint/tree.js';
import { kerasLayerConfigs, kerasLeaf, kerasWeightGroups } from '../readers/keras-weights.js';
import { gluonParamName } from '../arch/naming-gluon.js';
import { DoconvError } from '../errors.js';
import { PyDict } from '../formats/pickle-values.js';
import { hwioToOihw, transpose2d } from '../tensor/layout.js';
import { isFloatDType } from '../tensor/dtype.js';
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
  /**
   * Roles the source does not store and that were filled with their neutral value: the gamma (1)
   * and beta (0) of a BatchNorm without scale or center, which torch and Gluon always store.
   * The Keras writer leaves them out again.
   */
  defaults?: Set<string>;
}

function filled(like: Tensor, value: number): Tensor {
  return Tensor.fromFloat32(new Float32Array(like.size).fill(value), like.shape, isFloatDType(like.dtype) ? like.dtype : 'float32');
}

/** A BatchNorm's four parameters; a missing gamma is 1 and a missing beta 0 (recorded in `defaults`). */
function batchNorm(name: string, gamma: Tensor | undefined, beta: Tensor | undefined, mean: Tensor, variance: Tensor): NeutralModule {
  const defaults = new Set<string>();
  if (gamma === undefined) defaults.add('gamma');
  if (beta === undefined) defaults.add('beta');
  const params = new Map<string, Tensor>([
    ['gamma', gamma ?? filled(mean, 1)],
    ['beta', beta ?? filled(mean, 0)],
    ['mean', mean],
    ['var', variance],
  ]);
  return { name, kind: 'batchnorm', params, ...(defaults.size > 0 ? { defaults } : {}) };
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
      out.push(batchNorm(name, leaves.get('gamma') ?? leaves.get('weight'), leaves.get('beta') ?? leaves.get('bias'), leaves.get('running_mean')!, leaves.get('running_var')!));
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

/** Keras: one module per layer, each weight's role from readers/keras-weights.ts (Keras 2 names, Keras 3 class and config). */
function kerasModules(dict: PyDict, config: unknown): NeutralModule[] {
  const byLayer = new Map<string, Map<string, Tensor>>();
  for (const g of kerasWeightGroups(dict.entries(), kerasLayerConfigs(config))) {
    const named = byLayer.get(g.layer) ?? new Map<string, Tensor>();
    for (const w of g.weights) named.set(w.role ?? kerasLeaf(w.key), w.tensor);
    byLayer.set(g.layer, named);
  }
  const out: NeutralModule[] = [];
  for (const [name, named] of byLayer) {
    const kernel = named.get('kernel');
    if (named.has('moving_mean') && named.has('moving_variance')) {
      out.push(batchNorm(name, named.get('gamma'), named.get('beta'), named.get('moving_mean')!, named.get('moving_variance')!));
    } else if (kernel !== undefined && (kernel.shape.length === 4 || kernel.shape.length === 2) && [...named.keys()].every((k) => k === 'kernel' || k === 'bias')) {
      const params = new Map<string, Tensor>([['weight', kernel.shape.length === 4 ? hwioToOihw(kernel) : transpose2d(kernel)]]);
      if (named.has('bias')) params.set('bias', named.get('bias')!);
      out.push({ name, kind: kernel.shape.length === 4 ? 'conv' : 'dense', params });
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
  const entries = collectTensors(sd.dict).map(({ name, tensor }) => [gluonParamName(name.slice(prefix.length)), tensor] as [string, Tensor]);
  return dotModules(entries.filter(([k]) => !k.endsWith('num_batches_tracked')));
}
