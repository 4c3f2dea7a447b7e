import { writeNdarrayList, type NamedArray } from '../formats/ndarray-list.js';
import type { NeutralModule } from './modules.js';
import { writeFileAtomic } from './atomic.js';

const GLUON_ROLE: Record<string, string> = { weight: 'weight', bias: 'bias', gamma: 'gamma', beta: 'beta', mean: 'running_mean', var: 'running_var' };

/** The modules as Gluon save_parameters names: `<module>.<weight|bias|gamma|beta|running_mean|running_var>`. */
export function gluonArrays(modules: readonly NeutralModule[]): NamedArray[] {
  const out: NamedArray[] = [];
  for (const m of modules) {
    for (const [role, tensor] of m.params) {
      const leaf = m.kind === 'other' ? role : GLUON_ROLE[role] ?? role;
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
