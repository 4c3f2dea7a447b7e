// @tier shared-fixtures: reads ../shared/fixtures (or DOCONV_ZOO_FIXTURES); skipped where absent, a failure under CI=true (vitest.config.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { detectGluonResNet, detectTorchvisionResNet } from '../src/arch/detect.js';
import { gluonNaming } from '../src/arch/naming-gluon.js';
import { torchvisionNaming } from '../src/arch/naming-torchvision.js';
import { buildResNet, expectedParams } from '../src/arch/resnet.js';
import { archName, specFromName } from '../src/arch/spec.js';
import { convertCheckpoint } from '../src/convert.js';
import { DoconvError } from '../src/errors.js';
import { readOnnxInfo } from '../src/formats/onnx-info.js';
import { inferShapes, type Graph } from '../src/graph/ir.js';
import { buildOnnxModel } from '../src/emit/onnx.js';
import { loadModel } from '../src/runtime/load-model.js';
import { Tensor } from '../src/tensor/tensor.js';
import { relativeError } from './helpers/npz.js';
import { opTypes, runOnNpy } from './helpers/onnx.js';
import { fixture, runCli, tempDir } from './helpers/paths.js';

const FIXTURE_NETS = ['resnet_basic_1111', 'resnext_1111_4x8d'] as const;
/** The fixtures' input sizes (their .input.npy files). */
const SIZE: Record<string, [number, number]> = { resnet_basic_1111: [32, 32], resnext_1111_4x8d: [64, 64] };
const dir = tempDir();
const onnxOf = async (name: string, extra: Parameters<typeof convertCheckpoint>[2] = {}, tag = '') => {
  const out = join(dir, `${name}${tag}.onnx`);
  await convertCheckpoint(fixture('pytorch', `${name}.pth`), out, { inputSize: SIZE[name], ...extra });
  return out;
};
const io = (name: string) => [fixture('pytorch', `${name}.input.npy`), fixture('pytorch', `${name}.expected.npy`)] as const;

describe('ONNX from the shared DO-Conv fixtures, run in onnxruntime-node', () => {
  it.each(FIXTURE_NETS)('%s: logits within 1e-4 of the reference, top-1 identical', async (name) => {
    const r = await runOnNpy(await onnxOf(name), ...io(name));
    expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
    expect(r.top1).toEqual(r.refTop1);
  });

  it.each(FIXTURE_NETS)('%s: the graph is what one would write by hand (folded BN, no Identity/Einsum/Shape)', async (name) => {
    const ops = new Set(opTypes(await onnxOf(name)));
    expect([...ops].sort()).toEqual(['Add', 'Conv', 'Flatten', 'Gemm', 'GlobalAveragePool', 'MaxPool', 'Relu']);
  });

  it.each(FIXTURE_NETS)('%s: --no-fold-bn keeps BatchNormalization and agrees with the folded model within 1e-5', async (name) => {
    const file = await onnxOf(name, { noFoldBn: true }, '.bn');
    expect(opTypes(file)).toContain('BatchNormalization');
    const folded = await runOnNpy(await onnxOf(name), ...io(name));
    const unfolded = await runOnNpy(file, ...io(name));
    expect(relativeError(unfolded.y, folded.y)).toBeLessThan(1e-5);
  });

  it.each(FIXTURE_NETS)('%s: --fp16 (float16 weights and compute, float32 I/O) within 1e-2, top-1 identical', async (name) => {
    const r = await runOnNpy(await onnxOf(name, { fp16: true }, '.fp16'), ...io(name));
    expect(relativeError(r.y, r.ref)).toBeLessThan(1e-2);
    expect(r.top1).toEqual(r.refTop1);
    const h = await runOnNpy(await onnxOf(name, { fp16: true, fp16Io: true }, '.fp16io'), ...io(name));
    expect(relativeError(h.y, r.y)).toBeLessThan(1e-2);
  });

  it('records the source sha256, architecture, tool version and preprocessing in metadata_props', async () => {
    const info = readOnnxInfo(new Uint8Array(readFileSync(await onnxOf('resnet_basic_1111'))));
    expect(info.irVersion).toBe(8);
    expect(info.metadata.source_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(info.metadata.architecture).toBe('resnet10_v1b');
    expect(JSON.parse(info.metadata.preprocessing!).mean).toEqual([0.485, 0.456, 0.406]);
    expect(info.inputs[0]).toEqual({ name: 'input', elemType: 1, dims: ['batch', 3, 32, 32] });
    expect(info.outputs[0]).toEqual({ name: 'logits', elemType: 1, dims: ['batch', 10] });
  });
});

describe('max-pooling over zero padding (Keras ZeroPadding2D + MaxPooling2D)', () => {
  const graph = (): Graph => ({
    input: 'input',
    output: 'pool',
    inputShape: [1, 4, 4],
    nodes: [{ name: 'pool', inputs: ['input'], output: 'pool', op: { kind: 'MaxPool', kernel: [3, 3], stride: [2, 2], pads: [0, 0, 0, 0], zeroPad: [1, 1, 1, 1] } }],
  });
  const negative = Float32Array.from({ length: 16 }, (_, i) => -1 - i); // every value below the zero padding

  it('gives 0 where a window reaches the border, even with onnxruntime optimizations on (fixed size: MaxPool + Max mask)', async () => {
    const file = join(dir, 'zeropool.onnx');
    writeFileSync(file, buildOnnxModel(graph()).toBytes());
    expect(opTypes(file)).toEqual(['MaxPool', 'Max']);
    const m = await loadModel(file);
    try {
      const y = await m.predict({ data: negative, shape: [1, 1, 4, 4] });
      // 4x4 map, windows over rows/cols -1..1 and 1..3: the first three reach the zero border (0);
      // the last covers rows and cols 1..3 only, so its max is the value at (1, 1), -6.
      expect(Array.from(y.data)).toEqual([0, 0, 0, -6]);
    } finally {
      await m.dispose();
    }
  });

  it('with symbolic sizes keeps Pad + MaxPool (exact per ONNX, and so with optimizations off)', async () => {
    const file = join(dir, 'zeropool_dyn.onnx');
    writeFileSync(file, buildOnnxModel(graph(), { fixedInputSize: false }).toBytes());
    expect(opTypes(file)).toEqual(['Pad', 'MaxPool']);
    const ort = await import('onnxruntime-node');
    const s = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'disabled' });
    const y = await s.run({ input: new ort.Tensor('float32', negative, [1, 1, 4, 4]) });
    expect(Array.from(y.output!.data as Float32Array)).toEqual([0, 0, 0, -6]);
  });
});

describe('loadModel and predict', () => {
  it('loads a DO-Conv checkpoint directly (converted in memory) and an .onnx file alike', async () => {
    const [x, y] = io('resnext_1111_4x8d');
    const fromCkpt = await runOnNpy(fixture('pytorch', 'resnext_1111_4x8d.pth'), x, y);
    const fromOnnx = await runOnNpy(await onnxOf('resnext_1111_4x8d'), x, y);
    expect(relativeError(fromCkpt.y, fromOnnx.y)).toBeLessThan(1e-6); // fixed vs symbolic shapes: onnxruntime may pick other conv kernels
    expect(fromCkpt.model.architecture).toBe('resnext14_4x8d');
    expect(fromCkpt.model.inputShape).toEqual(['batch', 3, 'height', 'width']);
    expect(fromCkpt.model.preprocessing?.inputSize).toEqual([224, 224]);
  });

  it('--dynamic-size declares symbolic height and width, and runs any size', async () => {
    const file = await onnxOf('resnet_basic_1111', { dynamicSize: true }, '.dyn');
    const info = readOnnxInfo(new Uint8Array(readFileSync(file)));
    expect(info.inputs[0]!.dims).toEqual(['batch', 3, 'height', 'width']);
    const m = await loadModel(file);
    try {
      expect((await m.predict({ data: new Float32Array(3 * 40 * 56), shape: [1, 3, 40, 56] })).shape).toEqual([1, 10]);
    } finally {
      await m.dispose();
    }
  });

  it('takes a flat Float32Array when the input size is fixed, and checks sizes', async () => {
    const file = await onnxOf('resnet_basic_1111');
    const m = await loadModel(file);
    try {
      expect(m.inputShape).toEqual(['batch', 3, 32, 32]);
      const out = await m.predict(new Float32Array(2 * 3 * 32 * 32));
      expect(out.shape).toEqual([2, 10]);
      await expect(m.predict(new Float32Array(100))).rejects.toThrow(DoconvError);
    } finally {
      await m.dispose();
    }
  });

  it('doconv-zoo predict writes the logits as .npy', async () => {
    const out = join(dir, 'y.npy');
    const [x] = io('resnet_basic_1111');
    const r = runCli(['predict', fixture('pytorch', 'resnet_basic_1111.pth'), '--input', x, '--output', out, '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ outputShape: [2, 10], executionProvider: 'cpu', architecture: 'resnet10_v1b' });
  });

  it('--device gpu on a machine without one says what was tried and what to install', async () => {
    if (process.env.DOCONV_ZOO_EXPECT_GPU) return; // on a GPU machine this succeeds instead
    await expect(loadModel(await onnxOf('resnet_basic_1111'), { device: 'gpu' })).rejects.toThrow(/tried: onnxruntime cuda: .*; onnxruntime webgpu: .*tfjs-node-gpu.*--device cpu/);
  });
});

const TORCHVISION_ZOO = ['resnet18_v1b', 'resnet34_v1b', 'resnet50_v1b', 'resnet101_v1b', 'resnet152_v1b', 'resnext50_32x4d', 'plain18', 'cifar_resnet20_v1b', 'cifar_resnet56_v1b'];
const zeros = (shape: number[]) => Tensor.fromFloat32(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
const sourceOf = (m: Map<string, Tensor>) => ({ get: (k: string) => m.get(k), keys: () => [...m.keys()] });

describe('architecture detection from torchvision keys and shapes', () => {
  it.each(TORCHVISION_ZOO)('recognises %s', async (name) => {
    const params = expectedParams(specFromName(name), torchvisionNaming, zeros);
    const d = detectTorchvisionResNet(sourceOf(params))!;
    expect(archName(d.spec)).toBe(name);
    expect(d.spec).toEqual(specFromName(name));
  });

  const GLUON_ZOO = ['18', '34', '50', '101', '152'].flatMap((d) => [`resnet${d}_v1`, `resnet${d}_v1b`, `resnet${d}_v2`]).concat(['resnext50_32x4d']);
  it.each(GLUON_ZOO)('recognises %s from GluonCV model-zoo names', async (name) => {
    const spec = specFromName(name);
    const params = expectedParams(spec, gluonNaming(spec), zeros);
    const d = detectGluonResNet(sourceOf(params))!;
    expect(archName(d.spec)).toBe(name);
    const { graph } = buildResNet(d.spec, sourceOf(params), gluonNaming(d.spec));
    expect(inferShapes(graph).get(graph.output)).toEqual([-1, 1000]);
  });

  it('spells GluonCV names as save_parameters writes them', async () => {
    const v1 = gluonNaming(specFromName('resnet50_v1'));
    expect(v1.key('s0.b0.conv2', 'weight')).toBe('features.4.0.body.3.weight');
    expect(v1.key('s3.b2.bn3', 'var')).toBe('features.7.2.body.7.running_var');
    expect(v1.key('s1.b0.down.bn', 'gamma')).toBe('features.5.0.downsample.1.gamma');
    const v2 = gluonNaming(specFromName('resnet50_v2'));
    expect(v2.key('stem.bn_data', 'mean')).toBe('features.0.running_mean');
    expect(v2.key('s0.b0.down.conv', 'weight')).toBe('features.5.0.downsample.weight');
    expect(v2.key('head.bn', 'beta')).toBe('features.9.beta');
    expect(gluonNaming(specFromName('resnet50_v1b')).key('s2.b1.bn2', 'beta')).toBe('layer3.1.bn2.beta');
  });

  it('says what it assumed when torchvision names cannot tell v1 from v1b', async () => {
    const d = detectTorchvisionResNet(sourceOf(expectedParams(specFromName('resnet50_v1'), torchvisionNaming, zeros)))!;
    expect(archName(d.spec)).toBe('resnet50_v1b');
    expect(d.assumptions[0]).toMatch(/v1 from v1b/);
  });

  it.each([
    ['a missing tensor', (m: Map<string, Tensor>) => m.delete('layer3.1.bn2.running_var'), /needs 'layer3\.1\.bn2\.running_var'/],
    ['a reshaped tensor', (m: Map<string, Tensor>) => m.set('layer2.0.conv2.weight', zeros([128, 128, 3, 1])), /expects 'layer2\.0\.conv2\.weight' of shape \[128, 128, 3, 3\], the checkpoint has \[128, 128, 3, 1\]/],
    ['an extra tensor', (m: Map<string, Tensor>) => m.set('layer4.1.extra.weight', zeros([4])), /'layer4\.1\.extra\.weight' is not part of resnet18_v1b/],
  ])('names the key for %s', (_what, damage, message) => {
    const params = expectedParams(specFromName('resnet18_v1b'), torchvisionNaming, zeros);
    damage(params);
    const src = sourceOf(params);
    const d = detectTorchvisionResNet(src)!;
    expect(() => buildResNet(d.spec, src, torchvisionNaming)).toThrow(message);
  });

  it('--arch NAME that does not fit the tensors names the first key that differs', async () => {
    const src = sourceOf(expectedParams(specFromName('resnet18_v1b'), torchvisionNaming, zeros));
    expect(() => buildResNet(specFromName('resnet34_v1b'), src, torchvisionNaming)).toThrow(/resnet34_v1b needs 'layer1\.2\.conv1\.weight'/);
    expect(() => specFromName('resnet19_v1b')).toThrow(/unknown architecture/);
  });

  it.each(['resnet18_v1', 'resnet50_v1', 'resnet50_v2', 'resnet152_v2', 'plain18', 'resnext50_32x4d', 'cifar_resnet20_v2'])(
    '%s: every family builds a graph whose shapes infer to [batch, classes]',
    async (name) => {
      const spec = specFromName(name);
      const { graph } = buildResNet(spec, sourceOf(expectedParams(spec, torchvisionNaming, zeros)), torchvisionNaming);
      expect(inferShapes(graph).get(graph.output)).toEqual([-1, spec.numClasses]);
    },
  );

  it('ONNX for a network outside the zoo is refused, pointing at the formats that work', async () => {
    await expect(convertCheckpoint(fixture('pytorch', 'layers.pth'), join(dir, 'layers.onnx'), { kernels: ['4=3x1'] })).rejects.toThrow(/not a network of the zoo.*pth, safetensors and npz/);
  });
});
