import { describe, expect, it } from 'vitest';
import { loadCheckpointBytes } from '../src/checkpoint/load.js';
import { DoconvError } from '../src/errors.js';
import { readNdarrayList } from '../src/formats/ndarray-list.js';
import { toFloat32 } from '../src/tensor/tensor.js';

/** Builds an NDArray list by hand, one record layout per version (src/ndarray/ndarray.cc). */
function list(records: Buffer[], names: string[]): Uint8Array {
  const head = Buffer.alloc(24);
  head.writeBigUInt64LE(0x112n, 0);
  head.writeBigUInt64LE(BigInt(records.length), 16);
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(BigInt(names.length));
  const nameBufs = names.flatMap((s) => {
    const l = Buffer.alloc(8);
    l.writeBigUInt64LE(BigInt(Buffer.byteLength(s)));
    return [l, Buffer.from(s)];
  });
  return new Uint8Array(Buffer.concat([head, ...records, n, ...nameBufs]));
}
const i32 = (...v: number[]) => Buffer.from(new Int32Array(v).buffer);
const u32 = (...v: number[]) => Buffer.from(new Uint32Array(v).buffer);
const i64 = (...v: number[]) => Buffer.from(new BigInt64Array(v.map(BigInt)).buffer);
const f32 = (...v: number[]) => Buffer.from(new Float32Array(v).buffer);
const f16 = (...bits: number[]) => Buffer.from(new Uint16Array(bits).buffer);

describe('MXNet NDArray list records', () => {
  const v2 = Buffer.concat([u32(0xf993fac9), i32(0), u32(2), i64(2, 2), i32(1, 0, 0), f32(1, 2, 3, 4)]);
  const v1 = Buffer.concat([u32(0xf993fac8), u32(1), i64(3), i32(1, 0, 2), f16(0x3c00, 0x4000, 0xc000)]);
  const v3 = Buffer.concat([u32(0xf993faca), i32(0), i32(1), i64(2), i32(1, 0, 6), i64(-5, 7)]);
  const oldest = Buffer.concat([u32(2), u32(1, 2), i32(1, 0, 0), f32(5, 6)]);
  const v3Unknown = Buffer.concat([u32(0xf993faca), i32(0), i32(-1)]);

  it('reads V2, V1, V3 and the oldest layout, float32/float16/int64, and skips empty arrays', () => {
    const arrays = readNdarrayList(list([v2, v1, v3, oldest, v3Unknown], ['a', 'b', 'c', 'd', 'e']));
    expect(arrays.map((a) => [a.name, a.tensor.shape, a.tensor.dtype])).toEqual([
      ['a', [2, 2], 'float32'],
      ['b', [3], 'float16'],
      ['c', [2], 'int64'],
      ['d', [1, 2], 'float32'],
    ]);
    expect(Array.from(toFloat32(arrays[1]!.tensor))).toEqual([1, 2, -2]);
    expect(Array.from(new BigInt64Array(arrays[2]!.tensor.bytes().slice().buffer))).toEqual([-5n, 7n]);
    expect(Array.from(toFloat32(arrays[3]!.tensor))).toEqual([5, 6]);
  });

  it('names unnamed lists by index (mx.nd.save of a list)', () => {
    expect(readNdarrayList(list([v2], [])).map((a) => a.name)).toEqual(['0']);
  });

  it.each([
    ['a sparse (row_sparse) record', list([Buffer.concat([u32(0xf993fac9), i32(1), u32(1), i64(4)])], ['s']), /sparse NDArray/],
    ['more names than records', list([v2], ['a', 'b']), /1 records but 2 names/],
    ['an unknown dtype flag', list([Buffer.concat([u32(0xf993fac9), i32(0), u32(1), i64(1), i32(1, 0, 99), f32(1)])], ['x']), /dtype flag 99/],
    ['a file cut inside a record', list([v2], ['a']).subarray(0, 24 + v2.length - 4), /needs 16 bytes/],
    ['a dimension of 2^60', list([Buffer.concat([u32(0xf993fac9), i32(0), u32(2), i64(2 ** 30, 2 ** 30), i32(1, 0, 0)])], ['x']), /needs 4611686018427387904 bytes|too large/],
  ])('%s is a DoconvError with an offset', (_what, bytes, message) => {
    try {
      readNdarrayList(bytes);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DoconvError);
      expect((err as DoconvError).message).toMatch(message);
      expect(typeof (err as DoconvError).offset).toBe('number');
    }
  });

  it('recognises DOConv2D layers under prefixed save_params names and Module arg: names', async () => {
    const weight = Buffer.concat([u32(0xf993fac9), i32(0), u32(4), i64(2, 1, 3, 3), i32(1, 0, 0), f32(...new Array(18).fill(0.5))]);
    const D = Buffer.concat([u32(0xf993fac9), i32(0), u32(3), i64(9, 9, 1), i32(1, 0, 0), f32(...new Array(81).fill(0))]);
    for (const prefix of ['doconv0_', 'arg:doconv0_']) {
      const ckpt = await loadCheckpointBytes(list([weight, D], [`${prefix}weight`, `${prefix}D`]), 'x.params');
      expect(ckpt.layers.map((l) => [l.name, l.groups, l.kernel])).toEqual([[`${prefix}`.replace(/_$/, ''), 1, [3, 3]]]);
    }
  });
});
