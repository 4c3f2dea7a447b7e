/** Where in the input something went wrong: the file, and a key path or a byte offset inside it. */
export interface ErrorLocation {
  file?: string;
  key?: string;
  offset?: number;
}

/** Stable machine-readable error codes; the CLI maps every one of them to exit code 1. */
export type DoconvErrorCode =
  | 'FILE_NOT_FOUND'
  | 'FILE_EMPTY'
  | 'UNKNOWN_FORMAT'
  | 'WRONG_FORMAT'
  | 'TRUNCATED'
  | 'CORRUPT'
  | 'ZIP_INVALID'
  | 'ZIP_UNSUPPORTED'
  | 'PICKLE_INVALID'
  | 'PICKLE_FORBIDDEN_GLOBAL'
  | 'PICKLE_LIMIT'
  | 'TENSOR_INVALID'
  | 'TENSOR_OUT_OF_BOUNDS'
  | 'DTYPE_UNSUPPORTED'
  | 'NO_TENSORS'
  | 'DOCONV_SHAPE_MISMATCH'
  | 'KERNEL_SHAPE_AMBIGUOUS'
  | 'BAD_ARGUMENT'
  | 'OUTPUT_FAILED'
  | 'NPY_INVALID';

/**
 * The one error type every reader throws for bad input. It carries a code and a location,
 * and its message is a single line that names the file and the offending key or offset.
 */
export class DoconvError extends Error {
  readonly code: DoconvErrorCode;
  readonly file: string | undefined;
  readonly key: string | undefined;
  readonly offset: number | undefined;
  readonly reason: string;

  constructor(code: DoconvErrorCode, reason: string, where: ErrorLocation = {}) {
    super(formatMessage(reason, where));
    this.name = 'DoconvError';
    this.code = code;
    this.reason = reason;
    this.file = where.file;
    this.key = where.key;
    this.offset = where.offset;
  }

  /** The same error with the file name filled in (readers below the file level do not know it). */
  inFile(file: string): DoconvError {
    if (this.file !== undefined) return this;
    return new DoconvError(this.code, this.reason, { file, key: this.key, offset: this.offset });
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.reason, file: this.file, key: this.key, offset: this.offset };
  }
}

function formatMessage(reason: string, where: ErrorLocation): string {
  const parts: string[] = [];
  if (where.file !== undefined) parts.push(where.file);
  if (where.key !== undefined) parts.push(`key '${where.key}'`);
  if (where.offset !== undefined) parts.push(`offset ${where.offset}`);
  return parts.length > 0 ? `${parts.join(', ')}: ${reason}` : reason;
}

/** Attach a file name to a DoconvError thrown inside `fn`; anything else propagates unchanged. */
export function withFile<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof DoconvError) throw err.inFile(file);
    throw err;
  }
}
