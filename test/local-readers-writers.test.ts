// Always-run tier: readers, writers and the CLI on the small reference files committed under
// test/data/reference (scripts/reference/make_test_data.py). No Python, nothing outside the clone.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertCheckpoint, DoconvError, fuseLayer, loadCheckpoint, parseKernelOverride, sniffFormat, toFloat32, type Tensor } from '../src/index.js';
import { buildOnnxModel } from '../src/emit/onnx.js';
import { MemorySource } from '../src/formats/byte-source.js';
import type { Graph, GraphNode } from '../src/graph/ir.js';
import { readNpz, relativeError } from './helpers/npz.js';
import { opTypes, runOnNpy } from './helpers/onnx.js';
import { runCli, tempDir } from './helpers/paths.js';
import { compareTensorMaps, refFile, referenceManifest, tensorsOf } from './helpers/test-data.js';

const manifest = referenceManifest();
const torchCase = manifest.cases.layers;
const KERNEL = torchCase.kernelOverride; // '4=3x1'
const torchFused = readNpz(refFile(torchCase.fused));
const FUSED_KEYS = ['0.weight', '0.bias', '1.weight', '2.weight', '2.bias', '3.weight', '3.bias', '4.weight', '4.bias', '5.weight', '5.bias'];
const dir = tempDir();

function parseSafetensors(path: string) {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const data = buf.subarray(8 + n);
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const values = (k: string) => {
    const [a, b] = header[k]!.data_offsets;
    return new Float32Array(data.buffer.slice(data.byteOffset + a, data.byteOffset + b));
  };
  return { header, names, values, headerLength: n, dataLength: data.length };
}

describe('the zip and legacy torch.save formats of the same state dict', () => {
  it('give the same tensors, byte for byte, with the names and shapes the generator saved', async () => {
    const zip = await loadCheckpoint(refFile('layers.pth'));
    const legacy = await loadCheckpoint(refFile('layers_legacy.pth'));
    expect([zip.format, legacy.format]).toEqual(['pytorch-zip', 'pytorch-legacy']);
    expect(zip.tensors.map((t) => [t.name, t.tensor.shape])).toEqual(torchCase.tensors);
    expect(legacy.tensors.map((t) => t.name)).toEqual(zip.tensors.map((t) => t.name));
    zip.tensors.forEach((t, i) => {
      expect(t.tensor.dtype).toBe('float32');
      expect(Buffer.compare(t.tensor.bytes(), legacy.tensors[i]!.tensor.bytes())).toBe(0);
    });
  });

  it('the plain ResNet state dict keeps its int64 num_batches_tracked and float32 parameters', async () => {
    const plain = await loadCheckpoint(refFile(manifest.cases.resnet.plain));
    expect(plain.tensors.map((t) => [t.name, t.tensor.shape])).toEqual(manifest.cases.resnet.plainTensors);
    expect(plain.layers).toEqual([]);
    const nbt = plain.tensors.filter((t) => t.name.endsWith('num_batches_tracked'));
    expect(nbt.length).toBe(9);
    expect(nbt.every((t) => t.tensor.dtype === 'int64' && t.tensor.shape.length === 0)).toBe(true);
  });
});

describe('recognising files by content', () => {
  it.each([
    ['keras_layers.h5', 'hdf5', /HDF5 file \(Keras \.h5\), not a pytorch checkpoint/],
    ['gluon_layers.params', 'mxnet-ndarray-list', /MXNet NDArray list \(GluonCV \.params\), not a pytorch checkpoint/],
    ['keras_layers.fused.npz', 'npz', /NumPy \.npz/],
    ['layers.input.npy', 'npy', /NumPy \.npy/],
  ])('%s is %s, and reading it as a PyTorch checkpoint says so', async (name, format, message) => {
    const file = refFile(name);
    expect(sniffFormat(new MemorySource(readFileSync(file)))).toBe(format);
    try {
      await loadCheckpoint(file, { from: 'pytorch' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DoconvError);
      expect((err as DoconvError).code).toBe('WRONG_FORMAT');
      expect((err as DoconvError).message).toMatch(message);
    }
  });

  it.each([
    ['layers.pth', 'pytorch-zip'],
    ['layers_legacy.pth', 'pytorch-legacy'],
    ['keras_layers.h5', 'hdf5'],
    ['gluon_layers.params', 'mxnet-ndarray-list'],
  ])('%s sniffs as %s', (name, format) => {
    expect(sniffFormat(new MemorySource(readFileSync(refFile(name))))).toBe(format);
  });
});

describe('convert writes plain checkpoints with the fused kernels', () => {
  it.each(['layers.pth', 'layers_legacy.pth'])('%s -> .pth: W -> weight in place, D and d_diag gone, values of layers.fused.npz', async (src) => {
    const out = join(dir, `${src}.fused.pth`);
    const s = await convertCheckpoint(refFile(src), out, { kernels: [KERNEL] });
    expect(s.fusedLayers).toBe(6);
    const back = await loadCheckpoint(out);
    expect(back.format).toBe('pytorch-zip');
    expect(back.layers).toEqual([]);
    expect(back.tensors.map((t) => t.name)).toEqual(FUSED_KEYS);
    expect(compareTensorMaps(await tensorsOf(out), torchFused, 1e-6)).toEqual([]);
  });

  it('.safetensors: a valid header (8-byte padded, contiguous offsets) and the fused values', async () => {
    const out = join(dir, 'layers.safetensors');
    await convertCheckpoint(refFile('layers_legacy.pth'), out, { kernels: [KERNEL] });
    const st = parseSafetensors(out);
    expect(st.headerLength % 8).toBe(0);
    expect(st.names).toEqual(FUSED_KEYS);
    let end = 0;
    for (const k of st.names) {
      expect(st.header[k]!.data_offsets[0]).toBe(end);
      end = st.header[k]!.data_offsets[1];
    }
    expect(end).toBe(st.dataLength);
    expect(st.header['3.weight']!.shape).toEqual([4, 8, 5, 5]);
    for (const [k, ref] of torchFused) expect(relativeError(st.values(k), ref)).toBeLessThan(1e-6);
  });

  it('.npz: one .npy per tensor, the fused values', async () => {
    const out = join(dir, 'layers.npz');
    await convertCheckpoint(refFile('layers.pth'), out, { kernels: [KERNEL] });
    const npz = readNpz(out);
    expect([...npz.keys()]).toEqual(FUSED_KEYS);
    for (const [k, ref] of torchFused) expect(relativeError(npz.get(k)!, ref)).toBeLessThan(1e-6);
  });

  it('a conversion that needs --kernel fails with nothing written', async () => {
    const d = tempDir();
    await expect(convertCheckpoint(refFile('layers.pth'), join(d, 'never.pth'))).rejects.toThrow(/--kernel '4=MxN'/);
    expect(readdirSync(d)).toEqual([]);
  });

  it('the tiny DO-Conv ResNet -> .pth is the plain torch state dict: same keys, order and shapes, kernels within 1e-6', async () => {
    const out = join(dir, 'resnet.fused.pth');
    const s = await convertCheckpoint(refFile(manifest.cases.resnet.file), out);
    expect(s.fusedLayers).toBe(manifest.cases.resnet.doconvLayers.length);
    expect(compareTensorMaps(await tensorsOf(out), await tensorsOf(refFile(manifest.cases.resnet.plain)), 1e-6)).toEqual([]);
  });

  it.each(['safetensors', 'npz'] as const)('the tiny DO-Conv ResNet -> .%s holds the plain network\'s float tensors within 1e-6', async (ext) => {
    const out = join(dir, `resnet.${ext}`);
    await convertCheckpoint(refFile(manifest.cases.resnet.file), out);
    const plain = await tensorsOf(refFile(manifest.cases.resnet.plain));
    const floats = manifest.cases.resnet.plainTensors.filter(([k]) => !k.endsWith('num_batches_tracked'));
    const st = ext === 'safetensors' ? parseSafetensors(out) : undefined;
    const ours: Map<string, Float32Array | Tensor> = st === undefined ? readNpz(out) : new Map(st.names.map((k) => [k, st.values(k)]));
    for (const [k, shape] of floats) {
      const t = ours.get(k);
      expect(t, k).toBeDefined();
      if (!(t instanceof Float32Array)) expect(t!.shape).toEqual(shape);
      expect(relativeError(t!, plain.get(k)!), k).toBeLessThan(1e-6);
    }
  });

  it('keras_layers.h5 -> .pth: torch names, (C_out, C_in/g, M, N) kernels', async () => {
    const out = join(dir, 'keras.pth');
    await convertCheckpoint(refFile('keras_layers.h5'), out);
    const back = await tensorsOf(out);
    const ref = readNpz(refFile('keras_layers.fused.npz'));
    for (const l of manifest.cases.keras_layers.layers) {
      const w = back.get(`${l.name}.weight`)!;
      const [M, N] = l.kernel;
      expect(w.shape).toEqual([l.filters, l.cin / l.groups, M, N]);
      const hwio = ref.get(`${l.name}/kernel`)!;
      // compare through the documented transpose (M, N, ipg, C_out) -> (C_out, ipg, M, N)
      const expected = new Float32Array(w.size);
      const h = toFloat32(hwio);
      const ipg = l.cin / l.groups;
      for (let o = 0; o < l.filters; o++)
        for (let c = 0; c < ipg; c++) for (let m = 0; m < M * N; m++) expected[(o * ipg + c) * M * N + m] = h[(m * ipg + c) * l.filters + o]!;
      expect(relativeError(w, expected)).toBeLessThan(1e-6);
    }
  });

  it('gluon_layers.params -> .npz: the fused kernels under the Gluon names', async () => {
    const out = join(dir, 'gluon.npz');
    await convertCheckpoint(refFile('gluon_layers.params'), out);
    const ours = readNpz(out);
    for (const [k, ref] of readNpz(refFile('gluon_layers.fused.npz'))) expect(relativeError(ours.get(k)!, ref)).toBeLessThan(1e-6);
    expect([...ours.keys()].some((k) => k.endsWith('.D'))).toBe(false);
  });
});

/** A conv chain graph for a stack a checkpoint carries no structure for (PyTorch state dicts, Gluon .params). */
function convStack(
  fused: (i: number) => { weight: Tensor; bias?: Tensor },
  layers: { stride: number; pads: [number, number]; dilation: number; groups: number }[],
  inputShape: [number, number, number],
): Graph {
  const nodes: GraphNode[] = layers.map((l, i) => ({
    name: `conv${i}`,
    inputs: [i === 0 ? 'input' : `conv${i - 1}`],
    output: `conv${i}`,
    op: { kind: 'Conv', ...fused(i), stride: [l.stride, l.stride], pads: [l.pads[0], l.pads[1], l.pads[0], l.pads[1]], dilation: [l.dilation, l.dilation], groups: l.groups },
  }));
  return { input: 'input', output: `conv${layers.length - 1}`, inputShape, nodes };
}

describe('the fused layer stacks compute the reference outputs (ONNX in onnxruntime-node)', () => {
  it('PyTorch stack, fused kernels from layers.pth, within 1e-4 of layers.expected.npy', async () => {
    const ckpt = await loadCheckpoint(refFile('layers.pth'), { kernels: [parseKernelOverride(KERNEL)] });
    const get = (k: string) => ckpt.tensors.find((t) => t.name === k)?.tensor;
    const graph = convStack(
      (i) => ({ weight: fuseLayer(ckpt.layers[i]!, { dtype: 'float32', layout: 'oihw' }), ...(get(`${i}.bias`) ? { bias: get(`${i}.bias`)! } : {}) }),
      torchCase.layers.map((l) => ({ stride: l.stride, pads: l.padding, dilation: l.dilation, groups: l.groups })),
      [3, 11, 11],
    );
    const file = join(dir, 'torch_stack.onnx');
    writeFileSync(file, buildOnnxModel(graph).toBytes());
    const r = await runOnNpy(file, refFile(torchCase.input), refFile(torchCase.expected));
    expect(r.shape).toEqual(torchCase.outputShape);
    expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
  });

  it('Keras stack converts to ONNX by itself (model_config; TensorFlow same padding, NHWC in and out)', async () => {
    const out = join(dir, 'keras.onnx');
    await convertCheckpoint(refFile('keras_layers.h5'), out);
    expect(opTypes(out)).toEqual(['Transpose', 'Conv', 'Conv', 'Conv', 'Conv', 'Conv', 'Conv', 'Transpose']);
    const r = await runOnNpy(out, refFile('keras_layers.input.npy'), refFile('keras_layers.expected.npy'));
    expect(r.shape).toEqual(manifest.cases.keras_layers.outputShape);
    expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
  });

  it('Gluon stack, built from the hyper-parameters in manifest.json, within 1e-4 of gluon_layers.expected.npy', async () => {
    const ckpt = await loadCheckpoint(refFile('gluon_layers.params'));
    const fused = new Map(ckpt.layers.map((l) => [l.keys.W, fuseLayer(l, { dtype: 'float32', layout: 'oihw' })]));
    const get = (k: string) => fused.get(k) ?? ckpt.tensors.find((t) => t.name === k)?.tensor;
    const layers = manifest.cases.gluon_layers.layers;
    const graph = convStack(
      (i) => ({ weight: get(`${i}.weight`)!, ...(layers[i]!.bias ? { bias: get(`${i}.bias`)! } : {}) }),
      layers.map((l) => ({ stride: l.stride, pads: [l.padding, l.padding], dilation: 1, groups: l.groups })),
      [3, 9, 9],
    );
    const file = join(dir, 'gluon.onnx');
    writeFileSync(file, buildOnnxModel(graph).toBytes());
    const r = await runOnNpy(file, refFile('gluon_layers.input.npy'), refFile('gluon_layers.expected.npy'));
    expect(r.shape).toEqual(manifest.cases.gluon_layers.outputShape);
    expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
  });
});

describe('doconv-zoo inspect and convert on the reference files', () => {
  it('inspect --json lists the six DO-Conv layers of layers.pth and its 21 tensors', () => {
    const r = runCli(['inspect', refFile('layers.pth'), '--json', '--kernel', KERNEL]);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ format: 'pytorch-zip', framework: 'pytorch' });
    expect(j.tensors.map((t: { name: string; shape: number[] }) => [t.name, t.shape])).toEqual(torchCase.tensors);
    expect(j.doconvLayers.map((l: { name: string; kernel: number[]; groups: number | null; dMul: number }) => [l.name, l.kernel, l.groups, l.dMul])).toEqual([
      ['0', [3, 3], 1, 9],
      ['1', [3, 3], 2, 10],
      ['2', [3, 3], 4, 9],
      ['3', [5, 5], 1, 27],
      ['4', [3, 1], 1, 3],
      ['5', [1, 1], null, 1],
    ]);
  });

  it('inspect --json lists the nine DO-Conv layers of the tiny ResNet, and none of its plain counterpart', () => {
    const r = runCli(['inspect', refFile(manifest.cases.resnet.file), '--json']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.doconvLayers.map((l: { name: string }) => l.name)).toEqual(manifest.cases.resnet.doconvLayers);
    expect(j.doconvLayers.map((l: { name: string }) => l.name)).toEqual([
      'conv1', 'layer1.0.conv1', 'layer1.0.conv2', 'layer2.0.conv1', 'layer2.0.conv2', 'layer2.0.downsample.0',
      'layer3.0.conv1', 'layer3.0.conv2', 'layer3.0.downsample.0',
    ]);
    const p = runCli(['inspect', refFile(manifest.cases.resnet.plain), '--json']);
    expect(p.status).toBe(0);
    expect(JSON.parse(p.stdout).doconvLayers).toEqual([]);
  });

  it('inspect --json on the Keras and Gluon stacks names their frameworks and layers', () => {
    const k = JSON.parse(runCli(['inspect', refFile('keras_layers.h5'), '--json']).stdout);
    expect([k.format, k.framework, k.doconvLayers.length]).toEqual(['keras-h5', 'keras', 6]);
    const g = JSON.parse(runCli(['inspect', refFile('gluon_layers.params'), '--json']).stdout);
    expect([g.format, g.framework, g.doconvLayers.map((l: { name: string }) => l.name)]).toEqual(['mxnet-ndarray-list', 'gluon', ['0', '1', '2', '3']]);
  });

  it('convert --json prints the summary; without --kernel it is a user error naming the key', () => {
    const out = join(tempDir(), 'fused.pth');
    const r = runCli(['convert', refFile('layers_legacy.pth'), '-o', out, '--kernel', KERNEL, '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ output: out, to: 'pth', fusedLayers: 6, tensorsIn: 21, tensorsOut: 11, from: 'pytorch-legacy' });
    const bad = runCli(['convert', refFile('layers.pth'), '-o', join(tempDir(), 'x.pth')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("key '4'");
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});
