// Issue 12, items 9, 10, 12, 17 (pickle) and 18 (pickle cycles): small hand-made torch files whose
// object graphs are huge when shared objects are expanded, that nest or refer to themselves, that
// alias one storage from thousands of layers, or that hold enormous integers. Each must end in a
// bounded conversion or in exit 1 with one line, never a hang, a heap abort or exit 2.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkWrittenTensors, tensorOrigin } from '../../src/checkpoint/budget.js';
import { loadCheckpoint, loadCheckpointBytes } from '../../src/checkpoint/load.js';
import { collectTensors } from '../../src/checkpoint/tree.js';
import { DoconvError } from '../../src/errors.js';
import { unpickle } from '../../src/formats/pickle.js';
import { PyDict, PyList, PyTuple, type PyValue } from '../../src/formats/pickle-values.js';
import { PickleWriter } from '../../src/formats/pickle-writer.js';
import { makeTorchGlobalResolver } from '../../src/readers/torch-globals.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { bytes, writeTorchZip } from '../helpers/hostile.js';
import { runCli, tempDir, type CliResult } from '../helpers/paths.js';
import {
  APPEND, APPENDS, BUILD, deepTuple, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, floats, get, int, long4, MARK, pickle, put,
  SETITEM, str, tensor, textInt, TUPLE1, tupleDag,
} from './pickle-bounds-helpers.js';

/** Generous hang guard for a spawned CLI (the bugs hang for minutes or abort at 2.4 GiB). */
const HANG_GUARD_MS = 90_000;

const resolveGlobal = makeTorchGlobalResolver(() => null);

/** {'w': a 4-float tensor, ...extra}: the smallest checkpoint convert accepts, plus the hostile part. */
function checkpointWith(dir: string, name: string, ...extra: (number | string | Uint8Array)[]): string {
  const file = join(dir, name);
  writeTorchZip(file, pickle(EMPTY_DICT, str('w'), tensor('0', 4, [4]), SETITEM, ...extra), { '0': floats(4) });
  return file;
}

/** Exit 1 with exactly one line on stderr; the --json error on stdout gives the code. */
function expectOneLineError(r: CliResult, code: string): void {
  expect(r.status, r.stderr).toBe(1);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^doconv-zoo: error: /);
  expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe(code);
}

function expectConverted(r: CliResult): void {
  expect(r.status, r.stderr).toBe(0);
}

async function rootOf(file: string): Promise<PyDict> {
  const ckpt = await loadCheckpoint(file);
  ckpt.close();
  return ckpt.root as PyDict;
}

describe('item 9: the pth writer writes a shared object once (memo), so a tuple DAG stays small', () => {
  it('a 40-level tuple DAG (t = (t, t)) converts to a small .pth that keeps the sharing', async () => {
    const dir = tempDir();
    const file = checkpointWith(dir, 'dag.pth', str('dag'), tupleDag(40), SETITEM);
    expect(statSync(file).size).toBeLessThan(2048);
    const out = join(dir, 'out.pth');
    expectConverted(runCli(['convert', file, '-o', out], HANG_GUARD_MS));
    expect(statSync(out).size).toBeLessThan(64 << 10);
    let t = (await rootOf(out)).get('dag') as PyTuple;
    // every level is one tuple twice; the leaves are () (which pickle, like Python, never memoises)
    for (let level = 0; level < 39; level++) {
      expect(t.items).toHaveLength(2);
      expect(t.items[0]).toBe(t.items[1]);
      t = t.items[0] as PyTuple;
    }
    expect(t.items.map((x) => (x as PyTuple).items.length)).toEqual([0, 0]);
  });

  it('PickleWriter emits BINGET for an object it has written before', () => {
    let t = new PyTuple([]);
    for (let i = 0; i < 40; i++) t = new PyTuple([t, t]);
    const w = new PickleWriter(() => false);
    w.value(t);
    const out = w.finish();
    expect(out.length).toBeLessThan(1024);
    const back = unpickle(out, { resolveGlobal }).value as PyTuple;
    expect(back.items[0]).toBe(back.items[1]);
  });

  it('PickleWriter refuses to grow past its maxBytes with LIMIT_EXCEEDED', () => {
    const w = new PickleWriter(() => false, { maxBytes: 1000 });
    const err = (() => {
      try {
        w.value(new PyList(Array.from({ length: 300 }, (_, i) => `string number ${i}`)));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(DoconvError);
    expect((err as DoconvError).code).toBe('LIMIT_EXCEEDED');
    expect((err as DoconvError).message).toContain('1000');
  });
});

describe('item 10: every tree walk is iterative or bounded and visits a shared object once', () => {
  it('a tuple DAG used as a dict key: inspect answers at once with a bounded tensor name', () => {
    const dir = tempDir();
    const file = join(dir, 'dagkey.pth');
    writeTorchZip(file, pickle(EMPTY_DICT, tupleDag(40), tensor('0', 4, [4]), SETITEM), { '0': floats(4) });
    const r = runCli(['inspect', file, '--json'], HANG_GUARD_MS);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { tensors: { name: string }[] };
    expect(report.tensors).toHaveLength(1);
    expect(report.tensors[0]!.name.length).toBeLessThanOrEqual(1100);
    expect(report.tensors[0]!.name.startsWith('((((')).toBe(true);
    const out = join(dir, 'out.pth');
    expectConverted(runCli(['convert', file, '-o', out], HANG_GUARD_MS));
    expect(statSync(out).size).toBeLessThan(64 << 10);
  });

  it('500k items in one APPENDS read and convert without overflowing the stack', async () => {
    const dir = tempDir();
    const items = new Uint8Array(1_000_000);
    for (let i = 0; i < items.length; i += 2) {
      items[i] = 0x4b; // BININT1 7
      items[i + 1] = 7;
    }
    const file = checkpointWith(dir, 'appends.pth', str('l'), EMPTY_LIST, MARK, items, APPENDS, SETITEM);
    const ckpt = await loadCheckpointBytes(new Uint8Array(readFileSync(file)), file);
    expect(((ckpt.root as PyDict).get('l') as PyList).items).toHaveLength(500_000);
    const out = join(dir, 'out.pth');
    expectConverted(runCli(['convert', file, '-o', out], HANG_GUARD_MS));
    const back = (await rootOf(out)).get('l') as PyList;
    expect(back.items).toHaveLength(500_000);
    expect(back.items[499_999]).toBe(7);
  });

  it.each([
    ['a list that contains itself', bytes(EMPTY_LIST, put(1), get(1), APPEND)],
    ['a dict that contains itself', bytes(EMPTY_DICT, put(2), str('me'), get(2), SETITEM)],
    // l = []; t = (l,); l.append(t): a tuple inside itself, through a list
    ['a tuple that contains itself through a list', bytes(EMPTY_LIST, put(3), TUPLE1, put(4), get(3), get(4), APPEND, 0x30)],
  ])('%s converts (pickle cycles are written as pickle writes them), not exit 2', async (_what, cyclic) => {
    const dir = tempDir();
    const file = checkpointWith(dir, 'cycle.pth', str('c'), cyclic, SETITEM);
    const out = join(dir, 'out.pth');
    expectConverted(runCli(['convert', file, '-o', out], HANG_GUARD_MS));
    const c = (await rootOf(out)).get('c');
    if (c instanceof PyList) expect(c.items[0]).toBe(c);
    else if (c instanceof PyDict) expect(c.get('me')).toBe(c);
    else {
      const inner = (c as PyTuple).items[0] as PyList;
      expect(inner.items[0]).toBe(c);
    }
    expectConverted(runCli(['convert', file, '-o', join(dir, 'out.safetensors')], HANG_GUARD_MS));
  });

  it('a key nested 100000 tuples deep converts (the writer keeps no native stack per level)', async () => {
    const dir = tempDir();
    const file = checkpointWith(dir, 'deepkey.pth', deepTuple(100_000), str('v'), SETITEM);
    const out = join(dir, 'out.pth');
    expectConverted(runCli(['convert', file, '-o', out], HANG_GUARD_MS));
    const root = await rootOf(out);
    let key = root.keys[1] as PyValue;
    let depth = 0;
    while (key instanceof PyTuple && key.items.length === 1) {
      key = key.items[0]!;
      depth++;
    }
    expect(depth).toBe(100_000);
  });

  it('a tensor under a key nested 100000 tuples deep gets a bounded name', () => {
    const dir = tempDir();
    const file = join(dir, 'deepname.pth');
    writeTorchZip(file, pickle(EMPTY_DICT, deepTuple(100_000), tensor('0', 4, [4]), SETITEM), { '0': floats(4) });
    const r = runCli(['inspect', file, '--json'], HANG_GUARD_MS);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { tensors: { name: string }[] };
    expect(report.tensors[0]!.name.length).toBeLessThanOrEqual(1100);
  });

  it('a state dict whose _metadata nests 100000 dicts deep converts, not exit 2', async () => {
    const dir = tempDir();
    // {'a': {'a': ... {}}}: 100000 times EMPTY_DICT 'a', an innermost EMPTY_DICT, 100000 SETITEMs
    const level = bytes(EMPTY_DICT, str('a'));
    const deep = Buffer.concat([...Array.from({ length: 100_000 }, () => level), bytes(EMPTY_DICT), new Uint8Array(100_000).fill(SETITEM)]);
    const file = join(dir, 'deepmeta.pth');
    writeTorchZip(
      file,
      pickle('c', 'collections\nOrderedDict\n', EMPTY_TUPLE, 0x52, str('w'), tensor('0', 4, [4]), SETITEM, EMPTY_DICT, str('_metadata'), deep, SETITEM, BUILD),
      { '0': floats(4) },
    );
    const out = join(dir, 'out.pth');
    expectConverted(runCli(['convert', file, '-o', out], HANG_GUARD_MS));
    let d = (await rootOf(out)).attributes?.get('_metadata') as PyDict;
    let depth = 0;
    while (d.get('a') instanceof PyDict) {
      d = d.get('a') as PyDict;
      depth++;
    }
    expect(depth).toBe(100_000);
    expectConverted(runCli(['convert', file, '-o', join(dir, 'flat.pth'), '--flatten'], HANG_GUARD_MS));
  });

  it('a 1 MiB key repeated down 500 levels is refused (PICKLE_LIMIT on the names), not a 500 MB name', () => {
    const dir = tempDir();
    const parts: (number | Uint8Array)[] = [EMPTY_DICT, str('k'.repeat(1 << 20)), put(1), EMPTY_DICT];
    for (let i = 1; i < 500; i++) parts.push(get(1), EMPTY_DICT);
    parts.push(str('w'), tensor('0', 4, [4]), new Uint8Array(501).fill(SETITEM));
    const file = join(dir, 'longnames.pth');
    writeTorchZip(file, pickle(...parts), { '0': floats(4) });
    expect(statSync(file).size).toBeLessThan(1.1 * 2 ** 20);
    const r = runCli(['inspect', file, '--json'], HANG_GUARD_MS);
    expectOneLineError(r, 'PICKLE_LIMIT');
    expect(r.stderr.length).toBeLessThan(2000);
  });
});

describe('item 12: aliased storages are fused and written once; expansion by reference is refused', () => {
  // W (64, 64, 9) and D (64, 9, 9): a 3x3 DO-Conv layer with D_mul 9 (144 KiB of W).
  const W_SHAPE = [64, 64, 9];
  const D_SHAPE = [64, 9, 9];
  const W_NUMEL = 64 * 64 * 9;
  const D_NUMEL = 64 * 9 * 9;
  const LAYERS = 2000;

  function layersFile(dir: string, name: string, layer: (i: number) => Uint8Array[], wNumel = W_NUMEL): string {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < LAYERS; i++) parts.push(...layer(i));
    const file = join(dir, name);
    writeTorchZip(file, pickle(EMPTY_DICT, MARK, ...parts, 0x75), { '0': floats(wNumel, 1e-4), '1': floats(D_NUMEL, 1e-3) });
    return file;
  }

  it('2000 layers naming one W and one D through the memo: fused once, written once', async () => {
    const dir = tempDir();
    const file = layersFile(dir, 'memo.pth', (i) =>
      i === 0
        ? [str('l0.W'), tensor('0', W_NUMEL, W_SHAPE), put(10), str('l0.D'), tensor('1', D_NUMEL, D_SHAPE), put(11)]
        : [str(`l${i}.W`), get(10), str(`l${i}.D`), get(11)],
    );
    const out = join(dir, 'out.pth');
    expectConverted(runCli(['convert', file, '-o', out], HANG_GUARD_MS));
    expect(statSync(out).size).toBeLessThan(1 << 20);
    const root = await rootOf(out);
    expect(root.get('l0.weight')).toBeInstanceOf(Tensor);
    expect(root.get('l1999.weight')).toBe(root.get('l0.weight'));
  });

  it('2000 layers each rebuilding a tensor over the same two storages: fused once, written once', async () => {
    const dir = tempDir();
    const file = layersFile(dir, 'alias.pth', (i) => [str(`l${i}.W`), tensor('0', W_NUMEL, W_SHAPE), str(`l${i}.D`), tensor('1', D_NUMEL, D_SHAPE)]);
    const out = join(dir, 'out.pth');
    expectConverted(runCli(['convert', file, '-o', out], HANG_GUARD_MS));
    expect(statSync(out).size).toBeLessThan(1 << 20);
    const root = await rootOf(out);
    expect(root.get('l1999.weight')).toBe(root.get('l0.weight'));
  });

  it('2000 layers over 2000 different views of one storage: fusion work refused (LIMIT_EXCEEDED)', () => {
    const dir = tempDir();
    const file = layersFile(dir, 'views.pth', (i) => [str(`l${i}.W`), tensor('0', W_NUMEL + LAYERS, W_SHAPE, i), str(`l${i}.D`), tensor('1', D_NUMEL, D_SHAPE)], W_NUMEL + LAYERS);
    const out = join(dir, 'out.pth');
    const r = runCli(['convert', file, '-o', out, '--json'], HANG_GUARD_MS);
    expectOneLineError(r, 'LIMIT_EXCEEDED');
    expect(r.stderr).toContain('fusion');
  });

  // One 256 KiB storage viewed by 1000 tensors (a 100 KB file).
  function aliasedTensorsFile(dir: string, views: 'same' | 'shifted'): string {
    const numel = 65536;
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 1000; i++) parts.push(str(`t${i}`), views === 'same' ? tensor('0', numel + 1000, [numel]) : tensor('0', numel + 1000, [numel], i));
    const file = join(dir, `${views}.pth`);
    writeTorchZip(file, pickle(EMPTY_DICT, MARK, ...parts, 0x75), { '0': floats(numel + 1000) });
    return file;
  }

  it('1000 tensors over one storage: the .pth holds the storage once, shared as torch shares it', async () => {
    const dir = tempDir();
    const file = aliasedTensorsFile(dir, 'shifted');
    const out = join(dir, 'out.pth');
    expectConverted(runCli(['convert', file, '-o', out], HANG_GUARD_MS));
    expect(statSync(out).size).toBeLessThan(1 << 20);
    const ckpt = await loadCheckpoint(out);
    const t0 = ckpt.tensors.find((t) => t.name === 't0')!.tensor;
    const t999 = ckpt.tensors.find((t) => t.name === 't999')!.tensor;
    expect(tensorOrigin(t999)?.storage).toBe(tensorOrigin(t0)?.storage);
    expect(Array.from(new Float32Array(new Uint8Array(t999.bytes()).buffer, 0, 3))).toEqual([999, 1000, 1001]);
    ckpt.close();
  });

  it('--dtype casts each distinct view once: 1000 references to one view stay one storage', () => {
    const dir = tempDir();
    const file = aliasedTensorsFile(dir, 'same');
    const out = join(dir, 'out.pth');
    expectConverted(runCli(['convert', file, '-o', out, '--dtype', 'float16'], HANG_GUARD_MS));
    expect(statSync(out).size).toBeLessThan(1 << 20);
  });

  it('--dtype float64 of 1000 different views of one storage is refused (LIMIT_EXCEEDED)', () => {
    const dir = tempDir();
    const file = aliasedTensorsFile(dir, 'shifted');
    const r = runCli(['convert', file, '-o', join(dir, 'out.pth'), '--dtype', 'float64', '--json'], HANG_GUARD_MS);
    expectOneLineError(r, 'LIMIT_EXCEEDED');
  });

  it('checkWrittenTensors: 1000 references to one 1 MiB tensor would be 1 GB of safetensors: LIMIT_EXCEEDED', async () => {
    const one = new Tensor('float32', [262144], new Uint8Array(1 << 20));
    const refs = Array.from({ length: 1000 }, (_, i) => ({ name: `t${i}`, tensor: one }));
    expect(() => checkWrittenTensors(refs, 'safetensors')).toThrow(DoconvError);
    try {
      checkWrittenTensors(refs, 'npz');
    } catch (err) {
      expect((err as DoconvError).code).toBe('LIMIT_EXCEEDED');
      expect((err as DoconvError).message).toMatch(/npz/);
    }
    // tied weights (a tensor under two names) are what real checkpoints do: accepted
    expect(() => checkWrittenTensors(refs.slice(0, 2), 'safetensors')).not.toThrow();
    // distinct tensor objects over one storage count as that storage once
    const dir = tempDir();
    const file = aliasedTensorsFile(dir, 'same');
    const ckpt = await loadCheckpoint(file);
    expect(ckpt.tensors).toHaveLength(1000);
    expect(() => checkWrittenTensors(collectTensors(ckpt.root), 'safetensors')).toThrow(/safetensors/);
    ckpt.close();
  });
});

describe('item 17 (pickle): integers are bounded as CPython bounds them and written as pickle writes them', () => {
  it('a 5-million-digit INT is refused at once (PICKLE_LIMIT), not parsed for minutes', () => {
    const dir = tempDir();
    const file = checkpointWith(dir, 'digits.pth', str('n'), textInt('7'.repeat(5_000_000)), SETITEM);
    const r = runCli(['convert', file, '-o', join(dir, 'out.pth'), '--json'], HANG_GUARD_MS);
    expectOneLineError(r, 'PICKLE_LIMIT');
    expect(r.stderr).toMatch(/4300/);
    expect(r.stderr).toMatch(/offset \d+/);
  });

  it.each([
    ['INT', 'I'],
    ['LONG', 'L'],
  ])('text %s: 4300 digits read, 4301 refused (int_max_str_digits)', (_name, op) => {
    const ok = unpickle(bytes(op, '9'.repeat(4300), op === 'L' ? 'L\n' : '\n', 0x2e), { resolveGlobal }).value;
    expect(ok).toBe(10n ** 4300n - 1n);
    const neg = unpickle(bytes(op, '-', '9'.repeat(4300), '\n', 0x2e), { resolveGlobal }).value;
    expect(neg).toBe(-(10n ** 4300n - 1n));
    expect(() => unpickle(bytes(op, '9'.repeat(4301), '\n', 0x2e), { resolveGlobal })).toThrow(/4300/);
  });

  it('an integer of more than 255 bytes is written as LONG4 and reads back equal', () => {
    const big = -(2n ** 2400n) + 12345n;
    const w = new PickleWriter(() => false);
    w.value(big);
    const out = w.finish();
    expect(out[2]).toBe(0x8b); // after PROTO 2: LONG4, not LONG1
    expect(unpickle(out, { resolveGlobal }).value).toBe(big);
    const small = new PickleWriter(() => false);
    small.value(2n ** 70n);
    expect(small.finish()[2]).toBe(0x8a); // LONG1 where the length fits a byte
  });

  it('a 300-byte LONG4 in a checkpoint survives convert', async () => {
    const dir = tempDir();
    const le = new Uint8Array(300).fill(0x11);
    le[299] = 0x01;
    const file = checkpointWith(dir, 'long4.pth', str('n'), long4(le), SETITEM);
    const out = join(dir, 'out.pth');
    expectConverted(runCli(['convert', file, '-o', out], HANG_GUARD_MS));
    const want = BigInt(`0x${Buffer.from(le).reverse().toString('hex')}`);
    expect((await rootOf(out)).get('n')).toBe(want);
  });
});
