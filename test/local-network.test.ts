// Always-run tier: the tiny DO-Conv ResNet committed under test/data/reference (a CIFAR ResNet-8,
// scripts/reference/make_test_data.py) converted to every target, run, and compared with the
// reference logits. No Python, nothing outside the clone.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertCheckpoint, loadCheckpoint, loadModel, networkFromCheckpoint, Tensor, toFloat32, type Checkpoint } from '../src/index.js';
import { buildOnnxModel } from '../src/emit/onnx.js';
import { PyDict } from '../src/formats/pickle-values.js';
import { nchwToNhwc } from '../src/tensor/layout.js';
import { readNpyFile, readNpz, relativeError } from './helpers/npz.js';
import { argmaxRows, runOnNpy } from './helpers/onnx.js';
import { runCli, tempDir } from './helpers/paths.js';
import { refFile, referenceManifest } from './helpers/test-data.js';

const net = referenceManifest().cases.resnet;
const INPUT = refFile(net.input);
const EXPECTED = refFile(net.expected);
const ref = toFloat32(readNpyFile(EXPECTED));
const dir = tempDir();
const CLASSES = net.outputShape[1]!;

/**
 * The logits of a random network differ little between inputs (global pooling), so besides the
 * logits themselves the input-dependent part, row 0 minus row 1, is compared too: a wrong kernel
 * that moved every row alike would still show there.
 */
function rowDifference(y: Float32Array): Float32Array {
  return Float32Array.from({ length: CLASSES }, (_, c) => y[c]! - y[CLASSES + c]!);
}

function expectReferenceLogits(y: Float32Array, tolerance = 1e-4) {
  expect(y.length).toBe(ref.length);
  expect(relativeError(y, ref)).toBeLessThan(tolerance);
  expect(relativeError(rowDifference(y), rowDifference(ref))).toBeLessThan(tolerance * 10);
  expect(argmaxRows(y, CLASSES)).toEqual(argmaxRows(ref, CLASSES));
}

describe('the reference data itself', () => {
  it('the plain counterpart (conv weights = fused kernels) gives the DO-Conv logits, and the two inputs give different logits', () => {
    const plain = toFloat32(readNpyFile(refFile(net.plainExpected)));
    expect(relativeError(plain, ref)).toBeLessThan(1e-5);
    const d = rowDifference(ref);
    expect(Math.max(...d.map(Math.abs))).toBeGreaterThan(1e-3);
  });
});

describe('the tiny DO-Conv ResNet as ONNX (onnxruntime-node)', () => {
  it('is recognised as the zoo architecture and reproduces the reference logits within 1e-4', async () => {
    const out = join(dir, 'resnet.onnx');
    const s = await convertCheckpoint(refFile(net.file), out, { inputSize: net.inputSize });
    expect(s.architecture?.name).toBe(net.architecture);
    expect(s.fusedLayers).toBe(9);
    const r = await runOnNpy(out, INPUT, EXPECTED);
    expect(r.shape).toEqual(net.outputShape);
    expectReferenceLogits(r.y);
  });

  it('the plain torchvision-style counterpart converts to ONNX with the same logits', async () => {
    const out = join(dir, 'plain.onnx');
    const s = await convertCheckpoint(refFile(net.plain), out, { inputSize: net.inputSize });
    expect(s.architecture?.name).toBe(net.architecture);
    expect(s.fusedLayers).toBe(0);
    const r = await runOnNpy(out, INPUT, refFile(net.plainExpected));
    expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
  });

  it('the fused .pth that convert writes converts on to ONNX with the reference logits', async () => {
    const pth = join(dir, 'resnet.fused.pth');
    await convertCheckpoint(refFile(net.file), pth);
    const out = join(dir, 'resnet.fused.onnx');
    await convertCheckpoint(pth, out, { inputSize: net.inputSize });
    expectReferenceLogits((await runOnNpy(out, INPUT, EXPECTED)).y);
  });

  it('loadModel runs the DO-Conv checkpoint directly (converted in memory)', async () => {
    const r = await runOnNpy(refFile(net.file), INPUT, EXPECTED);
    expect(r.model.architecture).toBe(net.architecture);
    expectReferenceLogits(r.y);
  });

  it.each(['safetensors', 'npz'] as const)('the .%s convert writes holds a network with the reference logits', async (ext) => {
    const file = join(dir, `resnet.${ext}`);
    await convertCheckpoint(refFile(net.file), file);
    const tensors = ext === 'npz' ? readNpz(file) : readSafetensors(file);
    // the same tensors as a state dict: the network the zoo builds from them, as ONNX
    const plain = await loadCheckpoint(refFile(net.plain));
    const root = new PyDict(true);
    for (const [k, t] of tensors) root.set(k, t);
    const ckpt: Checkpoint = { ...plain, root, tensors: [...tensors].map(([name, tensor]) => ({ name, tensor })), layers: [] };
    const network = networkFromCheckpoint(ckpt, { inputSize: net.inputSize });
    expect(network.name).toBe(net.architecture);
    const r = await runOnNpy(buildOnnxModel(network.graph).toBytes(), INPUT, EXPECTED);
    expectReferenceLogits(r.y);
  });
});

function readSafetensors(path: string): Map<string, Tensor> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const DT: Record<string, 'float32' | 'int64'> = { F32: 'float32', I64: 'int64' };
  const out = new Map<string, Tensor>();
  for (const [k, e] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    const bytes = new Uint8Array(buf.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]));
    out.set(k, new Tensor(DT[e.dtype]!, e.shape, bytes));
  }
  return out;
}

describe.each(['wasm', 'cpu'] as const)('the tiny DO-Conv ResNet as a TensorFlow.js graph model (%s backend)', (backend) => {
  it('reproduces the reference logits within 1e-4 from an NHWC input', async () => {
    const folder = join(dir, `tfjs_${backend}`);
    await convertCheckpoint(refFile(net.file), folder, { to: 'tfjs', inputSize: net.inputSize });
    const x = readNpyFile(INPUT);
    const m = await loadModel(folder, { backend: 'tfjs', tfjsBackend: backend });
    try {
      expect(m.executionProvider).toBe(`tfjs-${backend}`);
      const y = await m.predict(nchwToNhwc(toFloat32(x), x.shape));
      expect(y.shape).toEqual(net.outputShape);
      expectReferenceLogits(y.data);
    } finally {
      await m.dispose();
    }
  });
});

describe('doconv-zoo on the tiny ResNet', () => {
  it('predict writes the reference logits as .npy', () => {
    const out = join(dir, 'y.npy');
    const r = runCli(['predict', refFile(net.file), '--input', INPUT, '--output', out, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ outputShape: net.outputShape, architecture: net.architecture });
    expectReferenceLogits(toFloat32(readNpyFile(out)));
  });

  it('convert -o x.onnx then predict on it gives the same logits', () => {
    const onnx = join(dir, 'cli.onnx');
    const c = runCli(['convert', refFile(net.file), '-o', onnx, '--input-size', '32x32', '--json']);
    expect(c.status, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ to: 'onnx', fusedLayers: 9 });
    const out = join(dir, 'y_onnx.npy');
    expect(runCli(['predict', onnx, '--input', INPUT, '--output', out]).status).toBe(0);
    expectReferenceLogits(toFloat32(readNpyFile(out)));
  });
});
