import { PARAM_NAMES, type ParamRole } from '../arch/naming.js';
import { writeNdarrayList, type NamedArray } from '../formats/ndarray-list.js';
import type { NeutralModule } from './modules.js';
import { writeFileAtomic } from './atomic.js';


/** The modules as Gluon save_parameters names: `<module>.<weight|bias|gamma|beta|running_mean|running_var>`. */
export function gluonArrays(modules: readonly NeutralModule[]): NamedArray[] {
  const out: NamedArray[] = [];
  for (const m of modules) {
    for (const [role, tensor] of m.params) {
      const leaf = m.kind === 'other' ? role : PARAM_NAMES.gluon[role as ParamRole] ?? role;
      out.push({ name: m.name === '' ? leaf : `${m.name}.${leaf}`, tensor });
    }
  }
  return out;
}

/** Writes an MXNet NDArray list (V2 records), as Gluon's save_parameters does. */
export function writeGluonParams(path: string, modules: readonly NeutralModule[]): number {
  const arrays = gluonArrays(modules);
  writeFileAtomic(path, (fd) => writeNdarrayList(fd, arrays));
  return arrays.length;
}
