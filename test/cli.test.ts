// @tier shared-fixtures: reads ../shared/fixtures (or DOCONV_ZOO_FIXTURES); skipped where absent, a failure under CI=true (vitest.config.ts).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixture, runCli, tempDir } from './helpers/paths.js';

describe('doconv-zoo inspect', () => {
  it('--json prints {format, framework, tensors, doconvLayers} (a contract other tools rely on)', async () => {
    const r = runCli(['inspect', fixture('pytorch', 'layers.pth'), '--json', '--kernel', '4=3x1']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.format).toBe('pytorch-zip');
    expect(j.framework).toBe('pytorch');
    expect(j.tensors[0]).toEqual({ name: '0.W', shape: [8, 3, 9], dtype: 'float32' });
    expect(j.tensors).toHaveLength(21);
    expect(j.doconvLayers[1]).toMatchObject({ name: '1', inChannels: 8, outChannels: 16, groups: 2, kernel: [3, 3], dMul: 10, bias: false });
    expect(j.doconvLayers[4].kernel).toEqual([3, 1]);
  });

  it('prints a readable table and says what it assumed', async () => {
    const r = runCli(['inspect', fixture('pytorch', 'layers.pth')]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/DO-Conv\s+6 layer/);
    expect(r.stdout).toContain("--kernel '4=MxN'");
  });
});

describe('doconv-zoo convert', () => {
  it('--json prints a machine-readable summary', async () => {
    const out = join(tempDir(), 'fused.pth');
    const r = runCli(['convert', fixture('pytorch', 'layers_legacy.pth'), '-o', out, '--kernel', '4=3x1', '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ output: out, to: 'pth', fusedLayers: 6, tensorsIn: 21, tensorsOut: 11, from: 'pytorch-legacy' });
    expect(existsSync(out)).toBe(true);
  });

  it('a layer needing --kernel is a user error (exit 1) naming the key and the fix', async () => {
    const out = join(tempDir(), 'fused.pth');
    const r = runCli(['convert', fixture('pytorch', 'layers.pth'), '-o', out, '--json']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("key '4'");
    expect(JSON.parse(r.stdout).error.code).toBe('KERNEL_SHAPE_AMBIGUOUS');
    expect(existsSync(out)).toBe(false);
  });
});

describe('CLI basics', () => {
  it.each([
    [['--help'], 0, /Usage:/],
    [['--version'], 0, /^\d+\.\d+\.\d+/],
    [['inspect', '/nonexistent/x.pth'], 1, /\/nonexistent\/x\.pth: no such file/],
    [['convert', 'a.pth'], 1, /needs -o OUT/],
    [['inspect', 'a', 'b'], 1, /exactly one checkpoint/],
    [['frobnicate'], 1, /unknown command 'frobnicate'/],
    [['inspect', 'x.pth', '--bogus'], 1, /Unknown option '--bogus'/],
    [['convert', 'x.pth', '-o', 'y.pth', '--dtype', 'int8'], 1, /--dtype must be one of/],
  ])('doconv-zoo %j exits %i', async (args, status, pattern) => {
    const r = runCli(args as string[]);
    expect(r.status).toBe(status);
    expect(status === 0 ? r.stdout : r.stderr).toMatch(pattern as RegExp);
    if (status === 1) expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});
