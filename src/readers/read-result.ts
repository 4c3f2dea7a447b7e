import type { Framework } from '../checkpoint/checkpoint.js';
import type { PyValue } from '../formats/pickle-values.js';

/** What a framework reader hands to the common loader: the saved tree and what was unusual. */
export interface ReadResult {
  format: string;
  framework: Framework;
  root: PyValue;
  notes: string[];
  /** Framework configuration found in the file (a Keras model_config), for architecture building. */
  config?: unknown;
}
