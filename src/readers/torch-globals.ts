import { DoconvError } from '../errors.js';
import { PyCallable, PyDict, PyFloat, PyGlobal, PyObject, PyTuple, type PyValue } from '../formats/pickle-values.js';
import type { DType } from '../tensor/dtype.js';

/** A typed storage class such as torch.FloatStorage: a marker carrying its element type. */
export class StorageType {
  constructor(readonly name: string, readonly dtype: DType | undefined) {}
}

const STORAGE_DTYPES: Readonly<Record<string, DType | undefined>> = {
  FloatStorage: 'float32',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  DoubleStorage: 'float64',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  // Known to torch but not to us: reading them is fine, materialising their tensors is a clear error.
  ComplexFloatStorage: undefined,
  ComplexDoubleStorage: undefined,
  QInt8Storage: undefined,
  QUInt8Storage: undefined,
  QInt32Storage: undefined,
};

/** Modules whose globals only ever appear in a pickle to run code: refused outright, by name. */
const FORBIDDEN_MODULES = new Set([
  'os', 'posix', 'nt', 'subprocess', 'sys', 'shutil', 'socket', 'importlib', 'pickle', '_pickle', 'marshal',
  'types', 'runpy', 'code', 'codeop', 'pty', 'ctypes', 'commands', 'webbrowser', 'pdb', 'timeit', 'platform',
  'multiprocessing', 'asyncio', 'signal', 'tempfile', 'io', 'operator', 'functools', 'urllib', 'requests', 'http',
  'ftplib', 'smtplib', 'telnetlib', 'popen2', 'pip', 'setuptools', 'distutils', 'bdb', 'trace', 'cProfile',
  'profile', 'glob', 'pathlib', 'zipimport', 'threading', '_thread', 'inspect', 'gc', 'site', 'ensurepip',
]);
const SAFE_BUILTINS = new Set(['set', 'frozenset', 'slice', 'complex', 'bytearray', 'list', 'dict', 'tuple', 'object']);

/** A tensor reconstruction request from the pickle; the reader turns it into a Tensor. */
export interface TensorRebuild {
  storage: PyValue;
  offset: PyValue;
  shape: PyValue;
  stride: PyValue;
  at: number;
}

/**
 * The global allow-list for torch checkpoints, modelled on torch.load(weights_only=True): tensor
 * and parameter rebuilds, typed storages, OrderedDict, torch.Size/device, numpy scalars. Known code
 * execution vectors are refused with PICKLE_FORBIDDEN_GLOBAL; any other class becomes an inert
 * placeholder (a PyObject), so whole pickled nn.Modules still yield their tensors.
 */
export function makeTorchGlobalResolver(rebuildTensor: (r: TensorRebuild) => PyValue, onPlaceholder: (qualifiedName: string) => void = () => {}) {
  return (module: string, name: string, at: number): PyValue => {
    const qualified = `${module}.${name}`;
    const top = module.split('.')[0]!;
    if (FORBIDDEN_MODULES.has(top) || ((top === 'builtins' || top === '__builtin__') && !SAFE_BUILTINS.has(name))) {
      throw new DoconvError('PICKLE_FORBIDDEN_GLOBAL', `pickle references ${qualified}, which could run code; refused (nothing was executed)`, { offset: at });
    }
    if (module === 'torch' && Object.hasOwn(STORAGE_DTYPES, name)) return new StorageType(name, STORAGE_DTYPES[name]);
    switch (qualified) {
      case 'collections.OrderedDict':
        return new PyCallable(qualified, (args) => {
          const d = new PyDict(true);
          const init = args[0];
          if (init instanceof PyDict) for (const [k, v] of init.entries()) d.set(k, v);
          return d;
        });
      case 'torch._utils._rebuild_tensor_v2':
      case 'torch._utils._rebuild_tensor':
        return new PyCallable(qualified, (args) => {
          if (args.length < 4) throw new DoconvError('PICKLE_INVALID', `${name} needs 4 or more arguments, got ${args.length}`);
          return rebuildTensor({ storage: args[0]!, offset: args[1]!, shape: args[2]!, stride: args[3]!, at });
        });
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        return new PyCallable(qualified, (args) => args[0] ?? null);
      case 'torch._tensor._rebuild_from_type_v2':
        // (func, type, args, state): a Parameter or tensor subclass; rebuild the plain tensor.
        return new PyCallable(qualified, (args) => {
          const fn = args[0];
          const inner = args[2];
          if (!(fn instanceof PyCallable) || !(inner instanceof PyTuple)) throw new DoconvError('PICKLE_INVALID', 'unexpected _rebuild_from_type_v2 arguments');
          return fn.call(inner.items);
        });
      case 'torch.Size':
        return new PyCallable(qualified, (args) => (args[0] instanceof PyTuple ? args[0] : new PyTuple([])));
      case 'torch.device':
        return new PyCallable(qualified, (args) => args.map((a) => String(a)).join(':'));
      case 'copyreg._reconstructor':
      case 'copy_reg._reconstructor':
        // (cls, base, state): object.__new__(cls); the class stays inert.
        return new PyCallable(qualified, (args) => {
          const cls = args[0];
          if (!(cls instanceof PyGlobal)) throw new DoconvError('PICKLE_INVALID', '_reconstructor of a class we do not keep inert');
          return new PyObject(cls, []);
        });
      case '_codecs.encode':
        // numpy pickles bytes as encode(latin1-string, 'latin1') under protocol 2.
        return new PyCallable(qualified, (args) => {
          if (typeof args[0] !== 'string' || (args[1] !== 'latin1' && args[1] !== 'latin-1')) {
            throw new DoconvError('PICKLE_INVALID', '_codecs.encode is only accepted for latin1 strings');
          }
          return new Uint8Array(Buffer.from(args[0], 'latin1'));
        });
      case 'numpy.core.multiarray.scalar':
      case 'numpy._core.multiarray.scalar':
        return new PyCallable(qualified, (args) => decodeNumpyScalar(args[0] ?? null, args[1] ?? null));
      case 'numpy.dtype':
        return new PyCallable(qualified, (args) => new NumpyDType(String(args[0])));
      case 'builtins.set':
      case 'builtins.frozenset':
      case '__builtin__.set':
        return new PyCallable(qualified, (args) => args[0] ?? null);
      default:
        onPlaceholder(qualified);
        return new PyGlobal(module, name);
    }
  };
}

/** numpy.dtype('f8') and friends, reduced to the type string; BUILD sets its (ignored) state. */
export class NumpyDType extends PyObject {
  constructor(readonly type: string) {
    super(new PyGlobal('numpy', 'dtype'), [type]);
  }
}

function decodeNumpyScalar(dtype: PyValue, data: PyValue): PyValue {
  if (!(dtype instanceof NumpyDType) || !(data instanceof Uint8Array)) return null;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const t = dtype.type;
  const want: Record<string, number> = { f8: 8, f4: 4, i8: 8, i4: 4, u1: 1, b1: 1 };
  if (Object.hasOwn(want, t) && data.byteLength !== want[t]) throw new DoconvError('PICKLE_INVALID', `numpy scalar of type ${t} with ${data.byteLength} bytes`);
  switch (t) {
    case 'f8':
      return new PyFloat(v.getFloat64(0, true));
    case 'f4':
      return new PyFloat(v.getFloat32(0, true));
    case 'i8': {
      const x = v.getBigInt64(0, true);
      return x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x;
    }
    case 'i4':
      return v.getInt32(0, true);
    case 'u1':
      return v.getUint8(0);
    case 'b1':
      return v.getUint8(0) !== 0;
    default:
      return null;
  }
}
