import { describe, expect, it } from 'vitest';
import { DoconvError } from '../src/errors.js';
import { decodeLong, unpickle } from '../src/formats/pickle.js';
import { PyDict, PyFloat, PyGlobal, PyList, PyObject, PyTuple } from '../src/formats/pickle-values.js';
import { PickleWriter } from '../src/formats/pickle-writer.js';
import { makeTorchGlobalResolver } from '../src/readers/torch-globals.js';

const inert = (module: string, name: string) => new PyGlobal(module, name);
const bytes = (...parts: (number | string)[]) =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'number' ? [p] : [...Buffer.from(p, 'latin1')])));
const torchGlobals = makeTorchGlobalResolver(() => null);

describe('the unpickler', () => {
  it('decodes negative LONG1 values as two\'s complement (pickleparser reads them unsigned)', () => {
    expect(decodeLong(Uint8Array.from([0xff]))).toBe(-1);
    expect(decodeLong(Uint8Array.from([0x00, 0x80]))).toBe(-32768);
    expect(decodeLong(Uint8Array.from([0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]))).toBe(0x1950a86a20f9469cfc6cn);
    const r = unpickle(bytes(0x80, 2, 0x8a, 1, 0xfe, 0x2e), { resolveGlobal: inert });
    expect(r.value).toBe(-2);
  });

  it('builds dicts, lists, tuples, memo references and floats as Python does', async () => {
    // {'a': [1, 2.5, 'x'], 'b': (None, True)} with a memoised list fetched twice
    const pkl = bytes(0x80, 2, 0x7d, 0x71, 0, 0x28, 'X', 1, 0, 0, 0, 'a', 0x5d, 0x71, 1, 0x28, 0x4b, 1, 0x47, 0x40, 0x04, 0, 0, 0, 0, 0, 0, 0x58, 1, 0, 0, 0, 'x', 0x65,
      'X', 1, 0, 0, 0, 'b', 0x4e, 0x88, 0x86, 'X', 1, 0, 0, 0, 'c', 0x68, 1, 0x75, 0x2e);
    const d = unpickle(pkl, { resolveGlobal: inert }).value as PyDict;
    const a = d.get('a') as PyList;
    expect(a.items[0]).toBe(1);
    expect(a.items[1]).toEqual(new PyFloat(2.5));
    expect(a.items[2]).toBe('x');
    expect((d.get('b') as PyTuple).items).toEqual([null, true]);
    expect(d.get('c')).toBe(a);
  });

  it('keeps unknown classes inert: GLOBAL + NEWOBJ + BUILD gives a PyObject with its state', async () => {
    const pkl = bytes(0x80, 2, 'c', 'mypkg.models\nNet\n', 0x29, 0x81, 0x7d, 'X', 1, 0, 0, 0, 'k', 0x4b, 7, 0x73, 0x62, 0x2e);
    const obj = unpickle(pkl, { resolveGlobal: torchGlobals }).value as PyObject;
    expect(obj).toBeInstanceOf(PyObject);
    expect(obj.cls.qualifiedName).toBe('mypkg.models.Net');
    expect((obj.state as PyDict).get('k')).toBe(7);
  });

  it.each([
    ['os', 'system'],
    ['posix', 'system'],
    ['subprocess', 'Popen'],
    ['builtins', 'eval'],
    ['__builtin__', 'getattr'],
    ['builtins', '__import__'],
    ['operator', 'attrgetter'],
  ])('refuses %s.%s before anything could call it', async (module, name) => {
    const pkl = bytes(0x80, 2, 'c', `${module}\n${name}\n`, 'X', 4, 0, 0, 0, 'echo', 0x85, 0x52, 0x2e);
    try {
      unpickle(pkl, { resolveGlobal: torchGlobals });
      expect.unreachable();
    } catch (err) {
      expect((err as DoconvError).code).toBe('PICKLE_FORBIDDEN_GLOBAL');
      expect((err as DoconvError).offset).toBe(2);
      expect((err as DoconvError).message).toContain(`${module}.${name}`);
    }
  });

  it.each([
    ['a BINUNICODE longer than the data', bytes(0x80, 2, 'X', 0xff, 0xff, 0xff, 0x7f, 'ab')],
    ['a missing STOP', bytes(0x80, 2, 0x4b, 1)],
    ['an unknown opcode', bytes(0x80, 2, 0xff, 0x2e)],
    ['a GET of a memo slot never stored', bytes(0x80, 2, 0x68, 9, 0x2e)],
    ['a stack underflow', bytes(0x80, 2, 0x52, 0x2e)],
    ['SETITEM on a list', bytes(0x80, 2, 0x5d, 0x4b, 1, 0x4b, 2, 0x73, 0x2e)],
    ['a LONG4 of absurd length', bytes(0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0x7f, 0x2e)],
    ['an empty input', new Uint8Array(0)],
  ])('rejects %s with a DoconvError and an offset', async (_what, pkl) => {
    try {
      unpickle(pkl, { resolveGlobal: inert });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DoconvError);
      expect(typeof (err as DoconvError).offset).toBe('number');
    }
  });

  it('round-trips what the writer emits (OrderedDict with _metadata, ints of every width, floats, bytes)', async () => {
    const d = new PyDict(true);
    d.set('small', 5);
    d.set('neg', -70000);
    d.set('big', 2n ** 70n);
    d.set('f', new PyFloat(2));
    d.set('s', 'héllo');
    d.set('t', new PyTuple([1, new PyList([null, false])]));
    d.set('b', Uint8Array.from([0, 200, 255]));
    d.attributes = new PyDict();
    const meta = new PyDict(true);
    meta.set('', new PyDict());
    d.attributes.set('_metadata', meta);
    const w = new PickleWriter(() => false);
    w.value(d);
    const back = unpickle(w.finish(), { resolveGlobal: torchGlobals }).value as PyDict;
    expect(back.ordered).toBe(true);
    expect([...back.keys]).toEqual(['small', 'neg', 'big', 'f', 's', 't', 'b']);
    expect(back.get('neg')).toBe(-70000);
    expect(back.get('big')).toBe(2n ** 70n);
    expect(back.get('f')).toEqual(new PyFloat(2));
    expect(back.get('s')).toBe('héllo');
    expect(Array.from(back.get('b') as Uint8Array)).toEqual([0, 200, 255]);
    expect(back.attributes?.get('_metadata')).toBeInstanceOf(PyDict);
  });
});
