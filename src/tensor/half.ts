// IEEE 754 binary16 and bfloat16 <-> float32 conversions, round-to-nearest-even on the way down.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Lookup table: the float32 value of every float16 bit pattern (256 KiB, built once on first use). */
let halfTable: Float32Array | undefined;

function buildHalfTable(): Float32Array {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    let v: number;
    if (exp === 0) v = sign * frac * 2 ** -24;
    else if (exp === 31) v = frac === 0 ? sign * Infinity : NaN;
    else v = sign * (1 + frac / 1024) * 2 ** (exp - 15);
    table[h] = v;
  }
  return table;
}

export function halfToFloat32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const table = (halfTable ??= buildHalfTable());
  for (let i = 0; i < src.length; i++) dst[i] = table[src[i]!]!;
  return dst;
}

/** Round a float32 value to the nearest float16 bit pattern (ties to even), as numpy's astype(float16) does. */
export function float32ToHalfBits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return sign | h;
}

export function float32ToHalf(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) dst[i] = float32ToHalfBits(src[i]!);
  return dst;
}

export function bfloat16ToFloat32(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! << 16;
  return dst;
}

/** float32 -> bfloat16 with round-to-nearest-even, NaN kept quiet, as torch's .to(torch.bfloat16). */
export function float32ToBfloat16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const x = bits[i]!;
    if ((x & 0x7fffffff) > 0x7f800000) {
      dst[i] = (x >>> 16) | 0x40;
      continue;
    }
    dst[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return dst;
}
