import type { NamedTensor } from '../checkpoint/tree.js';
import { DoconvError } from '../errors.js';
import type { DType } from '../tensor/dtype.js';
import { writeAll, writeFileAtomic } from './atomic.js';

const SAFETENSORS_DTYPE: Readonly<Record<DType, string>> = {
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  float64: 'F64',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

/** What huggingface/safetensors' own reader accepts as a header (MAX_HEADER_SIZE in safetensors/src/tensor.rs). */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

/**
 * Writes the safetensors format (huggingface/safetensors): u64 little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets}} plus `__metadata__`, padded with spaces to 8 bytes,
 * then the tensors' bytes back to back in header order. Names from the checkpoint are kept in a
 * Map and written key by key, so `constructor`, `toString` or `__proto__` are names like any other;
 * a name used twice, or the reserved `__metadata__`, is refused naming the output file.
 */
export function writeSafetensors(path: string, tensors: readonly NamedTensor[], metadata: Record<string, string> = {}): void {
  const json = safetensorsHeader(path, tensors, metadata);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(json.byteLength));
  writeFileAtomic(path, (fd) => {
    writeAll(fd, head);
    writeAll(fd, json);
    for (const { tensor } of tensors) {
      writeAll(fd, tensor.bytes());
      tensor.release();
    }
  });
}

/** The header's JSON bytes, padded to 8 bytes. */
function safetensorsHeader(path: string, tensors: readonly NamedTensor[], metadata: Record<string, string>): Buffer {
  const entries = new Map<string, string>();
  entries.set(METADATA_KEY, JSON.stringify({ format: 'pt', ...metadata }));
  let offset = 0;
  for (const { name, tensor } of tensors) {
    if (name === METADATA_KEY) throw new DoconvError('BAD_ARGUMENT', `a tensor is named '${METADATA_KEY}', which safetensors reserves`, { file: path, key: name });
    if (entries.has(name)) throw new DoconvError('BAD_ARGUMENT', `two tensors are both named '${name}' (safetensors names must be unique)`, { file: path, key: name });
    entries.set(name, JSON.stringify({ dtype: SAFETENSORS_DTYPE[tensor.dtype], shape: tensor.shape, data_offsets: [offset, offset + tensor.byteLength] }));
    offset += tensor.byteLength;
  }
  let json = `{${[...entries].map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const bytes = Buffer.from(json, 'utf8');
  if (bytes.byteLength > MAX_HEADER_BYTES) {
    throw new DoconvError('LIMIT_EXCEEDED', `the safetensors header would be ${bytes.byteLength} bytes, over the ${MAX_HEADER_BYTES} that safetensors readers accept`, { file: path });
  }
  return bytes;
}
