import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeNpz } from '../../src/emit/npz.js';
import { writeSafetensors } from '../../src/emit/safetensors.js';
import { DoconvError } from '../../src/errors.js';
import { MemorySource } from '../../src/formats/byte-source.js';
import { readFloatNpy, readNpy } from '../../src/formats/npy.js';
import { ZipReader } from '../../src/formats/zip.js';
import { ZipWriter } from '../../src/formats/zip-writer.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { runCli, ROOT, tempDir } from '../helpers/paths.js';
import { deflatedZip, rawNpy } from './containers-helpers.js';

function thrown(fn: () => unknown): DoconvError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DoconvError);
    return err as DoconvError;
  }
  throw new Error('expected a DoconvError, but nothing was thrown');
}

const f4 = (n: number) => new Uint8Array(4 * n);
const tensor = (n = 2) => Tensor.fromFloat32(new Float32Array(n).fill(1), [n]);

describe('zip: deflated entries are bounded before they are inflated (issue 12 item 11)', () => {
  it('an entry declaring 2 GiB from 1 MB of zeros is refused by the deflate ratio, without inflating', () => {
    const zip = new ZipReader(new MemorySource(deflatedZip('archive/data.pkl', new Uint8Array(1 << 20), 2 ** 31)));
    const err = thrown(() => zip.read('archive/data.pkl'));
    expect(err.code).toBe('ZIP_INVALID');
    expect(err.message).toContain('1100:1');
    expect(err.message).toContain('archive/data.pkl');
  });

  it('an entry declaring more than 1 GiB is refused even where the ratio would allow it', () => {
    const zip = new ZipReader(new MemorySource(deflatedZip('big', randomBytes(1 << 20), 2 ** 30 + 1)));
    expect(thrown(() => zip.read('big')).code).toBe('LIMIT_EXCEEDED');
  });

  it('the consumer can bound an entry (config.json, data.pkl) below that: refused before inflating', () => {
    const zip = new ZipReader(new MemorySource(deflatedZip('config.json', new Uint8Array(100_000).fill(0x20))));
    const err = thrown(() => zip.read('config.json', { maxBytes: 1000 }));
    expect(err.code).toBe('LIMIT_EXCEEDED');
    expect(err.message).toContain('1000-byte limit');
    expect(zip.read('config.json').byteLength).toBe(100_000);
  });

  it('an honest deflated entry still reads, and a second read returns the same inflated bytes', () => {
    const data = Buffer.from('x'.repeat(5000) + 'end');
    const zip = new ZipReader(new MemorySource(deflatedZip('a.txt', data)));
    const first = zip.read('a.txt');
    expect(Buffer.from(first).equals(data)).toBe(true);
    expect(zip.read('a.txt')).toBe(first);
  });

  it('convert of a torch archive whose deflated data.pkl lies exits 1 with one line naming the file', () => {
    const dir = tempDir();
    const file = join(dir, 'bomb.pth');
    writeFileSync(file, deflatedZip('archive/data.pkl', new Uint8Array(1 << 20), 2 ** 31));
    const r = runCli(['convert', file, '-o', join(dir, 'out.safetensors')], 60_000);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(file);
    expect(r.stderr).toMatch(/zip bomb|over the \d+-byte limit for it/);
  });
});

describe('npy headers are read as numpy reads them (issue 12 items 17, 18, 19)', () => {
  const header = (shape: string) => `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }\n`;

  it("a repeated 'shape' key takes the last value, as numpy's literal_eval does", () => {
    const t = readNpy(rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), 'shape': (3,), }\n", f4(3)));
    expect(t.shape).toEqual([3]);
  });

  it.each([
    ['an exponent', '(1e1,)'],
    ['a hex literal', '(0x2,)'],
    ['a negative dimension', '(-1,)'],
    ['an int that is not a tuple', '(3)'],
    ['a 5000-digit dimension', `(${'9'.repeat(5000)},)`],
    ['65 dimensions', `(${'1, '.repeat(65)})`],
  ])('a shape with %s is NPY_INVALID naming the file', (_what, shape) => {
    const err = thrown(() => readNpy(rawNpy(header(shape), f4(10)), 'x.npy'));
    expect(err.code).toBe('NPY_INVALID');
    expect(err.file).toBe('x.npy');
  });

  it('unknown keys and text after the dict are refused', () => {
    expect(thrown(() => readNpy(rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", f4(1)))).code).toBe('NPY_INVALID');
    expect(thrown(() => readNpy(rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", f4(1)))).code).toBe('NPY_INVALID');
  });

  it('data shorter or longer than the header says is NPY_INVALID naming the file', () => {
    for (const n of [2, 4]) {
      const err = thrown(() => readNpy(rawNpy(header('(3,)'), f4(n)), 'wrong.npy'));
      expect(err.code).toBe('NPY_INVALID');
      expect(err.message).toContain('wrong.npy');
    }
  });

  it('an integer .npy where floats are needed names the file', () => {
    const err = thrown(() => readFloatNpy(rawNpy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }\n", f4(2)), 'ints.npy'));
    expect(err.code).toBe('DTYPE_UNSUPPORTED');
    expect(err.message).toContain('ints.npy');
  });

  it('predict with an overlong .npy exits 1 with one line naming it (was accepted)', () => {
    const dir = tempDir();
    const input = join(dir, 'long.npy');
    writeFileSync(input, rawNpy(header('(1, 3, 8, 8)'), f4(3 * 64 + 5)));
    const r = runCli(['predict', join(ROOT, 'examples', 'doconv_resnet20_cifar.pth'), '--input', input, '--output', join(dir, 'y.npy')]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(input);
    expect(existsSync(join(dir, 'y.npy'))).toBe(false);
  });
});

describe('safetensors names are own keys, never prototype lookups (issue 12 items 19, 22)', () => {
  it('tensors named constructor, toString, __proto__ and hasOwnProperty are written and read back', () => {
    const out = join(tempDir(), 'proto.safetensors');
    const names = ['constructor', 'toString', '__proto__', 'hasOwnProperty'];
    writeSafetensors(out, names.map((name) => ({ name, tensor: tensor() })));
    const bytes = readFileSync(out);
    const len = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + len).toString('utf8')) as Record<string, unknown>;
    for (const n of names) expect(Object.hasOwn(header, n)).toBe(true);
    expect(Object.keys(header)).toHaveLength(5);
    expect(bytes.byteLength).toBe(8 + len + 8 * names.length);
  });

  it('a duplicate name or the reserved __metadata__ is refused naming the output file, nothing written', () => {
    const dir = tempDir();
    const out = join(dir, 'dup.safetensors');
    const dup = thrown(() => writeSafetensors(out, [{ name: 'a', tensor: tensor() }, { name: 'a', tensor: tensor() }]));
    expect(dup.file).toBe(out);
    expect(dup.key).toBe('a');
    expect(thrown(() => writeSafetensors(out, [{ name: '__metadata__', tensor: tensor() }])).file).toBe(out);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('npz entry names stay inside the archive and are unique (issue 12 item 22)', () => {
  it.each(['../../evil', '/etc/evil', 'a\\..\\b', 'a\u0000b', 'a//b', 'C:/x'])('a tensor named %j is UNSAFE_PATH naming the output, nothing written', (name) => {
    const dir = tempDir();
    const out = join(dir, 'x.npz');
    const err = thrown(() => writeNpz(out, [{ name, tensor: tensor() }]));
    expect(err.code).toBe('UNSAFE_PATH');
    expect(err.file).toBe(out);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('two tensors with one name are refused; Keras-style names with folders are fine', () => {
    const dir = tempDir();
    const err = thrown(() => writeNpz(join(dir, 'd.npz'), [{ name: 'w', tensor: tensor() }, { name: 'w', tensor: tensor() }]));
    expect(err.key).toBe('w');
    expect(readdirSync(dir)).toEqual([]);
    writeNpz(join(dir, 'k.npz'), [{ name: 'conv2d/kernel:0', tensor: tensor() }]);
    expect([...new ZipReader(new MemorySource(readFileSync(join(dir, 'k.npz')))).entries.keys()]).toEqual(['conv2d/kernel:0.npy']);
  });

  it('the zip writer itself refuses unsafe, repeated and overlong entry names', () => {
    const zip = new ZipWriter(-1);
    expect(thrown(() => zip.add('../x', new Uint8Array(0))).code).toBe('UNSAFE_PATH');
    expect(thrown(() => zip.add('x'.repeat(70_000), new Uint8Array(0))).code).toBe('LIMIT_EXCEEDED');
  });
});
