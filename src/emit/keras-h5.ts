import { PARAM_NAMES, type ParamRole } from '../arch/naming.js';
import { renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DoconvError } from '../errors.js';
import { hdf5, quietHdf5 } from '../formats/hdf5.js';
import { toFloat32 } from '../tensor/tensor.js';
import { VERSION } from '../version.js';
import { oihwToHwio, transpose2d } from '../tensor/layout.js';
import type { NeutralModule } from './modules.js';


/**
 * Writes a Keras 2 `save_weights()` HDF5 file: root attributes `layer_names`, `backend`,
 * `keras_version`; a group per layer with `weight_names` and datasets `<layer>/<layer>/<w>:0`.
 * Convs become plain Conv2D kernels (M, N, C_in/g, C_out), dense kernels (in, out). Float32 data
 * (h5wasm cannot write float16). Written to a temporary name and renamed when complete.
 */
export function writeKerasH5(path: string, modules: readonly NeutralModule[]): number {
  const { h5 } = hdf5();
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  let count = 0;
  const { value: failure } = quietHdf5(() => {
    let f: InstanceType<typeof h5.File> | undefined;
    try {
      f = new h5.File(tmp, 'w');
      const names = modules.map((m) => m.name || 'root');
      f.create_attribute('layer_names', names);
      f.create_attribute('backend', 'tensorflow');
      f.create_attribute('keras_version', `2.11.0 (doconv-zoo ${VERSION})`);
      for (const m of modules) {
        const layer = m.name || 'root';
        const g = f.create_group(layer);
        const weightNames: string[] = [];
        const inner = g.create_group(layer);
        for (const [role, t] of m.params) {
          const keras = m.kind === 'other' ? role : PARAM_NAMES.keras[role as ParamRole] ?? role;
          const tensor = m.kind === 'conv' && role === 'weight' ? oihwToHwio(t) : m.kind === 'dense' && role === 'weight' ? transpose2d(t) : t;
          inner.create_dataset({ name: `${keras}:0`, data: toFloat32(tensor), shape: [...tensor.shape], dtype: '<f4' });
          weightNames.push(`${layer}/${keras}:0`);
          count++;
        }
        g.create_attribute('weight_names', weightNames.length > 0 ? weightNames : ['']);
      }
      f.close();
      f = undefined;
      renameSync(tmp, path);
      return undefined;
    } catch (err) {
      try {
        f?.close();
      } catch {
        // already failed
      }
      rmSync(tmp, { force: true });
      return err;
    }
  });
  if (failure !== undefined) {
    if (failure instanceof DoconvError) throw failure;
    throw new DoconvError('OUTPUT_FAILED', `cannot write the HDF5 file: ${(failure as Error).message}`, { file: path });
  }
  return count;
}
