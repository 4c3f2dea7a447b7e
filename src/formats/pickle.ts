import { DoconvError } from '../errors.js';
import { PyCallable, PyDict, PyFloat, PyGlobal, PyList, PyObject, PySet, PyTuple, type PyValue } from './pickle-values.js';

/**
 * How the unpickler treats a GLOBAL: return a PyCallable (a pure reconstruction function of ours),
 * a plain value (a marker such as a storage type), or a PyGlobal (kept inert); throw to refuse.
 */
export type GlobalResolver = (module: string, name: string, offset: number) => PyValue;
export type PersistentLoader = (pid: PyValue, offset: number) => PyValue;

export interface UnpickleOptions {
  resolveGlobal: GlobalResolver;
  persistentLoad?: PersistentLoader;
  /** Absolute offset of `bytes` inside the file, so errors point at file positions. */
  baseOffset?: number;
}

export interface UnpickleResult {
  value: PyValue;
  /** Bytes consumed, STOP included; a legacy .pth holds several pickles back to back. */
  length: number;
}

const MAX_LONG_BYTES = 4096;
/** CPython's int_max_str_digits: decimal integers longer than this are refused (parsing them is quadratic). */
export const MAX_INT_DIGITS = 4300;

/**
 * A pickle virtual machine for protocols 0 to 5 that never imports or calls anything: GLOBAL goes
 * through the caller's resolver, REDUCE/NEWOBJ/BUILD only invoke PyCallables it returned, and every
 * length is checked against the bytes left before anything is allocated.
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): UnpickleResult {
  return new Unpickler(bytes, options).run();
}

class Unpickler {
  private pos = 0;
  private stack: PyValue[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, PyValue>();
  private readonly view: DataView;
  private readonly base: number;
  private readonly text = new TextDecoder('utf-8', { fatal: true });

  constructor(private readonly bytes: Uint8Array, private readonly options: UnpickleOptions) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.base = options.baseOffset ?? 0;
  }

  private fail(reason: string, at = this.pos): never {
    throw new DoconvError('PICKLE_INVALID', reason, { offset: this.base + at });
  }

  private need(n: number): void {
    if (n < 0 || this.pos + n > this.bytes.byteLength) {
      throw new DoconvError('TRUNCATED', `pickle needs ${n} more bytes but the data ends`, { offset: this.base + this.pos });
    }
  }

  private u8(): number {
    this.need(1);
    return this.bytes[this.pos++]!;
  }
  private u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  private u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  private i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  private u64(): number {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('length out of range');
    this.pos += 8;
    return Number(v);
  }
  private take(n: number): Uint8Array {
    this.need(n);
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  private utf8(n: number): string {
    const at = this.pos;
    const b = this.take(n);
    try {
      return this.text.decode(b);
    } catch {
      return this.fail('string is not valid UTF-8', at);
    }
  }
  private line(): string {
    const start = this.pos;
    const end = this.bytes.indexOf(0x0a, start);
    if (end < 0) throw new DoconvError('TRUNCATED', 'pickle text argument has no end of line', { offset: this.base + start });
    this.pos = end + 1;
    return Buffer.from(this.bytes.subarray(start, end)).toString('latin1');
  }

  private push(v: PyValue): void {
    this.stack.push(v);
  }
  private pop(): PyValue {
    if (this.stack.length === 0) this.fail('stack underflow');
    if (this.marks.length > 0 && this.stack.length <= this.marks[this.marks.length - 1]!) this.fail('pop across a mark');
    return this.stack.pop()!;
  }
  private top(): PyValue {
    if (this.stack.length === 0) this.fail('stack underflow');
    if (this.marks.length > 0 && this.stack.length <= this.marks[this.marks.length - 1]!) this.fail('unexpected mark');
    return this.stack[this.stack.length - 1]!;
  }
  private popMark(): PyValue[] {
    const m = this.marks.pop();
    if (m === undefined) this.fail('no mark on the stack');
    return this.stack.splice(m);
  }

  private memoGet(i: number): PyValue {
    if (!this.memo.has(i)) this.fail(`memo key ${i} was never stored`);
    return this.memo.get(i)!;
  }

  private callGlobal(fn: PyValue, args: PyValue[], at: number): PyValue {
    if (fn instanceof PyCallable) {
      try {
        return fn.call(args);
      } catch (err) {
        if (err instanceof DoconvError) {
          throw err.offset === undefined ? new DoconvError(err.code, err.reason, { key: err.key, offset: this.base + at }) : err;
        }
        throw new DoconvError('PICKLE_INVALID', `${fn.qualifiedName}: ${(err as Error).message}`, { offset: this.base + at });
      }
    }
    if (fn instanceof PyGlobal) return new PyObject(fn, args);
    return this.fail('call of a value that is not a class or function', at);
  }

  run(): UnpickleResult {
    const b = this.bytes;
    while (true) {
      const at = this.pos;
      if (at >= b.byteLength) throw new DoconvError('TRUNCATED', 'pickle ends without STOP', { offset: this.base + at });
      const op = b[this.pos++]!;
      switch (op) {
        case 0x80: {
          const proto = this.u8();
          if (proto > 5) this.fail(`unsupported pickle protocol ${proto}`, at);
          break;
        }
        case 0x95: // FRAME: a length hint only
          this.u64();
          break;
        case 0x2e: {
          // STOP
          const value = this.pop();
          return { value, length: this.pos };
        }
        case 0x28: // MARK
          this.marks.push(this.stack.length);
          break;
        case 0x30: // POP
          if (this.marks.length > 0 && this.marks[this.marks.length - 1] === this.stack.length) this.marks.pop();
          else this.pop();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.push(this.top());
          break;
        case 0x4e: // NONE
          this.push(null);
          break;
        case 0x88:
          this.push(true);
          break;
        case 0x89:
          this.push(false);
          break;
        case 0x4b: // BININT1
          this.push(this.u8());
          break;
        case 0x4d: // BININT2
          this.push(this.u16());
          break;
        case 0x4a: // BININT
          this.push(this.i32());
          break;
        case 0x8a: {
          // LONG1
          const n = this.u8();
          this.push(decodeLong(this.take(n)));
          break;
        }
        case 0x8b: {
          // LONG4
          const n = this.i32();
          if (n < 0 || n > MAX_LONG_BYTES) this.fail(`LONG4 of ${n} bytes refused`, at);
          this.push(decodeLong(this.take(n)));
          break;
        }
        case 0x49: {
          // INT (text): "00"/"01" are False/True in protocol 0
          const s = this.line().trim();
          this.checkDigits(s, at);
          if (s === '00') this.push(false);
          else if (s === '01') this.push(true);
          else this.push(parseTextInt(s, () => this.fail(`bad INT '${s.slice(0, 32)}'`, at)));
          break;
        }
        case 0x4c: {
          // LONG (text)
          const s = this.line().trim().replace(/L$/, '');
          this.checkDigits(s, at);
          this.push(parseTextInt(s, () => this.fail(`bad LONG '${s.slice(0, 32)}'`, at)));
          break;
        }
        case 0x46: {
          // FLOAT (text)
          const s = this.line().trim();
          const v = Number(s);
          if (Number.isNaN(v) && !/^[-+]?nan$/i.test(s)) this.fail(`bad FLOAT '${s.slice(0, 32)}'`, at);
          this.push(new PyFloat(v));
          break;
        }
        case 0x47: // BINFLOAT (big-endian)
          this.need(8);
          this.push(new PyFloat(this.view.getFloat64(this.pos, false)));
          this.pos += 8;
          break;
        case 0x58: // BINUNICODE
          this.push(this.utf8(this.u32()));
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.push(this.utf8(this.u8()));
          break;
        case 0x8d: // BINUNICODE8
          this.push(this.utf8(this.u64()));
          break;
        case 0x56: // UNICODE (raw-unicode-escape, text)
          this.push(decodeRawUnicodeEscape(this.line()));
          break;
        case 0x53: // STRING (text, quoted repr)
          this.push(decodeQuotedString(this.line(), () => this.fail('bad STRING literal', at)));
          break;
        case 0x54: {
          // BINSTRING: Python 2 str, decoded as latin-1 like torch's encoding='latin1' default
          const n = this.i32();
          if (n < 0) this.fail('negative BINSTRING length', at);
          this.push(Buffer.from(this.take(n)).toString('latin1'));
          break;
        }
        case 0x55: // SHORT_BINSTRING
          this.push(Buffer.from(this.take(this.u8())).toString('latin1'));
          break;
        case 0x42: // BINBYTES
          this.push(this.take(this.u32()));
          break;
        case 0x43: // SHORT_BINBYTES
          this.push(this.take(this.u8()));
          break;
        case 0x8e: // BINBYTES8
          this.push(this.take(this.u64()));
          break;
        case 0x96: // BYTEARRAY8
          this.push(this.take(this.u64()));
          break;
        case 0x97:
        case 0x98:
          this.fail('out-of-band pickle buffers are not supported', at);
          break;
        case 0x29: // EMPTY_TUPLE
          this.push(new PyTuple([]));
          break;
        case 0x85:
          this.push(new PyTuple([this.pop()]));
          break;
        case 0x86: {
          const b2 = this.pop();
          const a2 = this.pop();
          this.push(new PyTuple([a2, b2]));
          break;
        }
        case 0x87: {
          const c3 = this.pop();
          const b3 = this.pop();
          const a3 = this.pop();
          this.push(new PyTuple([a3, b3, c3]));
          break;
        }
        case 0x74: // TUPLE
          this.push(new PyTuple(this.popMark()));
          break;
        case 0x5d: // EMPTY_LIST
          this.push(new PyList());
          break;
        case 0x6c: // LIST
          this.push(new PyList(this.popMark()));
          break;
        case 0x61: {
          // APPEND
          const v = this.pop();
          this.appendTo(this.top(), [v], at);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = this.popMark();
          this.appendTo(this.top(), items, at);
          break;
        }
        case 0x7d: // EMPTY_DICT
          this.push(new PyDict());
          break;
        case 0x64: {
          // DICT
          const items = this.popMark();
          const d = new PyDict();
          this.setItems(d, items, at);
          this.push(d);
          break;
        }
        case 0x73: {
          // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v], at);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = this.popMark();
          this.setItems(this.top(), items, at);
          break;
        }
        case 0x8f: // EMPTY_SET
          this.push(new PySet());
          break;
        case 0x90: {
          // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof PySet)) this.fail('ADDITEMS on a non-set', at);
          for (const item of items) s.items.push(item);
          break;
        }
        case 0x91: // FROZENSET
          this.push(new PySet(this.popMark(), true));
          break;
        case 0x70: {
          // PUT (text)
          const s = this.line();
          const i = Number.parseInt(s, 10);
          if (!Number.isSafeInteger(i) || i < 0) this.fail('bad PUT index', at);
          this.memo.set(i, this.top());
          break;
        }
        case 0x71:
          this.memo.set(this.u8(), this.top());
          break;
        case 0x72:
          this.memo.set(this.u32(), this.top());
          break;
        case 0x94:
          this.memo.set(this.memo.size, this.top());
          break;
        case 0x67: {
          const i = Number.parseInt(this.line(), 10);
          if (!Number.isSafeInteger(i)) this.fail('bad GET index', at);
          this.push(this.memoGet(i));
          break;
        }
        case 0x68:
          this.push(this.memoGet(this.u8()));
          break;
        case 0x6a:
          this.push(this.memoGet(this.u32()));
          break;
        case 0x63: {
          // GLOBAL "module\nname\n"
          const module = this.line();
          const name = this.line();
          this.push(this.options.resolveGlobal(module, name, this.base + at));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL needs two strings', at);
          this.push(this.options.resolveGlobal(module, name, this.base + at));
          break;
        }
        case 0x82:
        case 0x83:
        case 0x84:
          this.fail('extension registry opcodes (EXT1/2/4) are not supported', at);
          break;
        case 0x52: {
          // REDUCE
          const args = this.pop();
          const fn = this.pop();
          if (!(args instanceof PyTuple)) this.fail('REDUCE arguments are not a tuple', at);
          this.push(this.callGlobal(fn, args.items, at));
          break;
        }
        case 0x81: {
          // NEWOBJ: cls.__new__(cls, *args)
          const args = this.pop();
          const cls = this.pop();
          if (!(args instanceof PyTuple)) this.fail('NEWOBJ arguments are not a tuple', at);
          this.push(this.callGlobal(cls, args.items, at));
          break;
        }
        case 0x92: {
          // NEWOBJ_EX (keyword arguments ignored: only inert objects can be built this way)
          this.pop();
          const args = this.pop();
          const cls = this.pop();
          if (!(args instanceof PyTuple)) this.fail('NEWOBJ_EX arguments are not a tuple', at);
          this.push(this.callGlobal(cls, args.items, at));
          break;
        }
        case 0x69: {
          // INST (text): module, name, then args since the mark
          const module = this.line();
          const name = this.line();
          const args = this.popMark();
          this.push(this.callGlobal(this.options.resolveGlobal(module, name, this.base + at), args, at));
          break;
        }
        case 0x6f: {
          // OBJ: mark, cls, args...
          const items = this.popMark();
          if (items.length === 0) this.fail('OBJ without a class', at);
          this.push(this.callGlobal(items[0]!, items.slice(1), at));
          break;
        }
        case 0x62: {
          // BUILD
          const state = this.pop();
          this.build(this.top(), state, at);
          break;
        }
        case 0x50: {
          // PERSID (text)
          const pid = this.line();
          this.push(this.persistent(pid, at));
          break;
        }
        case 0x51: {
          const pid = this.pop();
          this.push(this.persistent(pid, at));
          break;
        }
        default:
          this.fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, '0')}`, at);
      }
    }
  }

  private persistent(pid: PyValue, at: number): PyValue {
    if (this.options.persistentLoad === undefined) this.fail('persistent id in a pickle that should have none', at);
    return this.options.persistentLoad(pid, this.base + at);
  }

  /** Appends one by one: spreading 500k items into push() overflows the native stack. */
  private appendTo(target: PyValue, items: PyValue[], at: number): void {
    const list = target instanceof PyList ? target.items : target instanceof PyObject ? target.listItems : undefined;
    if (list === undefined) this.fail('APPEND to a value that is not a list', at);
    for (const item of items) list.push(item);
  }

  /** Refuses decimal integer text beyond MAX_INT_DIGITS before BigInt parses it (quadratic time). */
  private checkDigits(text: string, at: number): void {
    const digits = text.replace(/^[-+]/, '').length;
    if (digits > MAX_INT_DIGITS) {
      throw new DoconvError('PICKLE_LIMIT', `integer literal of ${digits} digits exceeds the limit of ${MAX_INT_DIGITS} (CPython's int_max_str_digits)`, { offset: this.base + at });
    }
  }

  private setItems(target: PyValue, items: PyValue[], at: number): void {
    if (items.length % 2 !== 0) this.fail('odd number of items for SETITEMS', at);
    const dict = target instanceof PyDict ? target : target instanceof PyObject ? target.dictItems : undefined;
    if (dict === undefined) this.fail('SETITEM on a value that is not a dict', at);
    for (let i = 0; i < items.length; i += 2) dict.set(items[i]!, items[i + 1]!);
  }

  private build(target: PyValue, state: PyValue, at: number): void {
    if (target instanceof PyObject) {
      target.state = state;
      return;
    }
    if (target instanceof PyDict) {
      // OrderedDict.__setstate__ / __dict__ update: torch keeps `_metadata` on the state_dict this way.
      const attrs = state instanceof PyTuple ? state.items[0] : state;
      if (attrs instanceof PyDict) {
        target.attributes ??= new PyDict();
        for (const [k, v] of attrs.entries()) target.attributes.set(k, v);
        return;
      }
      if (attrs === null) return;
    }
    // BUILD on anything else would call __setstate__ on a real class; we have none to call.
    this.fail('BUILD on a value that has no state to set', at);
  }
}

/** Two's-complement little-endian integer (LONG1/LONG4). */
export function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  // via hex: linear in the length, where shifting a BigInt byte by byte is quadratic
  let v = BigInt(`0x${Buffer.from(b).reverse().toString('hex')}`);
  if ((b[b.length - 1]! & 0x80) !== 0) v -= 1n << BigInt(8 * b.length);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function parseTextInt(s: string, bad: () => never): number | bigint {
  if (!/^[-+]?\d+$/.test(s)) bad();
  const v = BigInt(s);
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function decodeRawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, u4: string | undefined, u8: string | undefined) =>
    String.fromCodePoint(Number.parseInt((u4 ?? u8)!, 16)),
  );
}

function decodeQuotedString(s: string, bad: () => never): string {
  const t = s.trim();
  const q = t[0];
  if (t.length < 2 || (q !== "'" && q !== '"') || t[t.length - 1] !== q) bad();
  return t
    .slice(1, -1)
    .replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
      if (e[0] === 'x') return String.fromCharCode(Number.parseInt(e.slice(1), 16));
      if (/^[0-7]+$/.test(e)) return String.fromCharCode(Number.parseInt(e, 8));
      const simple: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v' };
      return simple[e] ?? `\\${e}`;
    });
}
