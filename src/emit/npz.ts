import { encodeNpy } from '../formats/npy.js';
import { unsafeEntryName, ZipWriter } from '../formats/zip-writer.js';
import { DoconvError } from '../errors.js';
import { toFloat32, Tensor } from '../tensor/tensor.js';
import type { NamedTensor } from '../checkpoint/tree.js';
import { writeFileAtomic } from './atomic.js';

/**
 * Writes named tensors as an uncompressed .npz (what numpy.savez writes): one `<name>.npy` entry
 * each. NumPy has no bfloat16, so bfloat16 tensors are widened to float32 (exactly) and reported.
 * Names are checked before anything is written: a name that would be an unsafe entry path (`..`,
 * absolute, backslash, NUL; see ZipWriter) is refused, never escaped, as is a name used twice; the
 * error names the output file and the tensor.
 */
export function writeNpz(path: string, tensors: readonly NamedTensor[]): { widened: string[] } {
  const widened: string[] = [];
  checkNpzNames(path, tensors);
  writeFileAtomic(path, (fd) => {
    const zip = new ZipWriter(fd, 1);
    for (const { name, tensor } of tensors) {
      let t = tensor;
      if (t.dtype === 'bfloat16') {
        widened.push(name);
        t = Tensor.fromFloat32(toFloat32(t), t.shape);
      }
      zip.add(`${name}.npy`, Buffer.concat(encodeNpy(t)));
      tensor.release();
    }
    zip.finish();
  });
  return { widened };
}

function checkNpzNames(path: string, tensors: readonly NamedTensor[]): void {
  const seen = new Set<string>();
  for (const { name } of tensors) {
    const unsafe = unsafeEntryName(`${name}.npy`);
    if (unsafe !== undefined) throw new DoconvError('UNSAFE_PATH', `tensor name '${name}' would be an npz entry with ${unsafe}`, { file: path, key: name });
    if (seen.has(name)) throw new DoconvError('BAD_ARGUMENT', `two tensors are both named '${name}' (npz names must be unique)`, { file: path, key: name });
    seen.add(name);
  }
}
