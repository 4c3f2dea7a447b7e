import type { DoConvLayer } from '../doconv/layer.js';
import type { PyValue } from '../formats/pickle-values.js';
import type { NamedTensor } from './tree.js';

export type Framework = 'pytorch' | 'keras' | 'gluon';

/** A checkpoint read into the common form every later stage works on. */
export interface Checkpoint {
  file: string;
  format: string;
  framework: Framework;
  byteSize: number;
  /** The object tree as saved (dicts, lists, scalars, tensors); emitters keep its nesting. */
  root: PyValue;
  /** Every tensor, named by its dotted path, in file order. */
  tensors: NamedTensor[];
  /** Every DO-Conv layer recognised. */
  layers: DoConvLayer[];
  /** Framework configuration stored with the weights (a Keras model_config), if any. */
  config?: unknown;
  /** Things worth telling a user: placeholders for unknown classes, copied views, assumptions. */
  notes: string[];
  /** SHA-256 of the file's bytes, hex (computed on first call). */
  sha256(): string;
  /** Releases the file (file-backed sources hold a descriptor). */
  close(): void;
}
