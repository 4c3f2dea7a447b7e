// @tier shared-fixtures: reads ../shared/fixtures (or DOCONV_ZOO_FIXTURES); skipped where absent, a failure under CI=true (vitest.config.ts).
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../src/checkpoint/load.js';
import { convertCheckpoint } from '../src/convert.js';
import { fuseLayer } from '../src/doconv/fuse-layer.js';
import { writeTfjsModel } from '../src/emit/tfjs.js';
import type { Graph, GraphNode } from '../src/graph/ir.js';
import { loadModel } from '../src/runtime/load-model.js';
import { tfjsBackendOrder } from '../src/runtime/tfjs-model.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { toFloat32 } from '../src/tensor/tensor.js';
import { nchwToNhwc as toNhwc } from '../src/tensor/layout.js';
import { readNpyFile, relativeError } from './helpers/npz.js';
import { argmaxRows } from './helpers/onnx.js';
import { fixture, runCli, tempDir } from './helpers/paths.js';

const dir = tempDir();

const nchwToNhwc = (t: Tensor) => toNhwc(toFloat32(t), t.shape);

async function run(folder: string, backend: 'wasm' | 'cpu', input: { data: Float32Array; shape: number[] }) {
  const m = await loadModel(folder, { backend: 'tfjs', tfjsBackend: backend });
  try {
    expect(m.executionProvider).toBe(`tfjs-${backend}`);
    return await m.predict(input);
  } finally {
    await m.dispose();
  }
}

// Tolerances for the quantized weights, measured on these fixtures: float16 ~2e-4, uint8 ~1e-2,
// uint8 per output channel ~5e-3 to 7e-3.
const TOLERANCE = { none: 1e-4, float16: 1e-3, uint8: 5e-2, 'uint8-channel': 2e-2 } as const;

describe.each(['wasm', 'cpu'] as const)('TensorFlow.js graph models on the %s backend', (backend) => {
  it.each([
    ['resnet_basic_1111', 32],
    ['resnext_1111_4x8d', 64],
  ] as const)('%s: fp32, float16 and uint8 within their tolerances, top-1 identical', async (name, size) => {
    const x = readNpyFile(fixture('pytorch', `${name}.input.npy`));
    const ref = toFloat32(readNpyFile(fixture('pytorch', `${name}.expected.npy`)));
    for (const quantize of ['none', 'float16', 'uint8', 'uint8-channel'] as const) {
      const folder = join(dir, `${name}_${quantize}_${backend}`);
      await convertCheckpoint(fixture('pytorch', `${name}.pth`), folder, { to: 'tfjs', inputSize: [size, size], quantize });
      const y = await run(folder, backend, nchwToNhwc(x));
      expect(relativeError(y.data, ref)).toBeLessThan(TOLERANCE[quantize]);
      expect(argmaxRows(y.data, 10)).toEqual(argmaxRows(ref, 10));
    }
  });

  it('the Keras layer stack (NHWC in and out) within 1e-4', async () => {
    const folder = join(dir, `keras_${backend}`);
    await convertCheckpoint(fixture('layers', 'keras_layers.h5'), folder, { to: 'tfjs' });
    const x = readNpyFile(fixture('layers', 'keras_layers.input.npy'));
    const y = await run(folder, backend, { data: toFloat32(x), shape: [...x.shape] });
    expect(y.shape).toEqual([2, 4, 6, 4]);
    expect(relativeError(y.data, toFloat32(readNpyFile(fixture('layers', 'keras_layers.expected.npy'))))).toBeLessThan(1e-4);
  });

  it('the Gluon layer stack (groups 2 and 16 as split/concat and depthwise) within 1e-4', async () => {
    const ckpt = await loadCheckpoint(fixture('layers', 'gluon_layers.params'));
    const fused = new Map(ckpt.layers.map((l) => [l.keys.W, fuseLayer(l, { dtype: 'float32', layout: 'oihw' })]));
    const get = (k: string) => fused.get(k) ?? ckpt.tensors.find((t) => t.name === k)!.tensor;
    const stack: [number, number, boolean][] = [[1, 1, true], [1, 2, false], [1, 16, true], [2, 1, true], [0, 1, true]];
    const nodes: GraphNode[] = stack.map(([pad, groups, bias], i) => ({
      name: `conv${i}`,
      inputs: [i === 0 ? 'input' : `conv${i - 1}`],
      output: `conv${i}`,
      op: { kind: 'Conv', weight: get(`${i}.weight`), ...(bias ? { bias: get(`${i}.bias`) } : {}), stride: [1, 1], pads: [pad, pad, pad, pad], dilation: [1, 1], groups },
    }));
    const graph: Graph = { input: 'input', output: 'conv4', inputShape: [3, 9, 9], nodes };
    const folder = join(dir, `gluon_${backend}`);
    writeTfjsModel(folder, graph);
    const y = await run(folder, backend, nchwToNhwc(readNpyFile(fixture('layers', 'gluon_layers.input.npy'))));
    const ref = nchwToNhwc(readNpyFile(fixture('layers', 'gluon_layers.expected.npy')));
    expect(relativeError(y.data, ref.data)).toBeLessThan(1e-4);
  });
});

describe('the TensorFlow.js model folder', () => {
  it('has model.json (graph-model, signature, metadata) and weights in shards of at most 4 MB', async () => {
    const folder = join(dir, 'layout');
    await convertCheckpoint(fixture('pytorch', 'resnet_basic_1111.pth'), folder, { to: 'tfjs' });
    const json = JSON.parse(readFileSync(join(folder, 'model.json'), 'utf8'));
    expect(json.format).toBe('graph-model');
    expect(json.signature.inputs.input.tensorShape.dim.map((d: { size: string }) => d.size)).toEqual(['-1', '224', '224', '3']);
    expect(json.userDefinedMetadata.architecture).toBe('resnet10_v1b');
    expect(json.userDefinedMetadata.source_sha256).toMatch(/^[0-9a-f]{64}$/);
    const shards: string[] = json.weightsManifest[0].paths;
    expect(shards.length).toBeGreaterThan(1);
    for (const s of shards) expect(statSync(join(folder, s)).size).toBeLessThanOrEqual(4 * 1024 * 1024);
    const ops = new Set(json.modelTopology.node.map((n: { op: string }) => n.op));
    expect([...ops].sort()).toEqual(['BiasAdd', 'Const', 'MatMul', 'MaxPool', 'Mean', 'PadV2', 'Placeholder', 'Relu', '_FusedConv2D', 'AddV2'].sort());
  });

  it('never replaces a folder that is not a model folder', async () => {
    const folder = join(dir, 'users_stuff');
    mkdirSync(folder);
    writeFileSync(join(folder, 'notes.txt'), 'keep me');
    await expect(convertCheckpoint(fixture('pytorch', 'resnet_basic_1111.pth'), folder, { to: 'tfjs' })).rejects.toThrow(/not empty and holds no model.json \(first file: 'notes.txt'\)/);
    expect(readdirSync(folder)).toEqual(['notes.txt']);
  });

  it('doconv-zoo predict --backend tfjs takes an NCHW .npy and says which backend ran', async () => {
    const folder = join(dir, 'cli_model');
    await convertCheckpoint(fixture('pytorch', 'resnet_basic_1111.pth'), folder, { to: 'tfjs', inputSize: [32, 32] });
    const r = runCli(['predict', folder, '--backend', 'tfjs', '--input', fixture('pytorch', 'resnet_basic_1111.input.npy'), '--output', join(dir, 'y.npy'), '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ outputShape: [2, 10], executionProvider: 'tfjs-wasm' });
    expect(relativeError(readNpyFile(join(dir, 'y.npy')), readNpyFile(fixture('pytorch', 'resnet_basic_1111.expected.npy')))).toBeLessThan(1e-4);
  });
});

describe('TensorFlow.js backend selection', () => {
  it('prefers @tensorflow/tfjs-node when installed, then WebAssembly, then the cpu backend', () => {
    expect(tfjsBackendOrder({ tfjsNode: true })).toEqual(['tensorflow', 'wasm', 'cpu']);
    expect(tfjsBackendOrder({ tfjsNode: false })).toEqual(['wasm', 'cpu']);
    expect(tfjsBackendOrder({ tfjsNode: false }, 'cpu')).toEqual(['cpu', 'wasm']);
    expect(tfjsBackendOrder({ tfjsNode: true }, 'wasm')).toEqual(['wasm', 'tensorflow', 'cpu']);
  });
});
