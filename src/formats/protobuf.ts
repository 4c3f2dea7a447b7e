// A protocol-buffers encoder that keeps a message as a list of byte chunks with a known length, so
// large byte fields (tensor raw_data) are referenced, never copied, until written out.

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_LEN = 2;

function varint(v: number | bigint): Uint8Array {
  let x = BigInt.asUintN(64, BigInt(v));
  const out: number[] = [];
  do {
    let byte = Number(x & 0x7fn);
    x >>= 7n;
    if (x !== 0n) byte |= 0x80;
    out.push(byte);
  } while (x !== 0n);
  return Uint8Array.from(out);
}

function smallVarint(v: number): Uint8Array {
  if (v >= 0 && v < 0x80) return Uint8Array.of(v);
  return varint(v);
}

export class ProtoMessage {
  readonly chunks: Uint8Array[] = [];
  length = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.byteLength;
  }

  private tag(field: number, wire: number): void {
    this.push(smallVarint((field << 3) | wire));
  }

  int(field: number, v: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    this.push(varint(v));
    return this;
  }

  float(field: number, v: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.push(varint(data.byteLength));
    if (data.byteLength > 0) this.push(data);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, Buffer.from(s, 'utf8'));
  }

  message(field: number, m: ProtoMessage): this {
    this.tag(field, WIRE_LEN);
    this.push(varint(m.length));
    for (const c of m.chunks) this.chunks.push(c);
    this.length += m.length;
    return this;
  }

  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const body = values.map(varint);
    const len = body.reduce((a, b) => a + b.byteLength, 0);
    this.tag(field, WIRE_LEN);
    this.push(varint(len));
    for (const b of body) this.push(b);
    return this;
  }

  /** The whole message in one buffer (for in-memory use; files are written chunk by chunk). */
  toBytes(): Uint8Array {
    return Buffer.concat(this.chunks, this.length);
  }
}
