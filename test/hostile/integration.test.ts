import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { binunicode, bytes, tensorPickle, writeTorchZip } from '../helpers/hostile.js';
import { ROOT, runCli, tempDir } from '../helpers/paths.js';

// Issue 12: the places where one engineer's bound has to be honoured by another layer's caller
// (convert calling the output budget, network building bounding the input size, detection
// bounding stage numbers taken from key names).

const EXAMPLE = join(ROOT, 'examples', 'doconv_resnet20_cifar.pth');

/** {'w': t, 'w1': t, ..., 'w<n-1>': t}: one tensor over one storage, referenced n times through the memo. */
function aliasedPickle(numel: number, references: number): Uint8Array {
  const one = tensorPickle(numel, [numel], [1]);
  const head = one.subarray(0, one.length - 2); // without SETITEM and STOP
  const rest: (number | Uint8Array)[] = [0x71, 0, 0x73]; // BINPUT 0, SETITEM
  for (let i = 1; i < references; i++) rest.push(binunicode(`w${i}`), 0x68, 0, 0x73); // key, BINGET 0, SETITEM
  return bytes(head, ...rest, 0x2e);
}

/** {key: tensor} with the key of our choosing (tensorPickle names it 'w'). */
function keyedPickle(key: string): Uint8Array {
  const one = tensorPickle(4, [4], [1]);
  return bytes(one.subarray(0, 3), binunicode(key), one.subarray(3 + 6));
}

function expectOneLineError(r: { status: number; stderr: string }, ...needles: string[]): void {
  expect(r.status).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  for (const n of needles) expect(lines[0]).toContain(n);
}

describe('item 12 through convert: output bounded by what the input can justify', () => {
  it('one 1 MiB tensor referenced 1000 times: .safetensors and .npz refused (LIMIT_EXCEEDED), .pth writes it once', () => {
    const dir = tempDir();
    const file = join(dir, 'aliased.pth');
    writeTorchZip(file, aliasedPickle(262_144, 1000), { '0': new Uint8Array(1 << 20) });
    for (const ext of ['safetensors', 'npz']) {
      const out = join(dir, `out.${ext}`);
      const r = runCli(['convert', file, '-o', out, '--json'], 60_000);
      expectOneLineError(r, file);
      expect(JSON.parse(r.stdout).error.code).toBe('LIMIT_EXCEEDED');
      expect(existsSync(out)).toBe(false);
    }
    const pth = join(dir, 'out.pth');
    expect(runCli(['convert', file, '-o', pth], 60_000).status).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['aliased.pth', 'out.pth']);
  });
});

describe('items 12 and 16: sizes asked for are bounded before anything is built', () => {
  it('convert --input-size 80000x80000 is refused in one line, nothing written', () => {
    const dir = tempDir();
    const out = join(dir, 'big.onnx');
    const r = runCli(['convert', EXAMPLE, '-o', out, '--input-size', '80000x80000'], 60_000);
    expectOneLineError(r, '80000x80000', '16384');
    expect(existsSync(out)).toBe(false);
  });
});

describe('names from the input used as numbers or object keys', () => {
  it('a key layer99999999.0.conv1.weight does not make a 100-million-slot array: one line, at once', () => {
    const dir = tempDir();
    const file = join(dir, 'stages.pth');
    writeTorchZip(file, keyedPickle('layer99999999.0.conv1.weight'), { '0': new Uint8Array(16) });
    const r = runCli(['convert', file, '-o', join(dir, 'x.onnx')], 30_000);
    expectOneLineError(r, file);
  });

  it('a pickle global torch.constructor is an inert placeholder, not a storage type', () => {
    const dir = tempDir();
    const file = join(dir, 'proto.pth');
    const p = bytes(0x80, 2, 0x7d, binunicode('x'), 'c', 'torch\nconstructor\n', 0x73, 0x2e);
    writeTorchZip(file, p);
    const r = runCli(['inspect', file, '--json'], 30_000);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toContain('internal error');
  });
});
