import { PARAM_NAMES, type ParamRole } from '../arch/naming.js';
import { buildHdf5, type H5File } from '../formats/hdf5.js';
import { toFloat32 } from '../tensor/tensor.js';
import { VERSION } from '../version.js';
import { oihwToHwio, transpose2d } from '../tensor/layout.js';
import { writeAll, writeFileAtomic } from './atomic.js';
import type { NeutralModule } from './modules.js';

/** Writes the layers of a Keras 2 save_weights() file into `f`; returns how many weights it wrote. */
function writeKerasLayers(f: H5File, modules: readonly NeutralModule[]): number {
  let count = 0;
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
      if (m.defaults?.has(role)) continue; // a BatchNorm without scale/center stays without them
      const keras = m.kind === 'other' ? role : PARAM_NAMES.keras[role as ParamRole] ?? role;
      const tensor = m.kind === 'conv' && role === 'weight' ? oihwToHwio(t) : m.kind === 'dense' && role === 'weight' ? transpose2d(t) : t;
      inner.create_dataset({ name: `${keras}:0`, data: toFloat32(tensor), shape: [...tensor.shape], dtype: '<f4' });
      weightNames.push(`${layer}/${keras}:0`);
      count++;
    }
    g.create_attribute('weight_names', weightNames.length > 0 ? weightNames : ['']);
  }
  return count;
}

/**
 * Writes a Keras 2 `save_weights()` HDF5 file: root attributes `layer_names`, `backend`,
 * `keras_version`; a group per layer with `weight_names` and datasets `<layer>/<layer>/<w>:0`.
 * Convs become plain Conv2D kernels (M, N, C_in/g, C_out), dense kernels (in, out). Float32 data
 * (h5wasm cannot write float16). The file is built in HDF5's in-memory file system and written
 * out atomically (a temporary sibling renamed into place, removed on failure or signal); `-`
 * writes it to standard output.
 */
export function writeKerasH5(path: string, modules: readonly NeutralModule[]): number {
  let count = 0;
  const bytes = buildHdf5((f) => {
    count = writeKerasLayers(f, modules);
  });
  writeFileAtomic(path, (fd) => writeAll(fd, bytes));
  return count;
}
