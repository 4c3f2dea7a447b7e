import { deflateRawSync } from 'node:zlib';

/** A .npy file from a header text as given (no padding, no checks): for headers numpy would or would not accept. */
export function rawNpy(header: string, data: Uint8Array, version = 1): Uint8Array {
  const h = Buffer.from(header, 'latin1');
  const pre = Buffer.alloc(version === 1 ? 10 : 12);
  pre[0] = 0x93;
  pre.write('NUMPY', 1, 'latin1');
  pre[6] = version;
  if (version === 1) pre.writeUInt16LE(h.length, 8);
  else pre.writeUInt32LE(h.length, 8);
  return new Uint8Array(Buffer.concat([pre, h, data]));
}

/**
 * A one-entry zip whose entry is deflated from `data`, with a central directory that declares
 * `declaredSize` (the lie a zip bomb tells) instead of the real size.
 */
export function deflatedZip(name: string, data: Uint8Array, declaredSize = data.byteLength): Uint8Array {
  const packed = deflateRawSync(data);
  const nameBytes = Buffer.from(name, 'utf8');
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(packed.byteLength, 18);
  local.writeUInt32LE(declaredSize, 22);
  local.writeUInt16LE(nameBytes.byteLength, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(packed.byteLength, 20);
  central.writeUInt32LE(declaredSize, 24);
  central.writeUInt16LE(nameBytes.byteLength, 28);
  central.writeUInt32LE(0, 42);
  const cdOffset = 30 + nameBytes.byteLength + packed.byteLength;
  const cdSize = 46 + nameBytes.byteLength;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(cdOffset, 16);
  return new Uint8Array(Buffer.concat([local, nameBytes, packed, central, nameBytes, end]));
}
