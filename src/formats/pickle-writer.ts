import { PyDict, PyFloat, PyList, PyTuple, type PyValue } from './pickle-values.js';

/**
 * A protocol-2 pickle encoder for data trees (what torch.save writes for a state dict). It only
 * writes what it is given: dicts, OrderedDicts, lists, tuples, scalars, strings, bytes, the globals
 * named by `global()`, and whatever a `custom` hook emits (tensors, as persistent ids).
 */
export class PickleWriter {
  private chunks: Buffer[] = [];
  private memoCount = 0;
  private readonly globals = new Map<string, number>();

  constructor(private readonly custom: (w: PickleWriter, value: PyValue) => boolean) {
    this.op(0x80, 2);
  }

  op(...bytes: number[]): void {
    this.chunks.push(Buffer.from(bytes));
  }

  private raw(b: Uint8Array): void {
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
    } else {
      // LONG1: minimal two's-complement little-endian
      let x = BigInt(v);
      const out: number[] = [];
      while (true) {
        const byte = Number(x & 0xffn);
        out.push(byte);
        x >>= 8n;
        if ((x === 0n && (byte & 0x80) === 0) || (x === -1n && (byte & 0x80) !== 0)) break;
      }
      this.op(0x8a, out.length, ...out);
    }
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
    if (items.length === 0) return this.op(0x29);
    if (items.length <= 3) {
      for (const it of items) this.value(it);
      this.op([0x85, 0x86, 0x87][items.length - 1]!);
      return;
    }
    this.op(0x28);
    for (const it of items) this.value(it);
    this.op(0x74);
  }

  value(v: PyValue): void {
    if (this.custom(this, v)) return;
    if (v === null) return this.op(0x4e);
    if (v === true) return this.op(0x88);
    if (v === false) return this.op(0x89);
    if (typeof v === 'number') {
      if (Number.isInteger(v)) return this.int(v);
      return this.float(v);
    }
    if (typeof v === 'bigint') return this.int(v);
    if (typeof v === 'string') return this.str(v);
    if (v instanceof PyFloat) return this.float(v.value);
    if (v instanceof Uint8Array) {
      // protocol 2 has no bytes opcode: Python writes _codecs.encode(latin1 text, 'latin1')
      this.global('_codecs', 'encode');
      this.str(Buffer.from(v).toString('latin1'));
      this.str('latin1');
      this.op(0x86, 0x52);
      return;
    }
    if (v instanceof PyTuple) return this.tuple(v.items);
    if (v instanceof PyList) {
      this.op(0x5d);
      this.batched(v.items, (x) => this.value(x), 0x65);
      return;
    }
    if (v instanceof PyDict) return this.dict(v);
    throw new Error(`cannot pickle a value of type ${Object.prototype.toString.call(v)}`);
  }

  private float(x: number): void {
    const b = Buffer.alloc(9);
    b[0] = 0x47;
    b.writeDoubleBE(x, 1);
    this.raw(b);
  }

  private batched<T>(items: T[], each: (x: T) => void, close: number): void {
    for (let i = 0; i < items.length; i += 1000) {
      this.op(0x28);
      for (const x of items.slice(i, i + 1000)) each(x);
      this.op(close);
    }
  }

  private dict(d: PyDict): void {
    if (d.ordered) {
      this.global('collections', 'OrderedDict');
      this.op(0x29, 0x52);
    } else this.op(0x7d);
    const entries = [...d.entries()];
    this.batched(entries, ([k, v]) => {
      this.value(k);
      this.value(v);
    }, 0x75);
    if (d.attributes !== undefined && d.attributes.size > 0) {
      this.dict(d.attributes);
      this.op(0x62); // BUILD: OrderedDict attributes such as torch's _metadata
    }
  }

  finish(): Buffer {
    this.op(0x2e);
    return Buffer.concat(this.chunks);
  }
}
