import { DoconvError } from '../errors.js';
import { PyDict, PyList, PyObject, PyTuple, type PyValue } from '../formats/pickle-values.js';
import { Tensor } from '../tensor/tensor.js';
import { checkExpansion, distinctStorageBytes, viewKey } from './budget.js';

/** A tensor found in a checkpoint's object tree, named by its dotted path (as torch users write it). */
export interface NamedTensor {
  name: string;
  tensor: Tensor;
}

const MAX_DEPTH = 512;
/** A tuple key is rendered into a name up to this many characters (a tuple DAG would be 2^40). */
const MAX_SEGMENT_CHARS = 1024;
/** One dotted path may not exceed this (a 1 MiB key repeated 500 levels down would be 500 MiB). */
const MAX_PATH_CHARS = 1 << 20;
/** All the paths one walk hands out together may not exceed this. */
const MAX_NAME_CHARS = 64 << 20;

// nn.Module pickles keep parameters under these attributes; leaving them out of the path gives
// the same names model.state_dict() would.
const MODULE_ATTRIBUTES = new Set(['_parameters', '_buffers', '_modules']);

/** Punctuation in a rendered tuple key (kept apart from string keys, which are values). */
class Literal {
  constructor(readonly text: string) {}
}
const OPEN = new Literal('(');
const CLOSE = new Literal(')');
const COMMA = new Literal(',');

function scalarSegment(key: PyValue): string {
  if (typeof key === 'string') return key;
  if (typeof key === 'number' || typeof key === 'bigint' || typeof key === 'boolean') return String(key);
  if (key === null) return 'None';
  return '?';
}

/**
 * A dict key as a path segment; tuple keys as `(a,b)`. Rendered with its own stack and cut at
 * MAX_SEGMENT_CHARS, so a deeply nested or shared (DAG) tuple key costs at most that much.
 */
export function keySegment(key: PyValue): string {
  if (!(key instanceof PyTuple)) return scalarSegment(key);
  let out = '';
  const todo: (PyValue | Literal)[] = [key];
  while (todo.length > 0) {
    if (out.length > MAX_SEGMENT_CHARS) return `${out.slice(0, MAX_SEGMENT_CHARS)}\u2026`;
    const next = todo.pop()!;
    if (next instanceof Literal) out += next.text;
    else if (next instanceof PyTuple) {
      todo.push(CLOSE);
      for (let i = next.items.length - 1; i >= 0; i--) {
        todo.push(next.items[i]!);
        if (i > 0) todo.push(COMMA);
      }
      todo.push(OPEN);
    } else out += scalarSegment(next);
  }
  return out;
}

export function joinPath(prefix: string, seg: string): string {
  return prefix === '' ? seg : `${prefix}.${seg}`;
}

export interface TreeVisitor {
  /** Called for every dict, before its children, with its dotted path. */
  dict?(dict: PyDict, path: string): void;
  /** Called for every reference to a tensor; `replace` puts another tensor in its place. */
  tensor?(tensor: Tensor, path: string, replace: (t: Tensor) => void): void;
}

/**
 * An object's BUILD state split as Python's default __setstate__ reads it: the instance dict
 * (its keys name attributes) and the rest -- the slot-state dict of `(dict_or_None, slots)`, or a
 * state that is no dict at all (a list, a tensor) -- whose tensors are reached all the same.
 */
function objectState(obj: PyObject): { dict: PyDict | undefined; rest: PyValue[] } {
  const state = obj.state;
  if (state instanceof PyDict) return { dict: state, rest: [] };
  if (state instanceof PyTuple && state.items.length === 2 && (state.items[0] === null || state.items[0] instanceof PyDict) && state.items[1] instanceof PyDict) {
    return { dict: state.items[0] ?? undefined, rest: [state.items[1]] };
  }
  return { dict: undefined, rest: state === null ? [] : [state] };
}

/** A value still to visit: where it is (path, depth) and how to replace it if it is a tensor. */
interface Pending {
  value: PyValue;
  path: string;
  depth: number;
  replace: (t: Tensor) => void;
}

function shorten(path: string): string {
  return path.length <= 120 ? path : `${path.slice(0, 120)}\u2026`;
}

/**
 * Walks an unpickled tree depth-first in file order, with its own stack (no native recursion).
 * Containers are visited once even when shared (a DAG or cycle through the pickle memo); nesting
 * deeper than MAX_DEPTH and names beyond MAX_PATH_CHARS / MAX_NAME_CHARS are refused (PICKLE_LIMIT).
 */
export function walkTree(root: PyValue, visitor: TreeVisitor): void {
  if (root instanceof Tensor) {
    visitor.tensor?.(root, '', () => {});
    return;
  }
  const seen = new Set<object>();
  let nameChars = 0;
  const named = (path: string): string => {
    nameChars += path.length;
    if (path.length > MAX_PATH_CHARS || nameChars > MAX_NAME_CHARS) {
      throw new DoconvError('PICKLE_LIMIT', `key paths exceed ${path.length > MAX_PATH_CHARS ? `${MAX_PATH_CHARS} characters` : `${MAX_NAME_CHARS} characters in all`}`, { key: shorten(path) });
    }
    return path;
  };
  const stack: Pending[] = [{ value: root, path: '', depth: 0, replace: () => {} }];
  const children: Pending[] = [];
  const child = (value: PyValue, path: string, depth: number, replace: (t: Tensor) => void): void => {
    if (value !== null && typeof value === 'object') children.push({ value, path: named(path), depth, replace });
  };
  while (stack.length > 0) {
    const { value, path, depth, replace } = stack.pop()!;
    if (value instanceof Tensor) {
      visitor.tensor?.(value, path, replace);
      continue;
    }
    if (depth > MAX_DEPTH) throw new DoconvError('PICKLE_LIMIT', `object tree nested deeper than ${MAX_DEPTH} levels`, { key: shorten(path) });
    if (value === null || typeof value !== 'object' || seen.has(value)) continue;
    seen.add(value);
    if (value instanceof PyDict) {
      visitor.dict?.(value, path);
      dictChildren(value, path, depth, false);
    } else if (value instanceof PyList || value instanceof PyTuple) {
      const items = value.items;
      items.forEach((v, i) => child(v, joinPath(path, String(i)), depth + 1, (t) => (items[i] = t)));
    } else if (value instanceof PyObject) {
      const state = objectState(value);
      if (state.dict !== undefined) {
        visitor.dict?.(state.dict, path);
        dictChildren(state.dict, path, depth, true);
      }
      for (const rest of state.rest) {
        if (rest instanceof PyDict) {
          // slot state: attribute names, as in the instance dict
          visitor.dict?.(rest, path);
          dictChildren(rest, path, depth, false);
        } else if (rest instanceof Tensor) children.push({ value: rest, path: named(path), depth: depth + 1, replace: (t) => (value.state = t) });
        else child(rest, path, depth + 1, () => {});
      }
      child(value.dictItems, path, depth + 1, () => {});
      const items = value.listItems;
      items.forEach((v, i) => child(v, joinPath(path, String(i)), depth + 1, (t) => (items[i] = t)));
    }
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
    children.length = 0;
  }

  function dictChildren(dict: PyDict, path: string, depth: number, moduleState: boolean): void {
    const values = dict.values;
    for (let i = 0; i < dict.keys.length; i++) {
      const k = dict.keys[i]!;
      const p = moduleState && typeof k === 'string' && MODULE_ATTRIBUTES.has(k) ? path : joinPath(path, keySegment(k));
      child(values[i]!, p, depth + 1, (t) => (values[i] = t));
    }
  }
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

/**
 * Replaces every tensor in the tree (in place, containers keep their identity) by `fn(tensor, path)`.
 * `fn` runs once per distinct view (tensors over the same storage, offset, shape and stride share
 * its result, as references to one tensor do), and what it produces is bounded by checkExpansion
 * against the distinct storages it reads: 1000 views of one storage cast to float64 are refused.
 */
export function mapTensors(root: PyValue, fn: (t: Tensor, path: string) => Tensor): void {
  const slots: { tensor: Tensor; path: string; replace: (t: Tensor) => void }[] = [];
  walkTree(root, { tensor: (tensor, path, replace) => slots.push({ tensor, path, replace }) });
  const source = distinctStorageBytes(slots.map((s) => s.tensor));
  const done = new Map<string, Tensor>();
  let produced = 0;
  for (const slot of slots) {
    const key = viewKey(slot.tensor);
    let out = done.get(key);
    if (out === undefined) {
      out = fn(slot.tensor, slot.path);
      done.set(key, out);
      if (out !== slot.tensor) {
        produced += out.byteLength;
        checkExpansion('converting tensors', produced, source, slot.path);
      }
    }
    slot.replace(out);
  }
}
