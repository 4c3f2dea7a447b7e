import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, runCli, tempDir } from '../helpers/paths.js';
import { expectOneLineError, mkfifo, tinyOnnx, writeNpy, writeNpyHeaderOnly } from './runtime-helpers.js';

// Issue 12, items 4 (tfjs weight paths), 5 (ONNX external data), 16 (input shape before any
// allocation), 18 (a failing ONNX or malformed tfjs folder is exit 1) and 19 (no native log lines).

const EXAMPLE = join(ROOT, 'examples', 'doconv_resnet20_cifar.pth');
const SECRET = 'SECRETSECRETSECR'; // 16 bytes: exactly the 4 floats the tiny model's weight takes

interface Manifest {
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[];
  [k: string]: unknown;
}

describe('item 4: tfjs weight paths stay inside the model folder', () => {
  let pristine: string;
  let input: string;
  beforeAll(() => {
    const dir = tempDir();
    pristine = join(dir, 'model');
    const r = runCli(['convert', EXAMPLE, '--to', 'tfjs', '-o', pristine], 120_000);
    expect(r.status, r.stderr).toBe(0);
    input = join(dir, 'x.npy');
    writeNpy(input, [1, 32, 32, 3]);
  }, 180_000);

  /** A copy of the converted folder with its model.json edited. */
  function hostileFolder(edit: (m: Manifest, dir: string) => void): string {
    const dir = join(tempDir(), 'model');
    cpSync(pristine, dir, { recursive: true });
    const m = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as Manifest;
    edit(m, dir);
    writeFileSync(join(dir, 'model.json'), JSON.stringify(m));
    return dir;
  }

  const predict = (dir: string) => runCli(['predict', dir, '--backend', 'tfjs', '--tfjs-backend', 'cpu', '--input', input, '--output', join(dir, '..', 'y.npy')], 60_000);

  it('the unedited folder runs (the hostile variants below differ only in model.json or shards)', () => {
    expect(predict(hostileFolder(() => {})).status).toBe(0);
  });

  it.each([
    ['../secret.txt', 'UNSAFE'],
    ['/proc/self/environ', 'UNSAFE'],
    ['sub/../../secret.txt', 'UNSAFE'],
  ])('a path %s is refused before anything is read (exit 1, one line naming the path)', (path) => {
    const dir = hostileFolder((m) => {
      m.weightsManifest[0]!.paths[0] = path;
    });
    writeFileSync(join(dir, '..', 'secret.txt'), SECRET);
    expectOneLineError(predict(dir), 'model.json', 'outside the model folder');
  });

  it('a shard that is a link leaving the folder is refused (realpath checked)', () => {
    const dir = hostileFolder((m, d) => {
      writeFileSync(join(d, '..', 'secret.bin'), readFileSync(join(d, m.weightsManifest[0]!.paths[0]!)));
      symlinkSync(join(d, '..', 'secret.bin'), join(d, 'link.bin'));
      m.weightsManifest[0]!.paths[0] = 'link.bin';
    });
    expectOneLineError(predict(dir), 'link.bin', 'outside the model folder');
  });

  it('a shard linking to /dev/zero is refused unread (no memory blow-up)', () => {
    const dir = hostileFolder((m, d) => {
      symlinkSync('/dev/zero', join(d, 'zero.bin'));
      m.weightsManifest[0]!.paths[0] = 'zero.bin';
    });
    expectOneLineError(predict(dir), 'zero.bin');
  });

  it('a shard that is a FIFO is refused, not opened (no hang)', () => {
    const dir = hostileFolder((m, d) => {
      mkfifo(join(d, 'fifo.bin'));
      m.weightsManifest[0]!.paths[0] = 'fifo.bin';
    });
    expectOneLineError(predict(dir), 'fifo.bin', 'not a regular file');
  });

  it('a short shard is exit 1 naming the shard and the weight that runs past its end', () => {
    let shard = '';
    const dir = hostileFolder((m, d) => {
      shard = m.weightsManifest[0]!.paths.at(-1)!;
      const bytes = readFileSync(join(d, shard));
      writeFileSync(join(d, shard), bytes.subarray(0, bytes.length - 100));
    });
    expectOneLineError(predict(dir), shard, 'weight');
  });

  it('a weight whose shape claims more bytes than the shards hold is refused before reading', () => {
    const dir = hostileFolder((m) => {
      m.weightsManifest[0]!.weights[0]!.shape = [100000, 100000, 100];
    });
    expectOneLineError(predict(dir), 'model.json', m0Name(pristine));
  });

  it.each([
    ['not JSON', (d: string) => writeFileSync(join(d, 'model.json'), '{"weightsManifest": [')],
    ['weightsManifest not a list', (d: string) => writeFileSync(join(d, 'model.json'), '{"modelTopology": {}, "weightsManifest": 5}')],
    ['paths not strings', (d: string) => writeFileSync(join(d, 'model.json'), '{"modelTopology": {}, "weightsManifest": [{"paths": [7], "weights": []}]}')],
    ['a topology tfjs cannot run', (d: string) => {
      const m = JSON.parse(readFileSync(join(d, 'model.json'), 'utf8')) as Manifest;
      m.modelTopology = { node: [{ name: 'x', op: 'NoSuchOp', input: [] }] };
      writeFileSync(join(d, 'model.json'), JSON.stringify(m));
    }],
  ])('a malformed model.json (%s) is exit 1 naming model.json', (_what, spoil) => {
    const dir = hostileFolder(() => {});
    spoil(dir);
    expectOneLineError(predict(dir), 'model.json');
  });

  it('a model.json that is not JSON is refused without quoting its text (it may be a link to a secret)', () => {
    const dir = join(tempDir(), 'model');
    mkdirSync(dir);
    writeFileSync(join(dir, '..', 'secret.txt'), SECRET);
    symlinkSync(join(dir, '..', 'secret.txt'), join(dir, 'model.json'));
    const r = predict(dir);
    expectOneLineError(r, 'model.json');
    expect(r.stderr).not.toContain('SECRET');
  });

  it('a model.json that is a FIFO is refused (no hang)', () => {
    const fifoDir = join(tempDir(), 'model');
    mkdirSync(fifoDir);
    mkfifo(join(fifoDir, 'model.json'));
    expectOneLineError(predict(fifoDir), 'model.json', 'not a regular file');
  });
});

function m0Name(dir: string): string {
  const m = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as Manifest;
  return m.weightsManifest[0]!.weights[0]!.name;
}

describe('item 5: ONNX external data resolves inside the model folder only', () => {
  /** A folder holding the model, and a CWD beside it holding secret.txt (where onnxruntime used to look). */
  function setup(model: Uint8Array, name = 'model.onnx'): { dir: string; cwd: string; model: string; input: string; output: string } {
    const root = tempDir();
    const dir = join(root, 'models');
    const cwd = join(root, 'cwd');
    mkdirSync(dir);
    mkdirSync(cwd);
    writeFileSync(join(cwd, 'secret.txt'), SECRET);
    writeFileSync(join(root, 'secret.txt'), SECRET);
    writeFileSync(join(dir, name), model);
    const input = join(root, 'x.npy');
    writeNpy(input, [1, 4, 1, 1]);
    return { dir, cwd, model: join(dir, name), input, output: join(root, 'y.npy') };
  }

  function predictIn(cwd: string, model: string, input: string, output: string) {
    const r = runCliIn(cwd, ['predict', model, '--input', input, '--output', output]);
    return r;
  }

  it('external data beside the model is read from the model folder, not the current directory', () => {
    const s = setup(tinyOnnx({ weight: { location: 'weights.bin' } }));
    writeFileSync(join(s.dir, 'weights.bin'), Buffer.from(Float32Array.of(1, 2, 3, 4).buffer));
    const r = predictIn(s.cwd, s.model, s.input, s.output);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });

  it.each([
    ['initializer', {}],
    ['Constant node attribute', { asConstantNode: true }],
    ['Constant inside an If subgraph', { asConstantNode: true, inSubgraph: true }],
  ])('%s naming secret.txt that only the current directory has: exit 1, the secret never read', (_w, extra) => {
    const s = setup(tinyOnnx({ weight: { location: 'secret.txt' }, ...extra }));
    const r = predictIn(s.cwd, s.model, s.input, s.output);
    expectOneLineError(r, 'secret.txt');
    expect(r.stdout).not.toContain('wrote');
  });

  it.each(['../secret.txt', '/etc/passwd', 'a/../../secret.txt'])('a location %s that leaves the folder is refused', (loc) => {
    const s = setup(tinyOnnx({ weight: { location: loc } }));
    expectOneLineError(predictIn(s.cwd, s.model, s.input, s.output), 'outside the model folder');
  });

  it('a location that is a link leaving the folder is refused', () => {
    const s = setup(tinyOnnx({ weight: { location: 'w.bin' } }));
    symlinkSync(join(s.dir, '..', 'secret.txt'), join(s.dir, 'w.bin'));
    expectOneLineError(predictIn(s.cwd, s.model, s.input, s.output), 'w.bin', 'outside the model folder');
  });

  it('a location that is a FIFO is refused (no hang)', () => {
    const s = setup(tinyOnnx({ weight: { location: 'w.bin' } }));
    mkfifo(join(s.dir, 'w.bin'));
    expectOneLineError(predictIn(s.cwd, s.model, s.input, s.output), 'w.bin', 'not a regular file');
  });

  it('offset and length beyond the external file are refused before onnxruntime reads', () => {
    const s = setup(tinyOnnx({ weight: { location: 'w.bin', offset: 1 << 30, length: 16 } }));
    writeFileSync(join(s.dir, 'w.bin'), Buffer.alloc(16));
    expectOneLineError(predictIn(s.cwd, s.model, s.input, s.output), 'w.bin');
  });
});

describe('item 5: a model given as bytes may not name external data at all', () => {
  it('loadModel(bytes) with external data throws UNSUPPORTED_FEATURE', async () => {
    const { loadModel } = await import('../../src/runtime/load-model.js');
    const { DoconvError } = await import('../../src/errors.js');
    const err = await loadModel(tinyOnnx({ weight: { location: 'secret.txt' } })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DoconvError);
    expect((err as InstanceType<typeof DoconvError>).code).toBe('UNSUPPORTED_FEATURE');
  });
});

describe('item 16: the input shape is checked against the model before anything is allocated', () => {
  it.each([
    [[0, 80000, 80000, 3]],
    [[0, 3, 80000, 80000]],
  ])('a 128-byte .npy claiming %j is refused with one line (no crash, no empty run)', (shape) => {
    const dir = tempDir();
    const x = join(dir, 'x.npy');
    writeNpyHeaderOnly(x, shape);
    const r = runCli(['predict', EXAMPLE, '--input', x, '--output', join(dir, 'y.npy')], 60_000);
    expectOneLineError(r, x);
  });

  it('NHWC data for an NCHW model is exit 1 naming the shapes (not an onnxruntime internal error)', () => {
    const dir = tempDir();
    const x = join(dir, 'x.npy');
    writeNpy(x, [1, 32, 32, 3]);
    const onnx = join(dir, 'm.onnx');
    expect(runCli(['convert', EXAMPLE, '-o', onnx], 120_000).status).toBe(0);
    expectOneLineError(runCli(['predict', onnx, '--input', x, '--output', join(dir, 'y.npy')]), x, '[1, 32, 32, 3]');
  });

  it('a model path that is a FIFO, with --device gpu (which sniffs the file first), is refused (no hang)', () => {
    const dir = tempDir();
    mkfifo(join(dir, 'm.onnx'));
    writeNpy(join(dir, 'x.npy'), [1, 4, 1, 1]);
    expectOneLineError(runCli(['predict', join(dir, 'm.onnx'), '--device', 'gpu', '--input', join(dir, 'x.npy'), '--output', join(dir, 'y.npy')], 30_000), 'm.onnx', 'not a regular file');
  });

  it('an input .npy that is a FIFO is refused (no hang)', () => {
    const dir = tempDir();
    mkfifo(join(dir, 'x.npy'));
    writeFileSync(join(dir, 'm.onnx'), tinyOnnx());
    expectOneLineError(runCli(['predict', join(dir, 'm.onnx'), '--input', join(dir, 'x.npy'), '--output', join(dir, 'y.npy')], 30_000), 'x.npy', 'not a regular file');
  });
});

describe('items 18 and 19: an ONNX model that fails in onnxruntime is one clean line', () => {
  it('an unknown op: exit 1 MODEL_INVALID naming the file, no coloured onnxruntime log line', () => {
    const dir = tempDir();
    const model = join(dir, 'bad.onnx');
    writeFileSync(model, tinyOnnx({ op: 'NoSuchOp' }));
    writeNpy(join(dir, 'x.npy'), [1, 4, 1, 1]);
    const r = runCli(['predict', model, '--input', join(dir, 'x.npy'), '--output', join(dir, 'y.npy'), '--json']);
    expectOneLineError(r, model, 'NoSuchOp');
    expect(JSON.parse(r.stdout).error.code).toBe('MODEL_INVALID');
  });

  it('a model that loads but fails when run (Add of [1,4,1,1] and a [5,1,1] weight): exit 1 naming the file', () => {
    const dir = tempDir();
    const model = join(dir, 'run.onnx');
    writeFileSync(model, tinyOnnx({ weight: { raw: Float32Array.of(1, 2, 3, 4, 5) }, inputDims: ['batch', 'n', 1, 1] }));
    writeNpy(join(dir, 'x.npy'), [1, 4, 1, 1]);
    const r = runCli(['predict', model, '--input', join(dir, 'x.npy'), '--output', join(dir, 'y.npy'), '--json']);
    expectOneLineError(r, model);
    expect(JSON.parse(r.stdout).error.code).toBe('MODEL_INVALID');
    expect(statSync(dir).isDirectory()).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['run.onnx', 'x.npy']);
  });
});

/** Runs the built CLI in another current directory (where onnxruntime used to resolve external data). */
function runCliIn(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), ...args], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
