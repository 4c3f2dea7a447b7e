// Hand-made torch pickles for the bounds tests: small files whose object graphs are huge when
// shared objects are expanded, or whose nesting, cycles or integers stress every tree walk.
import { binunicode, bytes } from '../helpers/hostile.js';

type Part = number | string | Uint8Array;

/** BINUNICODE s */
export const str = binunicode;

/** BININT v */
export function int(v: number): Uint8Array {
  const b = Buffer.alloc(5);
  b[0] = 0x4a;
  b.writeInt32LE(v, 1);
  return b;
}

/** LONG_BINPUT i: memoise the top of the stack. */
export function put(i: number): Uint8Array {
  const b = Buffer.alloc(5);
  b[0] = 0x72;
  b.writeUInt32LE(i, 1);
  return b;
}

/** LONG_BINGET i: push memo entry i again (the same object, not a copy). */
export function get(i: number): Uint8Array {
  const b = Buffer.alloc(5);
  b[0] = 0x6a;
  b.writeUInt32LE(i, 1);
  return b;
}

export const EMPTY_DICT = 0x7d;
export const EMPTY_LIST = 0x5d;
export const EMPTY_TUPLE = 0x29;
export const MARK = 0x28;
export const TUPLE = 0x74;
export const TUPLE1 = 0x85;
export const TUPLE2 = 0x86;
export const APPEND = 0x61;
export const APPENDS = 0x65;
export const SETITEM = 0x73;
export const SETITEMS = 0x75;
export const BUILD = 0x62;
export const STOP = 0x2e;
export const POP = 0x30;
export const PROTO2 = bytes(0x80, 2);

/** A protocol-2 pickle of the given parts, STOP appended. */
export function pickle(...parts: Part[]): Uint8Array {
  return bytes(PROTO2, ...parts, STOP);
}

function intTuple(xs: readonly number[]): Uint8Array {
  return bytes(MARK, ...xs.map(int), TUPLE);
}

/**
 * A float32 tensor: _rebuild_tensor_v2(persistent storage `key` of `numel` floats, offset, shape,
 * contiguous stride). Pushes one tensor object; each call makes a new tensor over the same storage.
 */
export function tensor(key: string, numel: number, shape: readonly number[], offset = 0): Uint8Array {
  const stride: number[] = [];
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i]!;
  }
  return bytes(
    'c', 'torch._utils\n_rebuild_tensor_v2\n',
    MARK,
    MARK, str('storage'), 'c', 'torch\nFloatStorage\n', str(key), str('cpu'), int(numel), TUPLE, 0x51,
    int(offset), intTuple(shape), intTuple(stride), 0x89, 0x4e,
    TUPLE, 0x52,
  );
}

/**
 * Pushes t_depth where t_0 = () and t_{i+1} = (t_i, t_i): `depth` levels in a few bytes each,
 * 2^depth leaves when shared objects are expanded. Memo slots from `firstSlot` are used.
 */
export function tupleDag(depth: number, firstSlot = 1000): Uint8Array {
  const parts: Part[] = [EMPTY_TUPLE, put(firstSlot), POP];
  for (let i = 0; i < depth; i++) parts.push(get(firstSlot + i), get(firstSlot + i), TUPLE2, put(firstSlot + i + 1), POP);
  parts.push(get(firstSlot + depth));
  return bytes(...parts);
}

/** `depth` nested 1-tuples around an empty tuple: ((((),),),) */
export function deepTuple(depth: number): Uint8Array {
  return bytes(EMPTY_TUPLE, new Uint8Array(depth).fill(TUPLE1));
}

/** An integer in the text INT opcode: `I<digits>\n`. */
export function textInt(digits: string): Uint8Array {
  return bytes('I', digits, '\n');
}

/** LONG4 of the given little-endian two's-complement bytes. */
export function long4(le: Uint8Array): Uint8Array {
  const h = Buffer.alloc(5);
  h[0] = 0x8b;
  h.writeInt32LE(le.length, 1);
  return bytes(h, le);
}

/** Little-endian float32 bytes of `n` values i * step. */
export function floats(n: number, step = 1): Uint8Array {
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = i * step;
  return new Uint8Array(f.buffer);
}
