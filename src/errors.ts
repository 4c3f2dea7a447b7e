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
  | 'NPY_INVALID'
  /** A path or name taken from the input would leave its folder (`..`, separators, absolute paths). */
  | 'UNSAFE_PATH'
  /** A path that must be a regular file is a FIFO, device, socket or folder. */
  | 'NOT_REGULAR_FILE'
  /** A size, ratio, count, depth or time bound of the README's "Bad input" section was exceeded. */
  | 'LIMIT_EXCEEDED'
  /** A feature of the input format that is refused on purpose (HDF5 external storage, virtual datasets, ...). */
  | 'UNSUPPORTED_FEATURE'
  /** A download or registry request failed (HTTP status, redirect, refused address, stalled transfer). */
  | 'DOWNLOAD_FAILED'
  /** A model (ONNX, TensorFlow.js) that is malformed or fails when run. */
  | 'MODEL_INVALID'
  /** The run was stopped by a signal (SIGINT, SIGTERM) before it finished. */
  | 'INTERRUPTED';

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
  return escapeControl(parts.length > 0 ? `${parts.join(', ')}: ${reason}` : reason);
}

/**
 * Names from the input (keys, entry names, file names) may hold newlines and terminal escapes:
 * every control character (C0, DEL, C1, and the Unicode line/paragraph separators and bidi
 * overrides) is written as a visible escape, so a message is always one line that colours nothing.
 */
export function escapeControl(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    switch (c) {
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      default: {
        const code = c.charCodeAt(0);
        return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
      }
    }
  });
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
