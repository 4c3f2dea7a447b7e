import { checkExpansion, distinctStorageBytes, viewKey } from '../checkpoint/budget.js';
import type { PyDict, PyValue } from '../formats/pickle-values.js';
import type { Tensor } from '../tensor/tensor.js';
import { fuseLayer, type FuseOptions } from './fuse-layer.js';
import type { DoConvLayer } from './layer.js';

/**
 * What makes two layers' fused kernels equal by construction: the same views of the same storages
 * for W, D and d_diag, paired and shaped the same way. Layers aliasing one storage through the
 * pickle memo (or rebuilding tensors over it) share one key and are fused once.
 */
function fusionKey(l: DoConvLayer): string {
  return [l.pairing, l.kernel?.join('x') ?? '?', l.groups ?? '?', viewKey(l.W), viewKey(l.D), viewKey(l.dDiag)].join('|');
}

function layerTensors(l: DoConvLayer): Tensor[] {
  return [l.W, ...(l.D ? [l.D] : []), ...(l.dDiag ? [l.dDiag] : [])];
}

/**
 * Fuses each distinct layer once, after checking the work is bounded: the bytes all distinct
 * fusions read (W + D + d_diag each) may be at most budget.expansionLimit of the distinct storages
 * they come from, so 2000 layers over 2000 views of one storage are refused before any is fused.
 */
function fuseDistinct(layers: readonly DoConvLayer[], options: FuseOptions): Map<DoConvLayer, Tensor> {
  const first = new Map<string, DoConvLayer>();
  let work = 0;
  for (const l of layers) {
    const key = fusionKey(l);
    if (first.has(key)) continue;
    first.set(key, l);
    work += layerTensors(l).reduce((n, t) => n + t.byteLength, 0);
  }
  checkExpansion(`fusing ${first.size} distinct DO-Conv layers (fusion reads)`, work, distinctStorageBytes(layers.flatMap(layerTensors)));
  const fused = new Map<string, Tensor>();
  const out = new Map<DoConvLayer, Tensor>();
  for (const l of layers) {
    const key = fusionKey(l);
    let t = fused.get(key);
    if (t === undefined) {
      t = fuseLayer(first.get(key)!, options);
      fused.set(key, t);
    }
    out.set(l, t);
  }
  return out;
}

/**
 * Rewrites every DO-Conv layer in place in its state dict: `<name>.W` becomes `<name>.weight`
 * (the fused kernel) at W's position, D and d_diag are dropped, every other entry and the key
 * order stay as they were -- what a plain nn.Conv2d's load_state_dict expects. Layers that share
 * their tensors share one fused kernel (the same Tensor, written once where the format shares).
 */
export function fuseLayersInPlace(layers: readonly DoConvLayer[], options: FuseOptions = {}): void {
  const kernels = fuseDistinct(layers, options);
  const byContainer = new Map<PyDict, DoConvLayer[]>();
  for (const l of layers) {
    const list = byContainer.get(l.container) ?? [];
    list.push(l);
    byContainer.set(l.container, list);
  }
  for (const [dict, group] of byContainer) {
    const replace = new Map<string, DoConvLayer>();
    const drop = new Set<string>();
    for (const l of group) {
      replace.set(l.keys.W, l);
      if (l.keys.D !== undefined) drop.add(l.keys.D);
      if (l.keys.dDiag !== undefined) drop.add(l.keys.dDiag);
    }
    const entries: [PyValue, PyValue][] = [];
    for (const [k, v] of dict.entries()) {
      if (typeof k === 'string') {
        if (drop.has(k)) continue;
        const layer = replace.get(k);
        if (layer !== undefined) {
          entries.push([layer.keys.fused, kernels.get(layer)!]);
          continue;
        }
      }
      entries.push([k, v]);
    }
    dict.replaceEntries(entries);
  }
}
