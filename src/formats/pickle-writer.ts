import { DoconvError } from '../errors.js';
import { PyDict, PyFloat, PyList, PyTuple, type PyValue } from './pickle-values.js';

export interface PickleWriterOptions {
  /** Refuse (LIMIT_EXCEEDED) once the pickle would grow past this many bytes. */
  maxBytes?: number;
}

/** The steps still to emit for one container: yields each child value to write, in order. */
type Steps = Generator<PyValue, void, void>;

/**
 * A protocol-2 pickle encoder for data trees (what torch.save writes for a state dict). It only
 * writes what it is given: dicts, OrderedDicts, lists, tuples, scalars, strings, bytes, the globals
 * named by `global()`, and whatever a `custom` hook emits (tensors, as persistent ids).
 *
 * Like Python's pickler it keeps a memo: an object (container, tensor, bytes) or a long string or
 * integer written once is written again as a BINGET, so shared objects stay shared, cycles are
 * written as cycles, and a tuple DAG of a few hundred bytes does not expand to 2^40 nodes. The
 * traversal keeps its own stack, so nesting depth costs heap, not the native stack.
 */
export class PickleWriter {
  private chunks: Buffer[] = [];
  private length = 0;
  private memoCount = 0;
  private readonly globals = new Map<string, number>();
  private readonly objects = new Map<object, number>();
  private readonly strings = new Map<string, number>();
  private readonly bigints = new Map<bigint, number>();
  private readonly maxBytes: number;

  constructor(
    private readonly custom: (w: PickleWriter, value: PyValue) => boolean,
    options: PickleWriterOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.op(0x80, 2);
  }

  op(...bytes: number[]): void {
    this.raw(Buffer.from(bytes));
  }

  private raw(b: Uint8Array): void {
    this.length += b.byteLength;
    if (this.length > this.maxBytes) {
      throw new DoconvError('LIMIT_EXCEEDED', `the pickle would exceed ${this.maxBytes} bytes`);
    }
    this.chunks.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }

  /** GLOBAL module.name, memoised so repeated globals cost a BINGET. */
  global(module: string, name: string): void {
    const key = `${module}\n${name}`;
    const at = this.globals.get(key);
    if (at !== undefined) {
      this.get(at);
      return;
    }
    this.raw(Buffer.from(`c${module}\n${name}\n`, 'latin1'));
    this.globals.set(key, this.put());
  }

  private put(): number {
    const i = this.memoCount++;
    if (i < 256) this.op(0x71, i);
    else {
      const b = Buffer.alloc(5);
      b[0] = 0x72;
      b.writeUInt32LE(i, 1);
      this.raw(b);
    }
    return i;
  }

  private get(i: number): void {
    if (i < 256) this.op(0x68, i);
    else {
      const b = Buffer.alloc(5);
      b[0] = 0x6a;
      b.writeUInt32LE(i, 1);
      this.raw(b);
    }
  }

  int(v: number | bigint): void {
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 256) this.op(0x4b, v);
    else if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 65536) this.op(0x4d, v & 0xff, v >> 8);
    else if (typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff) {
      const b = Buffer.alloc(5);
      b[0] = 0x4a;
      b.writeInt32LE(v, 1);
      this.raw(b);
    } else this.long(BigInt(v));
  }

  /** LONG1 up to 255 bytes, LONG4 beyond (as pickle.py's save_long): minimal two's complement, little-endian. */
  private long(x: bigint): void {
    const le = twosComplementLE(x);
    if (le.length < 256) {
      this.op(0x8a, le.length);
      this.raw(le);
      return;
    }
    const h = Buffer.alloc(5);
    h[0] = 0x8b;
    h.writeInt32LE(le.length, 1);
    this.raw(h);
    this.raw(le);
  }

  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    const h = Buffer.alloc(5);
    h[0] = 0x58;
    h.writeUInt32LE(b.byteLength, 1);
    this.raw(h);
    this.raw(b);
  }

  tuple(items: PyValue[]): void {
    this.run(this.tupleSteps(undefined, items));
  }

  value(v: PyValue): void {
    const steps = this.start(v);
    if (steps !== undefined) this.run(steps);
  }

  /** Drives container steps with an explicit stack: a child container's steps go on top. */
  private run(first: Steps): void {
    const stack: Steps[] = [first];
    while (stack.length > 0) {
      const next = stack[stack.length - 1]!.next();
      if (next.done) stack.pop();
      else {
        const child = this.start(next.value);
        if (child !== undefined) stack.push(child);
      }
    }
  }

  /** Writes a scalar (or a memo reference) at once; returns the steps of a container to write. */
  private start(v: PyValue): Steps | undefined {
    if (v !== null && typeof v === 'object') {
      const at = this.objects.get(v);
      if (at !== undefined) {
        this.get(at);
        return undefined;
      }
    }
    if (this.custom(this, v)) {
      if (v !== null && typeof v === 'object') this.objects.set(v, this.put());
      return undefined;
    }
    if (v === null) return void this.op(0x4e);
    if (v === true) return void this.op(0x88);
    if (v === false) return void this.op(0x89);
    if (typeof v === 'number') return void (Number.isInteger(v) ? this.int(v) : this.float(v));
    if (typeof v === 'bigint') return void this.memoised(this.bigints, v, () => this.int(v));
    if (typeof v === 'string') return void this.memoised(this.strings, v, () => this.str(v));
    if (v instanceof PyFloat) return void this.float(v.value);
    if (v instanceof Uint8Array) {
      // protocol 2 has no bytes opcode: Python writes _codecs.encode(latin1 text, 'latin1')
      this.global('_codecs', 'encode');
      this.str(Buffer.from(v).toString('latin1'));
      this.str('latin1');
      this.op(0x86, 0x52);
      this.objects.set(v, this.put());
      return undefined;
    }
    if (v instanceof PyTuple) return this.tupleSteps(v, v.items);
    if (v instanceof PyList) return this.listSteps(v);
    if (v instanceof PyDict) return this.dictSteps(v);
    throw new Error(`cannot pickle a value of type ${Object.prototype.toString.call(v)}`);
  }

  /** Strings and long integers are values in JS, not objects: memoised by value, as pickle memoises them by id. */
  private memoised<K>(memo: Map<K, number>, key: K, write: () => void): void {
    const at = memo.get(key);
    if (at !== undefined) return this.get(at);
    write();
    memo.set(key, this.put());
  }

  private float(x: number): void {
    const b = Buffer.alloc(9);
    b[0] = 0x47;
    b.writeDoubleBE(x, 1);
    this.raw(b);
  }

  /**
   * pickle.py's save_tuple: the items, then TUPLE. When writing the items wrote the tuple itself
   * (a cycle through a list or dict), its items are popped and the memoised tuple fetched instead.
   */
  private *tupleSteps(t: PyTuple | undefined, items: PyValue[]): Steps {
    if (items.length === 0) return this.op(0x29);
    const short = items.length <= 3;
    if (!short) this.op(0x28);
    for (const it of items) yield it;
    const memo = t === undefined ? undefined : this.objects.get(t);
    if (memo !== undefined) {
      if (short) for (let i = 0; i < items.length; i++) this.op(0x30);
      else this.op(0x31); // POP_MARK
      return this.get(memo);
    }
    this.op(short ? [0x85, 0x86, 0x87][items.length - 1]! : 0x74);
    if (t !== undefined) this.objects.set(t, this.put());
  }

  /** EMPTY_LIST, memoised before its items (so it may contain itself), then APPENDS in batches of 1000. */
  private *listSteps(list: PyList): Steps {
    this.op(0x5d);
    this.objects.set(list, this.put());
    for (let i = 0; i < list.items.length; i += 1000) {
      this.op(0x28);
      const end = Math.min(i + 1000, list.items.length);
      for (let j = i; j < end; j++) yield list.items[j]!;
      this.op(0x65);
    }
  }

  private *dictSteps(d: PyDict): Steps {
    if (d.ordered) {
      this.global('collections', 'OrderedDict');
      this.op(0x29, 0x52);
    } else this.op(0x7d);
    this.objects.set(d, this.put());
    for (let i = 0; i < d.keys.length; i += 1000) {
      this.op(0x28);
      const end = Math.min(i + 1000, d.keys.length);
      for (let j = i; j < end; j++) {
        yield d.keys[j]!;
        yield d.values[j]!;
      }
      this.op(0x75);
    }
    if (d.attributes !== undefined && d.attributes.size > 0) {
      yield d.attributes;
      this.op(0x62); // BUILD: OrderedDict attributes such as torch's _metadata
    }
  }

  finish(): Buffer {
    this.op(0x2e);
    return Buffer.concat(this.chunks);
  }
}

/** Minimal two's-complement little-endian bytes of `x` (what LONG1/LONG4 hold). */
function twosComplementLE(x: bigint): Uint8Array {
  if (x === 0n) return new Uint8Array(0);
  const negative = x < 0n;
  // the bit length of |x| (or |x|-1 for negatives), plus a sign bit, rounded up to bytes
  const magnitude = negative ? -x - 1n : x;
  const bits = magnitude === 0n ? 0 : magnitude.toString(2).length;
  const n = Math.floor(bits / 8) + 1;
  const unsigned = negative ? (1n << BigInt(8 * n)) + x : x;
  const hex = unsigned.toString(16).padStart(2 * n, '0');
  return Uint8Array.from(Buffer.from(hex, 'hex').reverse());
}
