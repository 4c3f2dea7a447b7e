import { DoconvError } from '../errors.js';

export type InputLayout = 'NCHW' | 'NHWC';

export interface InputShapeWhere {
  /** The input's file, named in the error. */
  file?: string;
  /** The shape as the caller gave it, when `given` is that shape turned (NCHW data for an NHWC model). */
  asGiven?: readonly number[];
}

const shown = (dims: readonly (number | string)[]): string => `[${dims.join(', ')}]`;

/**
 * Checks an input's shape against the model's declared input before anything is run or allocated
 * for it (ONNX and TensorFlow.js alike): the same rank, and every fixed dimension equal; a symbolic
 * dimension (dynamic batch, --dynamic-size height and width) takes any size. A model that declares
 * no shape (a TensorFlow.js folder without a signature) is not checked. Throws BAD_ARGUMENT naming
 * both shapes and the fix.
 */
export function checkInputShape(given: readonly number[], declared: readonly (number | string)[], layout: InputLayout, where: InputShapeWhere = {}): void {
  if (declared.length === 0) return;
  const problem = shapeProblem(given, declared, layout);
  if (problem === undefined) return;
  const asGiven = where.asGiven !== undefined ? `${shown(where.asGiven)} (as ${layout} ${shown(given)})` : shown(given);
  throw new DoconvError('BAD_ARGUMENT', `input of shape ${asGiven} does not fit the model's input ${shown(declared)} (${layout}): ${problem}`, where.file !== undefined ? { file: where.file } : {});
}

/** What does not fit, with what to do about it; undefined when the shape fits. */
function shapeProblem(given: readonly number[], declared: readonly (number | string)[], layout: InputLayout): string | undefined {
  const fixed = (i: number): number | undefined => (typeof declared[i] === 'number' ? (declared[i] as number) : undefined);
  if (given.length !== declared.length) return `the model takes ${declared.length}-D input; give a ${declared.length}-D ${declared.length === 4 ? `${layout} ` : ''}batch`;
  const batch = fixed(0);
  if (batch !== undefined && batch !== given[0]) return `the model takes batches of exactly ${batch}; give ${batch} at a time`;
  if (declared.length !== 4) {
    const at = declared.findIndex((d, i) => i > 0 && typeof d === 'number' && d !== given[i]);
    return at < 0 ? undefined : `dimension ${at} is ${given[at]}, the model's is ${declared[at]}`;
  }
  const [c, h, w] = layout === 'NCHW' ? [1, 2, 3] : [3, 1, 2];
  const channels = fixed(c);
  if (channels !== undefined && channels !== given[c]) return `it has ${given[c]} channel${given[c] === 1 ? "" : "s"} where the model takes ${channels} (${layout}); give ${channels}-channel images in ${layout} order`;
  const [dh, dw] = [fixed(h), fixed(w)];
  if ((dh !== undefined && dh !== given[h]) || (dw !== undefined && dw !== given[w])) {
    const size = `${given[h]}x${given[w]}`;
    return `the model was built for ${dh ?? declared[h]}x${dw ?? declared[w]} images, these are ${size}; resize them, or convert the checkpoint again with --input-size ${size} (or --dynamic-size for any size)`;
  }
  return undefined;
}
