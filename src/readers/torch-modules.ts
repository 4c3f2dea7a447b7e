import { DoconvError } from '../errors.js';
import { PyDict, PyList, PyObject, PySet, PyTuple, type PyValue } from '../formats/pickle-values.js';
import { Tensor } from '../tensor/tensor.js';

/** Submodules nest at most this deep (a module that contains itself would otherwise never end). */
const MAX_MODULE_DEPTH = 512;
/** At most this many module visits and state-dict entries: a DAG of shared submodules multiplies paths. */
const MAX_MODULE_VISITS = 1 << 20;
const MAX_KEY_CHARS = 64 << 20;
/** Containers around modules (`{'model': model}`, a list of models) are searched this deep. */
const MAX_CONTAINER_DEPTH = 64;

/** The state of a pickled nn.Module: a placeholder object whose state has `_parameters` and `_modules` dicts. */
function moduleAttributes(v: PyValue): PyDict | undefined {
  if (!(v instanceof PyObject)) return undefined;
  const state = v.state instanceof PyTuple ? (v.state.items[0] ?? null) : v.state;
  if (!(state instanceof PyDict)) return undefined;
  return state.get('_parameters') instanceof PyDict && state.get('_modules') instanceof PyDict ? state : undefined;
}

export function isTorchModule(v: PyValue): v is PyObject {
  return moduleAttributes(v) !== undefined;
}

function stringItems(v: PyValue | undefined): Set<string> {
  const items = v instanceof PyList || v instanceof PySet || v instanceof PyTuple ? v.items : [];
  return new Set(items.filter((x): x is string => typeof x === 'string'));
}

/** What turning one pickled module into its state dict found. */
export interface ModuleStateDict {
  dict: PyDict;
  /** The qualified class names of the module and every submodule. */
  classes: Set<string>;
  /** Tensors in the pickle that state_dict() leaves out (non-persistent buffers, plain attributes). */
  leftOut: number;
  /** Entries of `_parameters` / `_buffers` that are neither a tensor nor None (not writable as data). */
  notTensors: string[];
}

function countTensors(v: PyValue, budget: { left: number }): number {
  const stack: PyValue[] = [v];
  const seen = new Set<object>();
  let n = 0;
  while (stack.length > 0 && budget.left-- > 0) {
    const x = stack.pop()!;
    if (x instanceof Tensor) {
      n++;
      continue;
    }
    if (x === null || typeof x !== 'object' || seen.has(x) || isTorchModule(x)) continue;
    seen.add(x);
    if (x instanceof PyDict) stack.push(...x.values);
    else if (x instanceof PyList || x instanceof PyTuple) stack.push(...x.items);
    else if (x instanceof PyObject) stack.push(x.state, ...x.listItems, ...x.dictItems.values);
  }
  return n;
}

/**
 * The state dict `module.state_dict()` returns, from a pickled module that is never executed:
 * for each module (depth first, in registration order) its `_parameters` then its persistent
 * `_buffers` (None entries skipped, `_non_persistent_buffers_set` left out), under the dotted
 * `_modules` path, so a DataParallel wrapper gives `module.`-prefixed keys as its state_dict does.
 */
export function moduleStateDict(root: PyObject): ModuleStateDict {
  const dict = new PyDict(true);
  const classes = new Set<string>();
  const notTensors: string[] = [];
  const countBudget = { left: MAX_MODULE_VISITS };
  let leftOut = 0;
  let visits = 0;
  let keyChars = 0;
  const stack: { module: PyObject; prefix: string; depth: number }[] = [{ module: root, prefix: '', depth: 0 }];
  while (stack.length > 0) {
    const { module, prefix, depth } = stack.pop()!;
    if (depth > MAX_MODULE_DEPTH) throw new DoconvError('PICKLE_LIMIT', `nn.Module submodules nest deeper than ${MAX_MODULE_DEPTH} (a module that contains itself?)`, { key: prefix.slice(0, 120) });
    if (++visits > MAX_MODULE_VISITS) throw new DoconvError('PICKLE_LIMIT', `more than ${MAX_MODULE_VISITS} nn.Module paths (shared submodules repeated)`, { key: prefix.slice(0, 120) });
    classes.add(module.cls.qualifiedName);
    const attrs = moduleAttributes(module)!;
    const nonPersistent = stringItems(attrs.get('_non_persistent_buffers_set'));
    const add = (name: PyValue, value: PyValue, buffer: boolean): void => {
      if (value === null || value === undefined) return;
      const key = `${prefix}${String(name)}`;
      if (buffer && typeof name === 'string' && nonPersistent.has(name)) {
        if (value instanceof Tensor) leftOut++;
        return;
      }
      if (!(value instanceof Tensor)) {
        notTensors.push(key);
        return;
      }
      keyChars += key.length;
      if (keyChars > MAX_KEY_CHARS || dict.size >= MAX_MODULE_VISITS) throw new DoconvError('PICKLE_LIMIT', 'the nn.Module state dict would exceed its bounds on keys', { key: key.slice(0, 120) });
      dict.set(key, value);
    };
    for (const [k, v] of (attrs.get('_parameters') as PyDict).entries()) add(k, v, false);
    const buffers = attrs.get('_buffers');
    if (buffers instanceof PyDict) for (const [k, v] of buffers.entries()) add(k, v, true);
    for (const [k, v] of attrs.entries()) {
      if (k === '_parameters' || k === '_buffers' || k === '_modules') continue;
      leftOut += countTensors(v, countBudget);
    }
    const children = [...(attrs.get('_modules') as PyDict).entries()].filter(([, v]) => v !== null);
    for (let i = children.length - 1; i >= 0; i--) {
      const [name, child] = children[i]!;
      const path = `${prefix}${String(name)}.`;
      if (!isTorchModule(child)) {
        leftOut += countTensors(child, countBudget);
        continue;
      }
      stack.push({ module: child, prefix: path, depth: depth + 1 });
    }
  }
  return { dict, classes, leftOut, notTensors };
}

export interface ModulesReplaced {
  /** The tree with every pickled module replaced by its state dict (the same root when nothing changed). */
  root: PyValue;
  /** One line per replaced module, for the checkpoint's notes. */
  notes: string[];
  /** Classes seen as (sub)modules, whose placeholder notes say nothing more. */
  classes: Set<string>;
}

function describe(path: string, obj: PyObject, r: ModuleStateDict): string {
  const cls = obj.cls.qualifiedName;
  const wrapped = /(^|\.)(DataParallel|DistributedDataParallel)$/.test(cls);
  const where = path === '' ? 'the file holds a whole pickled nn.Module' : `'${path}' is a whole pickled nn.Module`;
  const extra = [
    ...(r.leftOut > 0 ? [`${r.leftOut} tensor(s) outside its parameters and persistent buffers left out, as state_dict() leaves them out`] : []),
    ...(r.notTensors.length > 0 ? [`${r.notTensors.length} entr${r.notTensors.length === 1 ? 'y' : 'ies'} that are not tensors skipped (${r.notTensors.slice(0, 3).join(', ')})`] : []),
  ];
  return `${where} (${cls}${wrapped ? ", DataParallel keys keep their 'module.' prefix as its state_dict() does" : ''}): read as its state_dict(), ${r.dict.size} tensors${extra.length > 0 ? `; ${extra.join('; ')}` : ''}`;
}

/**
 * Replaces each whole pickled nn.Module (torch.save(model)) by the state dict it would save: at
 * the root, or as a value of the dicts, lists and tuples around it (`{'model': model, 'epoch': 3}`).
 * Containers keep their identity; modules elsewhere (inside other objects) are left as they are.
 */
export function replaceModules(root: PyValue): ModulesReplaced {
  const notes: string[] = [];
  const classes = new Set<string>();
  const convert = (obj: PyObject, path: string): PyDict => {
    const r = moduleStateDict(obj);
    if (path === '' && r.dict.size === 0 && r.leftOut + r.notTensors.length > 0) {
      throw new DoconvError(
        'NO_TENSORS',
        `the file holds a whole pickled nn.Module (${obj.cls.qualifiedName}) whose state_dict() is empty: its ${r.leftOut + r.notTensors.length} tensor(s) are plain attributes or non-persistent buffers, which no network loads; save a dict of the tensors you need (torch.save({...}))`,
      );
    }
    for (const c of r.classes) classes.add(c);
    notes.push(describe(path, obj, r));
    return r.dict;
  };
  if (isTorchModule(root)) return { root: convert(root, ''), notes, classes };
  const seen = new Set<object>();
  const stack: { value: PyValue; path: string; depth: number }[] = [{ value: root, path: '', depth: 0 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (value === null || typeof value !== 'object' || seen.has(value) || depth > MAX_CONTAINER_DEPTH) continue;
    seen.add(value);
    const visit = (items: PyValue[], key: (i: number) => string): void => {
      items.forEach((v, i) => {
        const p = path === '' ? key(i) : `${path}.${key(i)}`;
        if (isTorchModule(v)) items[i] = convert(v, p);
        else if (v instanceof PyDict || v instanceof PyList || v instanceof PyTuple) stack.push({ value: v, path: p, depth: depth + 1 });
      });
    };
    if (value instanceof PyDict) visit(value.values, (i) => String(value.keys[i]));
    else if (value instanceof PyList || value instanceof PyTuple) visit(value.items, String);
  }
  return { root, notes, classes };
}
