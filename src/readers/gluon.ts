import type { ByteSource } from '../formats/byte-source.js';
import { readNdarrayList } from '../formats/ndarray-list.js';
import { PyDict } from '../formats/pickle-values.js';
import type { ReadResult } from './read-result.js';

/**
 * A GluonCV/MXNet parameter file (NDArray list): structural save_parameters names
 * (`features.4.0.body.0.weight`), prefixed save_params names (`resnetv10_conv0_weight`) and the
 * `arg:`/`aux:` names of Module checkpoints, all kept as they are.
 */
export function readGluonFile(source: ByteSource): ReadResult {
  const arrays = readNdarrayList(source.read(0, source.size));
  const root = new PyDict(true);
  for (const { name, tensor } of arrays) root.set(name, tensor);
  const notes: string[] = [];
  if (arrays.some((a) => a.name.startsWith('arg:') || a.name.startsWith('aux:'))) notes.push("MXNet Module checkpoint: 'arg:'/'aux:' prefixes are dropped when matching a network");
  return { format: 'mxnet-ndarray-list', framework: 'gluon', root, notes };
}
