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

/**
 * Writes the safetensors format (huggingface/safetensors): u64 little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets}} plus `__metadata__`, padded with spaces to 8 bytes,
 * then the tensors' bytes back to back in header order.
 */
export function writeSafetensors(path: string, tensors: readonly NamedTensor[], metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', ...metadata } };
  let offset = 0;
  for (const { name, tensor } of tensors) {
    if (name in header) throw new DoconvError('BAD_ARGUMENT', `two tensors are both named '${name}'`, { key: name });
    header[name] = { dtype: SAFETENSORS_DTYPE[tensor.dtype], shape: tensor.shape, data_offsets: [offset, offset + tensor.byteLength] };
    offset += tensor.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileAtomic(path, (fd) => {
    writeAll(fd, head);
    writeAll(fd, Buffer.from(json));
    for (const { tensor } of tensors) {
      writeAll(fd, tensor.bytes());
      tensor.release();
    }
  });
}
