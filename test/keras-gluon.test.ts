// @tier shared-fixtures: reads ../shared/fixtures (or DOCONV_ZOO_FIXTURES); skipped where absent, a failure under CI=true (vitest.config.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint, loadCheckpointBytes } from '../src/checkpoint/load.js';
import { DoconvError } from '../src/errors.js';
import { prng } from './helpers/hostile.js';
import { convertCheckpoint } from '../src/convert.js';
import { fuseLayer } from '../src/doconv/fuse-layer.js';
import { buildOnnxModel } from '../src/emit/onnx.js';
import type { Graph, GraphNode } from '../src/graph/ir.js';
import { Tensor } from '../src/tensor/tensor.js';
import { readNpz, relativeError } from './helpers/npz.js';
import { opTypes, runOnNpy } from './helpers/onnx.js';
import { fixture, runCli, tempDir } from './helpers/paths.js';

const dir = tempDir();

describe('Keras DOConv2D (../shared/fixtures/layers/keras_layers.h5)', () => {
  it('recognises the six layers from the model_config, 3x1 kernel included', async () => {
    const ckpt = await loadCheckpoint(fixture('layers', 'keras_layers.h5'));
    expect(ckpt.format).toBe('keras-h5');
    expect(ckpt.layers.map((l) => [l.name, l.inChannels, l.outChannels, l.groups, l.kernel, l.dMul, l.bias])).toEqual([
      ['do_conv2d', 3, 8, 1, [3, 3], 9, true],
      ['do_conv2d_1', 8, 16, 2, [3, 3], 10, false],
      ['do_conv2d_2', 16, 16, 16, [3, 3], 9, true],
      ['do_conv2d_3', 16, 8, 1, [5, 5], 27, true],
      ['do_conv2d_4', 8, 6, 1, [3, 1], 3, true],
      ['do_conv2d_5', 6, 4, 1, [1, 1], 1, true],
    ]);
  });

  it('fuses with the Keras pairing (column c*g + floor(o/opg)) to the reference kernels (M, N, C_in/g, C_out) within 1e-5', async () => {
    const ckpt = await loadCheckpoint(fixture('layers', 'keras_layers.h5'));
    const ref = readNpz(fixture('layers', 'keras_layers.fused.npz'));
    for (const layer of ckpt.layers) {
      const expected = ref.get(`${layer.name}/kernel`)!;
      const fused = fuseLayer(layer);
      expect(fused.shape).toEqual(expected.shape);
      expect(relativeError(fused, expected)).toBeLessThan(1e-5);
    }
  });

  it('runs as ONNX (TensorFlow same padding spelled out, NHWC in and out) within 1e-4 of the reference', async () => {
    const out = join(dir, 'keras.onnx');
    await convertCheckpoint(fixture('layers', 'keras_layers.h5'), out);
    expect(opTypes(out)).toEqual(['Transpose', 'Conv', 'Conv', 'Conv', 'Conv', 'Conv', 'Conv', 'Transpose']);
    const r = await runOnNpy(out, fixture('layers', 'keras_layers.input.npy'), fixture('layers', 'keras_layers.expected.npy'));
    expect(r.shape).toEqual([2, 4, 6, 4]);
    expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
  });
});

// gluon_layers.params: (in, out, kernel, padding, groups, bias), stride 1 -- a .params file carries none of it.
const GLUON_STACK: [number, number, number, number, number, boolean][] = [
  [3, 8, 3, 1, 1, true],
  [8, 16, 3, 1, 2, false],
  [16, 16, 3, 1, 16, true],
  [16, 8, 5, 2, 1, true],
  [8, 4, 1, 0, 1, true],
];

describe('GluonCV DOConv2D (../shared/fixtures/layers/gluon_layers.params)', () => {
  it('recognises the four layers with D (the 1x1 has none: its weight is the kernel)', async () => {
    const ckpt = await loadCheckpoint(fixture('layers', 'gluon_layers.params'));
    expect(ckpt.format).toBe('mxnet-ndarray-list');
    expect(ckpt.layers.map((l) => [l.name, l.inChannels, l.outChannels, l.groups, l.kernel])).toEqual([
      ['0', 3, 8, 1, [3, 3]],
      ['1', 8, 16, 2, [3, 3]],
      ['2', 16, 16, 16, [3, 3]],
      ['3', 16, 8, 1, [5, 5]],
    ]);
  });

  it('fuses with the Gluon rule to the reference kernels within 1e-5', async () => {
    const out = join(dir, 'gluon.npz');
    await convertCheckpoint(fixture('layers', 'gluon_layers.params'), out);
    const ours = readNpz(out);
    for (const [k, ref] of readNpz(fixture('layers', 'gluon_layers.fused.npz'))) expect(relativeError(ours.get(k)!, ref)).toBeLessThan(1e-5);
  });

  it('runs as ONNX, built from the documented hyper-parameters, within 1e-4 of the reference', async () => {
    const ckpt = await loadCheckpoint(fixture('layers', 'gluon_layers.params'));
    const fused = new Map(ckpt.layers.map((l) => [l.keys.W, fuseLayer(l, { dtype: 'float32', layout: 'oihw' })]));
    const get = (k: string) => fused.get(k) ?? (ckpt.tensors.find((t) => t.name === k)!.tensor as Tensor);
    const nodes: GraphNode[] = GLUON_STACK.map(([, , , pad, groups, bias], i) => ({
      name: `conv${i}`,
      inputs: [i === 0 ? 'input' : `conv${i - 1}`],
      output: `conv${i}`,
      op: { kind: 'Conv', weight: get(`${i}.weight`), ...(bias ? { bias: get(`${i}.bias`) } : {}), stride: [1, 1], pads: [pad, pad, pad, pad], dilation: [1, 1], groups },
    }));
    const graph: Graph = { input: 'input', output: 'conv4', inputShape: [3, 9, 9], nodes };
    const file = join(dir, 'gluon.onnx');
    writeFileSync(file, buildOnnxModel(graph).toBytes());
    const r = await runOnNpy(file, fixture('layers', 'gluon_layers.input.npy'), fixture('layers', 'gluon_layers.expected.npy'));
    expect(r.shape).toEqual([2, 4, 9, 9]);
    expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
  });
});

describe('hostile Keras and Gluon files', () => {
  const cases: [string, Uint8Array][] = [
    ['empty.h5', new Uint8Array(0)],
    ['random.params', Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff)],
    ['hdf5-signature-only.h5', Uint8Array.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, ...new Array(200).fill(0)])],
  ];
  const huge = new Uint8Array(64);
  const v = new DataView(huge.buffer);
  v.setBigUint64(0, 0x112n, true);
  v.setBigUint64(16, 2n ** 40n, true);
  cases.push(['count-2^40.params', huge]);
  it.each(cases)('%s: exit 1 with one line naming the file, quickly', async (name, data) => {
    const file = join(dir, name);
    writeFileSync(file, data);
    const r = runCli(['inspect', file], 20_000);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(file);
  });

  it('a .params whose record count claims 2^40 records is refused before any allocation', async () => {
    const file = join(dir, 'count-2^40.params');
    await expect(loadCheckpoint(file)).rejects.toThrow(/claims 1099511627776 records/);
  });
});

describe('fuzzing the Keras and Gluon readers', () => {
  const mutate = (src: Uint8Array, random: () => number): Uint8Array => {
    const m = src.slice();
    if (random() < 0.7) {
      const flips = 1 + Math.floor(random() * 8);
      for (let i = 0; i < flips; i++) m[Math.floor(random() * m.length)] = Math.floor(random() * 256);
      return m;
    }
    return m.subarray(0, Math.floor(random() * m.length));
  };
  it.each([
    ['gluon_layers.params', 1500],
    ['keras_layers.h5', 300],
  ] as const)('%s: %i mutants give a result or a DoconvError, nothing else', async (name, runs) => {
    const src = new Uint8Array(readFileSync(fixture('layers', name)));
    const random = prng(name.length * 7919);
    let rejected = 0;
    for (let run = 0; run < runs; run++) {
      try {
        const ckpt = await loadCheckpointBytes(mutate(src, random), name);
        for (const l of ckpt.layers) fuseLayer(l);
      } catch (err) {
        if (!(err instanceof DoconvError)) throw new Error(`run ${run}: ${(err as Error).stack}`);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(0);
  }, 300_000);
});

describe('Keras save_weights() files (no model_config)', () => {
  it('recognises DOConv2D layers by shape, and --config model.json supplies the graph', async () => {
    // the fixture's model_weights group, as save_weights() writes it, and its config as model.to_json() gives it
    const { hdf5Ready, hdf5 } = await import('../src/formats/hdf5.js');
    await hdf5Ready();
    const { h5 } = hdf5();
    const src = new h5.File(fixture('layers', 'keras_layers.h5'), 'r');
    const config = JSON.parse(String(src.attrs.model_config!.value));
    const file = join(dir, 'save_weights.h5');
    const dst = new h5.File(file, 'w');
    const mw = src.get('model_weights') as InstanceType<typeof h5.Group>;
    dst.create_attribute('layer_names', mw.attrs.layer_names!.value as string[]);
    for (const layer of mw.attrs.layer_names!.value as string[]) {
      const g = dst.create_group(layer);
      const names = (src.get(`model_weights/${layer}`) as InstanceType<typeof h5.Group>).attrs.weight_names!.value as string[];
      g.create_attribute('weight_names', names);
      for (const w of names) {
        const d = src.get(`model_weights/${layer}/${w}`) as InstanceType<typeof h5.Dataset>;
        const [inner, leaf] = [w.slice(0, w.lastIndexOf('/')), w.slice(w.lastIndexOf('/') + 1)];
        const parent = (g.get(inner) as InstanceType<typeof h5.Group> | null) ?? g.create_group(inner);
        parent.create_dataset({ name: leaf, data: d.value as Float32Array, shape: d.shape!, dtype: '<f4' });
      }
    }
    dst.close();
    src.close();
    const plain = await loadCheckpoint(file);
    expect(plain.config).toBeUndefined();
    expect(plain.layers).toHaveLength(6);
    const configFile = join(dir, 'model.json');
    writeFileSync(configFile, JSON.stringify(config));
    const out = join(dir, 'save_weights.onnx');
    const r1 = runCli(['convert', file, '--config', configFile, '-o', out]);
    expect(r1.stderr).toBe('');
    const r = await runOnNpy(out, fixture('layers', 'keras_layers.input.npy'), fixture('layers', 'keras_layers.expected.npy'));
    expect(relativeError(r.y, r.ref)).toBeLessThan(1e-4);
  });

  it('predict on a Keras checkpoint takes NHWC data, as Keras does', async () => {
    const y = join(dir, 'keras_pred.npy');
    const r = runCli(['predict', fixture('layers', 'keras_layers.h5'), '--input', fixture('layers', 'keras_layers.input.npy'), '--output', y, '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).outputShape).toEqual([2, 4, 6, 4]);
  });
});

describe('Keras ZeroPadding2D in a Sequential model', () => {
  it('becomes a zero Pad in ONNX and TensorFlow.js, and a padded conv equals the conv with the same padding', async () => {
    // The fixture's first layer is a 3x3 'same' conv on 11x11: ZeroPadding2D(1) + the same conv 'valid'
    // must give exactly the fixture model's first layer output.
    const { hdf5Ready, hdf5 } = await import('../src/formats/hdf5.js');
    await hdf5Ready();
    const src = new (hdf5().h5.File)(fixture('layers', 'keras_layers.h5'), 'r');
    const config = JSON.parse(String(src.attrs.model_config!.value));
    src.close();
    const layers = config.config.layers;
    const first = { ...layers[1], config: { ...layers[1].config, padding: 'valid' } };
    const padded = { ...config, config: { ...config.config, layers: [layers[0], { class_name: 'ZeroPadding2D', config: { name: 'pad', padding: [[1, 1], [1, 1]] } }, first] } };
    const same = { ...config, config: { ...config.config, layers: [layers[0], layers[1]] } };
    const outputs: Float32Array[] = [];
    for (const [tag, cfg] of [['padded', padded], ['same', same]] as const) {
      const cfgFile = join(dir, `${tag}.json`);
      writeFileSync(cfgFile, JSON.stringify(cfg));
      const onnx = join(dir, `${tag}.onnx`);
      const ckpt = await loadCheckpoint(fixture('layers', 'keras_layers.h5'), { config: cfg });
      const { networkFromCheckpoint } = await import('../src/arch/network.js');
      const { buildOnnxModel } = await import('../src/emit/onnx.js');
      // only the first layer's weights are used: take that layer's tensors
      const net = networkFromCheckpoint({ ...ckpt, root: ckpt.root, config: cfg } as typeof ckpt);
      writeFileSync(onnx, buildOnnxModel(net.graph).toBytes());
      if (tag === 'padded') expect(opTypes(onnx)).toContain('Pad');
      const r = await runOnNpy(onnx, fixture('layers', 'keras_layers.input.npy'), fixture('layers', 'keras_layers.input.npy'));
      outputs.push(r.y);
    }
    expect(relativeError(outputs[0]!, outputs[1]!)).toBe(0);
  });
});

describe('Keras attributes split into chunks', () => {
  it('joins layer_names0, layer_names1, ... as Keras does when the list outgrows the HDF5 header', async () => {
    const { hdf5Ready, hdf5 } = await import('../src/formats/hdf5.js');
    await hdf5Ready();
    const { h5 } = hdf5();
    const file = join(dir, 'chunked.h5');
    const f = new h5.File(file, 'w');
    f.create_attribute('layer_names0', ['dense_a', 'dense_b']);
    f.create_attribute('layer_names1', ['dense_c']);
    for (const name of ['dense_a', 'dense_b', 'dense_c']) {
      const g = f.create_group(name);
      g.create_attribute('weight_names0', [`${name}/kernel:0`]);
      g.create_attribute('weight_names1', [`${name}/bias:0`]);
      const inner = g.create_group(name);
      inner.create_dataset({ name: 'kernel:0', data: new Float32Array(6), shape: [2, 3], dtype: '<f4' });
      inner.create_dataset({ name: 'bias:0', data: new Float32Array(3), shape: [3], dtype: '<f4' });
    }
    f.close();
    const ckpt = await loadCheckpoint(file);
    expect(ckpt.tensors.map((t) => t.name)).toEqual(['dense_a/dense_a/kernel:0', 'dense_a/dense_a/bias:0', 'dense_b/dense_b/kernel:0', 'dense_b/dense_b/bias:0', 'dense_c/dense_c/kernel:0', 'dense_c/dense_c/bias:0']);
  });
});
