// Inert Python values produced by the unpickler. Nothing here can run code: an object of a class
// we do not know is a record of its class name, its constructor arguments and its state.

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyFloat
  | PyTuple
  | PyList
  | PyDict
  | PySet
  | PyObject
  | PyGlobal
  | object;

/** A Python float, kept apart from ints (JS numbers) so that 2.0 is written back as a float. */
export class PyFloat {
  constructor(readonly value: number) {}
}

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

export class PyList {
  constructor(readonly items: PyValue[] = []) {}
}

export class PySet {
  constructor(readonly items: PyValue[] = [], readonly frozen = false) {}
}

type PrimitiveKey = string | number | bigint | boolean | null;

function isPrimitiveKey(k: PyValue): k is PrimitiveKey {
  return k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean';
}

/** A dict or OrderedDict: insertion order kept, primitive keys unique as in Python. */
export class PyDict {
  readonly keys: PyValue[] = [];
  readonly values: PyValue[] = [];
  /** Made on the first primitive key: an empty Map costs ~200 bytes, and a pickle byte can make a dict. */
  private index: Map<PrimitiveKey, number> | undefined;
  /** Instance attributes set by BUILD (an OrderedDict state_dict carries `_metadata` this way). */
  attributes: PyDict | undefined;

  constructor(readonly ordered = false) {}

  set(key: PyValue, value: PyValue): void {
    if (isPrimitiveKey(key)) {
      // Python treats 1, 1.0 and True as the same key; normalise booleans to numbers like it does.
      const k = typeof key === 'boolean' ? Number(key) : key;
      this.index ??= new Map();
      const at = this.index.get(k);
      if (at !== undefined) {
        this.values[at] = value;
        return;
      }
      this.index.set(k, this.keys.length);
    }
    this.keys.push(key);
    this.values.push(value);
  }

  get(key: PrimitiveKey): PyValue | undefined {
    const at = this.index?.get(key);
    return at === undefined ? undefined : this.values[at];
  }

  has(key: PrimitiveKey): boolean {
    return this.index?.has(key) ?? false;
  }

  get size(): number {
    return this.keys.length;
  }

  /** Replace all entries at once, keeping the dict's identity and attributes. */
  replaceEntries(entries: Iterable<[PyValue, PyValue]>): void {
    this.keys.length = 0;
    this.values.length = 0;
    this.index = undefined;
    for (const [k, v] of entries) this.set(k, v);
  }

  *entries(): IterableIterator<[PyValue, PyValue]> {
    for (let i = 0; i < this.keys.length; i++) yield [this.keys[i]!, this.values[i]!];
  }
}

/** A reference to a Python global we chose not to resolve. Calling it yields a PyObject. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An instance of a class we do not execute: kept as data so its tensors can still be found. */
export class PyObject {
  state: PyValue = null;
  readonly listItems: PyValue[] = [];
  readonly dictItems = new PyDict();
  constructor(readonly cls: PyGlobal, readonly args: PyValue[]) {}
}

/** A global the caller's policy resolved to a pure function of its arguments (no side effects). */
export class PyCallable {
  constructor(
    readonly qualifiedName: string,
    readonly call: (args: PyValue[]) => PyValue,
  ) {}
}
