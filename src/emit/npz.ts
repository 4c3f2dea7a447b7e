import { encodeNpy } from '../formats/npy.js';
import { ZipWriter } from '../formats/zip-writer.js';
import { toFloat32, Tensor } from '../tensor/tensor.js';
import type { NamedTensor } from '../checkpoint/tree.js';
import { writeFileAtomic } from './atomic.js';

/**
 * Writes named tensors as an uncompressed .npz (what numpy.savez writes): one `<name>.npy` entry
 * each. NumPy has no bfloat16, so bfloat16 tensors are widened to float32 (exactly) and reported.
 */
export function writeNpz(path: string, tensors: readonly NamedTensor[]): { widened: string[] } {
  const widened: string[] = [];
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
