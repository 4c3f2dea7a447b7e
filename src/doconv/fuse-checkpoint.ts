import type { PyDict, PyValue } from '../formats/pickle-values.js';
import { fuseLayer, type FuseOptions } from './fuse-layer.js';
import type { DoConvLayer } from './layer.js';

/**
 * Rewrites every DO-Conv layer in place in its state dict: `<name>.W` becomes `<name>.weight`
 * (the fused kernel) at W's position, D and d_diag are dropped, every other entry and the key
 * order stay as they were -- what a plain nn.Conv2d's load_state_dict expects.
 */
export function fuseLayersInPlace(layers: readonly DoConvLayer[], options: FuseOptions = {}): void {
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
          entries.push([layer.keys.fused, fuseLayer(layer, options)]);
          continue;
        }
      }
      entries.push([k, v]);
    }
    dict.replaceEntries(entries);
  }
}
