import { DoconvError } from '../errors.js';
import { DTYPE_SIZE, type DType } from '../tensor/dtype.js';
import { Tensor } from '../tensor/tensor.js';

// NumPy's .npy format (numpy/lib/format.py): magic "\x93NUMPY", version, little-endian header
// length, a Python-literal dict {'descr', 'fortran_order', 'shape'}, padded so data is aligned.

const DESCR_TO_DTYPE: Readonly<Record<string, DType>> = {
  '<f4': 'float32',
  '<f2': 'float16',
  '<f8': 'float64',
  '<i8': 'int64',
  '<i4': 'int32',
  '<i2': 'int16',
  '|i1': 'int8',
  '|u1': 'uint8',
  '|b1': 'bool',
};
const DTYPE_TO_DESCR: Partial<Record<DType, string>> = Object.fromEntries(Object.entries(DESCR_TO_DTYPE).map(([k, v]) => [v, k]));

const MAX_HEADER = 1 << 20;

/** Parses a .npy buffer into a Tensor whose data is a view of `bytes`. */
export function readNpy(bytes: Uint8Array): Tensor {
  if (bytes.byteLength < 10 || bytes[0] !== 0x93 || Buffer.from(bytes.subarray(1, 6)).toString('latin1') !== 'NUMPY') {
    throw new DoconvError('NPY_INVALID', 'not a .npy file (bad magic)', { offset: 0 });
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) throw new DoconvError('TRUNCATED', '.npy header cut short', { offset: 8 });
    headerLen = view.getUint32(8, true);
    start = 12;
  } else throw new DoconvError('NPY_INVALID', `unsupported .npy version ${major}`, { offset: 6 });
  if (headerLen > MAX_HEADER || start + headerLen > bytes.byteLength) throw new DoconvError('TRUNCATED', '.npy header runs past the end', { offset: start });
  const header = Buffer.from(bytes.subarray(start, start + headerLen)).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new DoconvError('NPY_INVALID', `malformed .npy header: ${header.trim().slice(0, 80)}`, { offset: start });
  const dtype = DESCR_TO_DTYPE[descr];
  if (dtype === undefined) throw new DoconvError('DTYPE_UNSUPPORTED', `.npy dtype '${descr}' is not supported`, { offset: start });
  if (fortran === 'True') throw new DoconvError('NPY_INVALID', 'Fortran-ordered .npy arrays are not supported', { offset: start });
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const n = Number(s.replace(/L$/, ''));
    if (!Number.isSafeInteger(n) || n < 0) throw new DoconvError('NPY_INVALID', `bad dimension '${s}'`, { offset: start });
    return n;
  });
  const dataStart = start + headerLen;
  const n = shape.reduce((a, b) => a * b, 1);
  const nbytes = n * DTYPE_SIZE[dtype];
  if (!Number.isSafeInteger(nbytes) || dataStart + nbytes > bytes.byteLength) {
    throw new DoconvError('TRUNCATED', `.npy data needs ${nbytes} bytes, ${bytes.byteLength - dataStart} present`, { offset: dataStart });
  }
  return new Tensor(dtype, shape, bytes.subarray(dataStart, dataStart + nbytes));
}

/** Encodes a tensor as .npy (version 1.0, header padded to 64 bytes as numpy does). */
export function encodeNpy(t: Tensor): Uint8Array[] {
  const descr = DTYPE_TO_DESCR[t.dtype];
  if (descr === undefined) throw new DoconvError('DTYPE_UNSUPPORTED', `${t.dtype} has no .npy dtype`);
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre[0] = 0x93;
  pre.write('NUMPY', 1, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  return [pre, Buffer.from(header, 'latin1'), t.bytes()];
}
