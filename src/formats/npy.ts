import { DoconvError } from '../errors.js';
import { DTYPE_SIZE, isFloatDType, type DType } from '../tensor/dtype.js';
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
/** numpy's own limit on dimensions (NPY_MAXDIMS is 32 before numpy 2, 64 after). */
const MAX_NDIM = 64;

interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
}

/**
 * Parses the header dict as numpy's `ast.literal_eval` + `_read_array_header` would accept it:
 * a dict of exactly the keys descr (str), fortran_order (bool) and shape (tuple of non-negative
 * ints); a key given twice takes its last value, as a Python dict display does. Anything else is
 * refused, never guessed at with a regular expression.
 */
function parseNpyHeader(text: string, offset: number): NpyHeader {
  const bad = (why: string): never => {
    throw new DoconvError('NPY_INVALID', `malformed .npy header (${why})`, { offset });
  };
  let p = 0;
  const ws = (): void => {
    while (p < text.length && ' \t\n\r\f\v'.includes(text[p]!)) p++;
  };
  const eat = (c: string): boolean => {
    ws();
    if (text[p] !== c) return false;
    p++;
    return true;
  };
  const str = (): string => {
    ws();
    const q = text[p];
    if (q !== "'" && q !== '"') bad(`expected a string at character ${p}`);
    const end = text.indexOf(q!, p + 1);
    if (end < 0) bad('unterminated string');
    const v = text.slice(p + 1, end);
    if (v.includes('\\') || v.includes('\n')) bad('escapes in strings are not supported');
    p = end + 1;
    return v;
  };
  const int = (): number => {
    ws();
    const m = /^[0-9]+/.exec(text.slice(p, p + 32));
    if (m === null) bad(`expected a non-negative integer at character ${p}`);
    const digits = m![0];
    if (digits.length > 1 && digits.startsWith('0') && /[1-9]/.test(digits)) bad(`'${digits}' is not a Python integer literal`);
    const v = Number(digits);
    if (!Number.isSafeInteger(v)) bad(`dimension ${digits} is too large`);
    p += digits.length;
    return v;
  };
  const value = (key: string): unknown => {
    if (key === 'descr') return str();
    if (key === 'fortran_order') {
      ws();
      for (const [word, v] of [['True', true], ['False', false]] as const) {
        if (text.startsWith(word, p) && !/[A-Za-z0-9_]/.test(text[p + word.length] ?? '')) {
          p += word.length;
          return v;
        }
      }
      return bad("fortran_order is not True or False");
    }
    if (!eat('(')) bad('shape is not a tuple');
    const dims: number[] = [];
    let comma = true;
    while (!eat(')')) {
      if (!comma) bad("expected ',' or ')' in shape");
      if (dims.length >= MAX_NDIM) bad(`shape has more than ${MAX_NDIM} dimensions`);
      dims.push(int());
      comma = eat(',');
    }
    if (dims.length === 1 && !comma) bad("a one-element shape needs a trailing comma: (n,)");
    return dims;
  };
  const seen = new Map<string, unknown>();
  if (!eat('{')) bad('not a dict');
  let comma = true;
  while (!eat('}')) {
    if (!comma) bad("expected ',' or '}'");
    const key = str();
    if (key !== 'descr' && key !== 'fortran_order' && key !== 'shape') bad(`unexpected key '${key}'`);
    if (!eat(':')) bad(`expected ':' after '${key}'`);
    seen.set(key, value(key)); // a repeated key: the last value wins, as in Python
    comma = eat(',');
  }
  ws();
  if (p !== text.length) bad('text after the dict');
  const descr = seen.get('descr');
  const fortranOrder = seen.get('fortran_order');
  const shape = seen.get('shape');
  if (typeof descr !== 'string' || typeof fortranOrder !== 'boolean' || !Array.isArray(shape)) bad("missing 'descr', 'fortran_order' or 'shape'");
  return { descr: descr as string, fortranOrder: fortranOrder as boolean, shape: shape as number[] };
}

/**
 * Parses a .npy buffer into a Tensor whose data is a view of `bytes`. `file`, when given, is named
 * in every error. The data must be exactly what the header describes: a short or overlong body is
 * NPY_INVALID (a file cut short, or not the array its header says).
 */
export function readNpy(bytes: Uint8Array, file?: string): Tensor {
  try {
    return parseNpy(bytes);
  } catch (err) {
    if (err instanceof DoconvError && file !== undefined) throw err.inFile(file);
    throw err;
  }
}

/** Reads a .npy file whose values must be floating point (predict's input): every error names it. */
export function readFloatNpy(bytes: Uint8Array, file: string): Tensor {
  const t = readNpy(bytes, file);
  if (!isFloatDType(t.dtype)) throw new DoconvError('DTYPE_UNSUPPORTED', `expected a floating-point array, got ${t.dtype}`, { file, offset: 0 });
  return t;
}

function parseNpy(bytes: Uint8Array): Tensor {
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
  if (headerLen > MAX_HEADER) throw new DoconvError('LIMIT_EXCEEDED', `.npy header of ${headerLen} bytes is over the ${MAX_HEADER}-byte limit`, { offset: 8 });
  if (start + headerLen > bytes.byteLength) throw new DoconvError('TRUNCATED', '.npy header runs past the end', { offset: start });
  const raw = bytes.subarray(start, start + headerLen);
  const header = major === 3 ? Buffer.from(raw).toString('utf8') : Buffer.from(raw).toString('latin1');
  const { descr, fortranOrder, shape } = parseNpyHeader(header, start);
  const dtype = Object.hasOwn(DESCR_TO_DTYPE, descr) ? DESCR_TO_DTYPE[descr] : undefined;
  if (dtype === undefined) throw new DoconvError('DTYPE_UNSUPPORTED', `.npy dtype '${descr}' is not supported`, { offset: start });
  if (fortranOrder && shape.filter((d) => d > 1).length > 1) throw new DoconvError('NPY_INVALID', 'Fortran-ordered .npy arrays are not supported', { offset: start });
  const dataStart = start + headerLen;
  let n = 1;
  for (const d of shape) n *= d;
  const nbytes = n * DTYPE_SIZE[dtype];
  const present = bytes.byteLength - dataStart;
  if (!Number.isSafeInteger(nbytes) || nbytes !== present) {
    throw new DoconvError('NPY_INVALID', `the header's shape (${shape.join(', ')}) ${dtype} needs ${Number.isSafeInteger(nbytes) ? nbytes : 'more than 2^53'} bytes of data, the file holds ${present}`, { offset: dataStart });
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
