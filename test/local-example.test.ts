// Always-run tier: the bundled example (examples/doconv_resnet20_cifar.pth, made by
// scripts/reference/make_example.py) end to end through the CLI, and scripts/example.mjs, the
// README's first command, run as a user runs it. Nothing outside the clone.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint, toFloat32 } from '../src/index.js';
import { readNpyFile, relativeError } from './helpers/npz.js';
import { argmaxRows } from './helpers/onnx.js';
import { ROOT, runCli, tempDir } from './helpers/paths.js';

const ex = (f: string) => join(ROOT, 'examples', f);
const EXAMPLE = ex('doconv_resnet20_cifar.pth');
const INPUT = ex('doconv_resnet20_cifar.input.npy');
const ref = toFloat32(readNpyFile(ex('doconv_resnet20_cifar.expected.npy')));
const dir = tempDir();

function expectReferenceLogits(file: string) {
  const y = toFloat32(readNpyFile(file));
  expect(y.length).toBe(ref.length);
  expect(relativeError(y, ref)).toBeLessThan(1e-4);
  expect(argmaxRows(y, 10)).toEqual(argmaxRows(ref, 10));
}

describe('the bundled example through the CLI', () => {
  it('inspect --json: a CIFAR ResNet-20 with 21 DO-Conv layers (19 3x3, 2 1x1 shortcuts)', () => {
    const r = runCli(['inspect', EXAMPLE, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect([j.format, j.framework]).toEqual(['pytorch-zip', 'pytorch']);
    expect(j.architecture.name).toBe('cifar_resnet20_v1b');
    expect(j.doconvLayers).toHaveLength(21);
    expect(j.doconvLayers.filter((l: { kernel: number[] }) => l.kernel[0] === 3 && l.kernel[1] === 3)).toHaveLength(19);
    expect(j.doconvLayers.filter((l: { name: string }) => l.name.endsWith('downsample.0')).map((l: { kernel: number[] }) => l.kernel)).toEqual([[1, 1], [1, 1]]);
  });

  it('convert -o .pth writes a plain state dict (no D, d_diag or 3-D W left); it converts on to ONNX with the reference logits', async () => {
    const pth = join(dir, 'resnet20.fused.pth');
    const c = runCli(['convert', EXAMPLE, '-o', pth, '--json']);
    expect(c.status, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ to: 'pth', fusedLayers: 21 });
    const back = await loadCheckpoint(pth);
    expect(back.layers).toEqual([]);
    expect(back.tensors.some((t) => /\.(W|D|d_diag)$/.test(t.name))).toBe(false);
    expect(back.tensors.find((t) => t.name === 'conv1.weight')!.tensor.shape).toEqual([16, 3, 3, 3]);
    const onnx = join(dir, 'from_fused.onnx');
    expect(runCli(['convert', pth, '-o', onnx]).status).toBe(0);
    const y = join(dir, 'from_fused.npy');
    expect(runCli(['predict', onnx, '--input', INPUT, '--output', y]).status).toBe(0);
    expectReferenceLogits(y);
  });

  it('convert -o .onnx, then predict: the DO-Conv reference logits within 1e-4, top-1 identical', () => {
    const onnx = join(dir, 'resnet20.onnx');
    const c = runCli(['convert', EXAMPLE, '-o', onnx, '--json']);
    expect(c.status, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ to: 'onnx', fusedLayers: 21 });
    const y = join(dir, 'logits.npy');
    const p = runCli(['predict', onnx, '--input', INPUT, '--output', y, '--json']);
    expect(p.status, p.stderr).toBe(0);
    expect(JSON.parse(p.stdout)).toMatchObject({ outputShape: [4, 10] });
    expectReferenceLogits(y);
  });

  it('convert --to tfjs, then predict --backend tfjs: the reference logits within 1e-4', () => {
    const folder = join(dir, 'resnet20_tfjs');
    expect(runCli(['convert', EXAMPLE, '-o', folder, '--to', 'tfjs']).status).toBe(0);
    expect(existsSync(join(folder, 'model.json'))).toBe(true);
    const y = join(dir, 'logits_tfjs.npy');
    const p = runCli(['predict', folder, '--backend', 'tfjs', '--input', INPUT, '--output', y]);
    expect(p.status, p.stderr).toBe(0);
    expectReferenceLogits(y);
  });
});

describe('scripts/example.mjs', () => {
  it('runs the README walk-through (inspect, convert, predict) and reports agreement with the reference', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'example.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const line = /max relative error (\S+), top-1 (\w+)/.exec(r.stdout);
    expect(line, r.stdout).not.toBeNull();
    expect(Number(line![1])).toBeLessThan(1e-4);
    expect(line![2]).toBe('identical');
    expectReferenceLogits(ex(join('out', 'logits.npy')));
  }, 120_000);
});
