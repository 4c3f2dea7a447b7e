import { DoconvError } from '../errors.js';
import { PyDict, PyList, PyObject, PyTuple, type PyValue } from '../formats/pickle-values.js';
import { Tensor } from '../tensor/tensor.js';

/** A tensor found in a checkpoint's object tree, named by its dotted path (as torch users write it). */
export interface NamedTensor {
  name: string;
  tensor: Tensor;
}

const MAX_DEPTH = 512;

// nn.Module pickles keep parameters under these attributes; leaving them out of the path gives
// the same names model.state_dict() would.
const MODULE_ATTRIBUTES = new Set(['_parameters', '_buffers', '_modules']);

export function keySegment(key: PyValue): string {
  if (typeof key === 'string') return key;
  if (typeof key === 'number' || typeof key === 'bigint' || typeof key === 'boolean') return String(key);
  if (key === null) return 'None';
  if (key instanceof PyTuple) return `(${key.items.map(keySegment).join(',')})`;
  return '?';
}

export function joinPath(prefix: string, seg: string): string {
  return prefix === '' ? seg : `${prefix}.${seg}`;
}

export interface TreeVisitor {
  /** Called for every dict, before its children, with its dotted path. */
  dict?(dict: PyDict, path: string): void;
  tensor?(tensor: Tensor, path: string): void;
}

function objectState(obj: PyObject): PyDict | undefined {
  const state = obj.state instanceof PyTuple ? obj.state.items[0] ?? null : obj.state;
  return state instanceof PyDict ? state : undefined;
}

/**
 * Walks an unpickled tree depth-first in file order. Cycles (possible through the pickle memo) are
 * visited once; nesting deeper than MAX_DEPTH is refused rather than recursed into.
 */
export function walkTree(root: PyValue, visitor: TreeVisitor): void {
  const seen = new Set<object>();
  const visit = (value: PyValue, path: string, depth: number): void => {
    if (value === null || typeof value !== 'object') return;
    if (value instanceof Tensor) {
      visitor.tensor?.(value, path);
      return;
    }
    if (depth > MAX_DEPTH) throw new DoconvError('PICKLE_LIMIT', `object tree nested deeper than ${MAX_DEPTH} levels`, { key: path });
    if (seen.has(value)) return;
    seen.add(value);
    if (value instanceof PyDict) {
      visitor.dict?.(value, path);
      for (let i = 0; i < value.keys.length; i++) visit(value.values[i]!, joinPath(path, keySegment(value.keys[i]!)), depth + 1);
    } else if (value instanceof PyList || value instanceof PyTuple) {
      value.items.forEach((v, i) => visit(v, joinPath(path, String(i)), depth + 1));
    } else if (value instanceof PyObject) {
      const state = objectState(value);
      if (state !== undefined) {
        visitor.dict?.(state, path);
        for (let i = 0; i < state.keys.length; i++) {
          const k = state.keys[i]!;
          const p = typeof k === 'string' && MODULE_ATTRIBUTES.has(k) ? path : joinPath(path, keySegment(k));
          visit(state.values[i]!, p, depth + 1);
        }
      }
      visit(value.dictItems, path, depth + 1);
      value.listItems.forEach((v, i) => visit(v, joinPath(path, String(i)), depth + 1));
    }
  };
  if (root instanceof Tensor) {
    visitor.tensor?.(root, '');
    return;
  }
  visit(root, '', 0);
}

export function collectTensors(root: PyValue): NamedTensor[] {
  const out: NamedTensor[] = [];
  walkTree(root, { tensor: (tensor, name) => out.push({ name, tensor }) });
  return out;
}

/** Keys under which training scripts nest the model's state dict, in the order we look for them. */
export const STATE_DICT_KEYS = ['state_dict', 'model', 'model_state_dict', 'net', 'state_dict_ema', 'model_ema'];

/**
 * The model's state dict inside a checkpoint: the root itself when its values are tensors, else the
 * first of STATE_DICT_KEYS that holds a dict (or `preferKey`). Returns the dict and its path.
 */
export function findStateDict(root: PyValue, preferKey?: string): { dict: PyDict; path: string } | undefined {
  if (!(root instanceof PyDict)) return undefined;
  const keys = preferKey !== undefined ? [preferKey] : STATE_DICT_KEYS;
  for (const k of keys) {
    const v = root.get(k);
    if (v instanceof PyDict) return { dict: v, path: k };
  }
  if (preferKey !== undefined) return undefined;
  if (root.values.some((v) => v instanceof Tensor)) return { dict: root, path: '' };
  return undefined;
}

/** The `module.` prefix DataParallel adds, when every key of the dict has it; else ''. */
export function dataParallelPrefix(dict: PyDict): string {
  const keys = dict.keys.filter((k): k is string => typeof k === 'string');
  return keys.length > 0 && keys.length === dict.keys.length && keys.every((k) => k.startsWith('module.')) ? 'module.' : '';
}

/** Replaces every tensor in the tree (in place, containers keep their identity) by `fn(tensor, path)`. */
export function mapTensors(root: PyValue, fn: (t: Tensor, path: string) => Tensor): void {
  walkTree(root, {
    dict(dict, path) {
      dict.replaceEntries(
        [...dict.entries()].map(([k, v]) => [k, v instanceof Tensor ? fn(v, joinPath(path, keySegment(k))) : v] as [PyValue, PyValue]),
      );
    },
  });
  const seen = new Set<object>();
  const lists = (v: PyValue, path: string, depth: number): void => {
    if (v === null || typeof v !== 'object' || seen.has(v) || depth > MAX_DEPTH) return;
    seen.add(v);
    if (v instanceof PyList || v instanceof PyTuple) {
      v.items.forEach((x, i) => {
        if (x instanceof Tensor) v.items[i] = fn(x, joinPath(path, String(i)));
        else lists(x, joinPath(path, String(i)), depth + 1);
      });
    } else if (v instanceof PyDict) {
      for (let i = 0; i < v.keys.length; i++) lists(v.values[i]!, joinPath(path, keySegment(v.keys[i]!)), depth + 1);
    }
  };
  lists(root, '', 0);
}
