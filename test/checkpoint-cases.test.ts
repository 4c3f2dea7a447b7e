// Checkpoints read and written as their users expect, from inputs in the clone: whole pickled
// nn.Modules (test/data/whole-model, made by scripts/reference/make_whole_model.py), --dtype on
// tensors inside lists and objects, Keras 3 BatchNormalization without scale or center, MXNet Module
// (`arg:`/`aux:`) names, and what the tool says about networks it builds no graph for.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { networkFromCheckpoint } from '../src/arch/network.js';
import { gluonNaming } from '../src/arch/naming-gluon.js';
import { expectedParams } from '../src/arch/resnet.js';
import type { ResNetSpec } from '../src/arch/spec.js';
import { loadCheckpoint } from '../src/checkpoint/load.js';
import { mapTensors } from '../src/checkpoint/tree.js';
import { convertCheckpoint } from '../src/convert.js';
import { writeFileAtomic } from '../src/emit/atomic.js';
import { writePth } from '../src/emit/pth.js';
import { DoconvError } from '../src/errors.js';
import { hdf5, hdf5Ready } from '../src/formats/hdf5.js';
import { writeNdarrayList } from '../src/formats/ndarray-list.js';
import { PyDict, PyGlobal, PyList, PyObject, PyTuple } from '../src/formats/pickle-values.js';
import { ZipWriter } from '../src/formats/zip-writer.js';
import { Tensor, toFloat32 } from '../src/tensor/tensor.js';
import { readNpz, relativeError } from './helpers/npz.js';
import { binunicode, bytes, prng, writeTorchZip } from './helpers/hostile.js';
import { ROOT, runCli, tempDir } from './helpers/paths.js';
import { pythonTier, runPython } from './helpers/python.js';

const DATA = join(ROOT, 'test', 'data', 'whole-model');
const dir = tempDir();

/** The plain network's state dict (fused kernels), in model.state_dict() order, from the generating script. */
const expected = readNpz(join(DATA, 'net.expected.npz'));
const ORDER = ['scale', 'conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked',
  'body.0.conv.weight', 'body.0.conv.bias', 'body.0.bn.weight', 'body.0.bn.bias', 'body.0.bn.running_mean', 'body.0.bn.running_var', 'body.0.bn.num_batches_tracked',
  'body.1.weight', 'body.1.bias', 'fc.weight', 'fc.bias'];

function expectFusedStateDict(names: string[], tensors: Map<string, Tensor>, prefix = ''): void {
  expect(names).toEqual(ORDER.map((k) => `${prefix}${k}`));
  for (const k of ORDER) {
    if (k.endsWith('num_batches_tracked')) continue; // int64 counters: compared by the Python tier
    expect(relativeError(tensors.get(`${prefix}${k}`)!, expected.get(k)!), k).toBeLessThan(1e-6);
  }
}

async function tensorsOf(file: string): Promise<{ names: string[]; map: Map<string, Tensor> }> {
  const ckpt = await loadCheckpoint(file);
  return { names: ckpt.tensors.map((t) => t.name), map: new Map(ckpt.tensors.map((t) => [t.name, t.tensor])) };
}

describe('whole pickled nn.Modules (torch.save(model), test/data/whole-model)', () => {
  it('are read as model.state_dict(): parameters then persistent buffers of each module, in registration order', async () => {
    const ckpt = await loadCheckpoint(join(DATA, 'net.pth'));
    expect(ckpt.tensors.map((t) => t.name)).toEqual([
      'scale', 'conv1.W', 'conv1.D', 'conv1.d_diag', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked',
      'body.0.conv.W', 'body.0.conv.D', 'body.0.conv.d_diag', 'body.0.conv.bias', 'body.0.bn.weight', 'body.0.bn.bias', 'body.0.bn.running_mean',
      'body.0.bn.running_var', 'body.0.bn.num_batches_tracked', 'body.1.W', 'body.1.bias', 'fc.weight', 'fc.bias',
    ]); // no 'scratch' (non-persistent buffer), no 'plain_attribute', no None bias of conv1
    expect(ckpt.layers.map((l) => l.name)).toEqual(['conv1', 'body.0.conv', 'body.1']);
    // one note says what was read, instead of a placeholder note per module class
    expect(ckpt.notes.filter((n) => /whole pickled nn\.Module \(whole_model_net\.Net\).*state_dict\(\), 22 tensors; 2 tensor/.test(n))).toHaveLength(1);
    expect(ckpt.notes.some((n) => /placeholder/.test(n))).toBe(false);
  });

  it('convert net.pth -o x.pth writes the state dict the plain network has: names and fused values', async () => {
    const out = join(dir, 'net.fused.pth');
    const s = await convertCheckpoint(join(DATA, 'net.pth'), out);
    expect(s.fusedLayers).toBe(3);
    expect(s.dropped).toEqual([]);
    expect(s.notes.filter((n) => /whole pickled nn\.Module/.test(n))).toHaveLength(1);
    const back = await loadCheckpoint(out);
    expect(back.root).toBeInstanceOf(PyDict);
    expect((back.root as PyDict).ordered).toBe(true);
    const { names, map } = await tensorsOf(out);
    expectFusedStateDict(names, map);
  });

  it('DataParallel: keys keep the module. prefix, as DataParallel.state_dict() gives them; --flatten strips it', async () => {
    const out = join(dir, 'dp.fused.pth');
    await convertCheckpoint(join(DATA, 'net_dataparallel.pth'), out);
    const dp = await tensorsOf(out);
    expectFusedStateDict(dp.names, dp.map, 'module.');
    const flat = join(dir, 'dp.flat.pth');
    await convertCheckpoint(join(DATA, 'net_dataparallel.pth'), flat, { flatten: true });
    const f = await tensorsOf(flat);
    expectFusedStateDict(f.names, f.map);
  });

  it("a module inside a dict ({'model': net, 'epoch': 3}) becomes its state dict, the rest stays", async () => {
    const out = join(dir, 'nested.fused.pth');
    await convertCheckpoint(join(DATA, 'nested.pth'), out);
    const back = await loadCheckpoint(out);
    const root = back.root as PyDict;
    expect(root.keys).toEqual(['model', 'epoch']);
    expect(root.get('epoch')).toBe(3);
    const { names, map } = await tensorsOf(out);
    expectFusedStateDict(names, map, 'model.');
  });

  it('the CLI writes it, exits 0 and prints one line saying what it read', () => {
    const out = join(dir, 'cli.fused.pth');
    const r = runCli(['convert', join(DATA, 'net.pth'), '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((l) => /whole pickled nn\.Module/.test(l))).toHaveLength(1);
    expect(readFileSync(out).byteLength).toBeGreaterThan(4000); // 18 tensors, not a pickled None
  });

  it('a module whose state_dict() is empty, or a plain object, is refused with exit 1 and nothing is written', async () => {
    const d = tempDir();
    await expect(convertCheckpoint(join(DATA, 'attributes_only.pth'), join(d, 'a.pth'))).rejects.toMatchObject({ code: 'NO_TENSORS', message: expect.stringMatching(/AttributesOnly\) whose state_dict\(\) is empty.*plain attributes/) });
    await expect(convertCheckpoint(join(DATA, 'holder.pth'), join(d, 'h.pth'))).rejects.toMatchObject({ code: 'NO_TENSORS', message: expect.stringMatching(/no tensors: its top level is an object of class whole_model_net\.Holder.*nothing was written.*safetensors/) });
    expect(readdirSync(d)).toEqual([]);
    const r = runCli(['convert', join(DATA, 'holder.pth'), '-o', join(d, 'cli.pth')]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(d, 'cli.pth'))).toBe(false);
    // the safetensors route the message points to does hold the object's tensors
    const st = join(d, 'h.safetensors');
    await convertCheckpoint(join(DATA, 'holder.pth'), st);
    expect((await tensorsOfSafetensors(st)).sort()).toEqual(['weights.a', 'weights.b']);
  });

  it('writePth never writes a file whose tensors would all be dropped', () => {
    const obj = new PyObject(new PyGlobal('some.module', 'Thing'), []);
    const state = new PyDict();
    state.set('w', Tensor.fromFloat32(new Float32Array([1, 2]), [2]));
    obj.state = state;
    const root = new PyDict(true);
    root.set('thing', obj);
    const out = join(dir, 'never.pth');
    expect(() => writePth(out, root)).toThrow(/every tensor is inside an object of class some\.module\.Thing/);
    expect(existsSync(out)).toBe(false);
  });
});

function tensorsOfSafetensors(path: string): string[] {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  return Object.keys(JSON.parse(buf.subarray(8, 8 + n).toString('utf8'))).filter((k) => k !== '__metadata__');
}

const tier = pythonTier();

describe.skipIf(!tier.available)(`the converted whole models load into the plain network with strict=True (${tier.reason})`, () => {
  it.each([
    ['net.pth', []],
    ['net_dataparallel.pth', ['--strip-prefix', 'module.']],
  ])('%s', async (file, extra) => {
    const out = join(dir, `py.${file}`);
    await convertCheckpoint(join(DATA, file), out);
    const r = runPython([join(ROOT, 'scripts', 'reference', 'check_whole_model.py'), join(DATA, file), out, ...extra], 300_000);
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!) as { keys: string[]; relError: number };
    expect(result.keys).toEqual(ORDER.map((k) => (extra.length > 0 ? `module.${k}` : k)));
    expect(result.relError).toBeLessThan(1e-5);
  });
});

describe('--dtype casts every tensor, wherever the tree holds it (test/data/whole-model/objects.pth)', () => {
  it('in a dict, in a list inside a dict, in a list subclass\'s items and in __slots__', async () => {
    const out = join(dir, 'objects.f16.safetensors');
    await convertCheckpoint(join(DATA, 'objects.pth'), out, { dtype: 'float16' });
    const buf = readFileSync(out);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[] }>;
    delete header.__metadata__;
    expect(Object.fromEntries(Object.entries(header).map(([k, v]) => [k, v.dtype]))).toEqual({
      'sd.w': 'F16', 'history.0': 'F16', 'history.1.0': 'F16', 'items.0': 'F16', 'slots.t': 'F16',
    });
    const data = buf.subarray(8 + n);
    const entries = Object.entries(header as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>);
    const decoded = entries.map(([k, v]) => [k, v.dtype, [...toFloat32(new Tensor('float16', v.shape, () => data.subarray(v.data_offsets[0], v.data_offsets[1])))]]);
    expect(decoded).toEqual([
      ['sd.w', 'F16', [1.5, 2.5]], ['history.0', 'F16', [1]], ['history.1.0', 'F16', [2, 3]], ['items.0', 'F16', [4]], ['slots.t', 'F16', [5, 6]],
    ]);
  });

  it('mapTensors replaces the tensor of an object whose state is (None, slots) and of a state that is a tensor', () => {
    const t = (v: number) => Tensor.fromFloat32(new Float32Array([v]), [1], 'float64');
    const slotted = new PyObject(new PyGlobal('m', 'Slotted'), []);
    const slots = new PyDict();
    slots.set('t', t(1));
    slotted.state = new PyTuple([null, slots]);
    const bare = new PyObject(new PyGlobal('m', 'Bare'), []);
    bare.state = t(2);
    const listed = new PyObject(new PyGlobal('m', 'Listed'), []);
    listed.listItems.push(new PyList([t(3)]));
    const root = new PyDict();
    root.set('a', slotted);
    root.set('b', bare);
    root.set('c', listed);
    const seen: string[] = [];
    mapTensors(root, (x, path) => {
      seen.push(path);
      return Tensor.fromFloat32(toFloat32(x), x.shape, 'float16');
    });
    expect(seen).toEqual(['a.t', 'b', 'c.0.0']);
    expect((slots.get('t') as Tensor).dtype).toBe('float16');
    expect((bare.state as Tensor).dtype).toBe('float16');
    expect(((listed.listItems[0] as PyList).items[0] as Tensor).dtype).toBe('float16');
  });
});

/** A Keras 3 .keras archive (config.json + model.weights.h5) written the way Keras 3 writes one. */
async function writeKeras3(path: string, layers: unknown[], vars: Record<string, Float32Array[]>, shapes: Record<string, number[][]>): Promise<void> {
  await hdf5Ready();
  const { h5 } = hdf5() as unknown as { h5: { File: new (p: string, m: string) => H5 } };
  const h5path = `${path}.weights.h5`;
  const f = new h5.File(h5path, 'w');
  const layersGroup = f.create_group('layers');
  for (const [owner, list] of Object.entries(vars)) {
    const g = owner === 'optimizer' ? f.create_group(owner) : layersGroup.create_group(owner);
    const v = g.create_group('vars');
    list.forEach((data, i) => v.create_dataset({ name: String(i), data, shape: shapes[owner]![i]!, dtype: '<f4' }));
  }
  f.close();
  const weights = readFileSync(h5path);
  rmSync(h5path);
  const config = { class_name: 'Sequential', config: { name: 'sequential', layers } };
  writeFileAtomic(path, (fd) => {
    const zip = new ZipWriter(fd, 1);
    zip.add('metadata.json', Buffer.from(JSON.stringify({ keras_version: '3.1.1' })));
    zip.add('config.json', Buffer.from(JSON.stringify(config)));
    zip.add('model.weights.h5', weights);
    zip.finish();
  });
}
interface H5 {
  create_group(name: string): H5;
  create_dataset(o: { name: string; data: Float32Array; shape: number[]; dtype: string }): void;
  close(): void;
}

describe('Keras 3 BatchNormalization without scale or without center', () => {
  const rand = prng(7);
  const vec = (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
  const beta = vec(4);
  const gamma = vec(4, 0.5, 1.5);
  const mean1 = vec(4);
  const var1 = vec(4, 0.5, 1.5);
  const mean2 = vec(4);
  const var2 = vec(4, 0.5, 1.5);
  const file = join(dir, 'bn.keras');
  const ready = writeKeras3(
    file,
    [
      { class_name: 'InputLayer', config: { name: 'input_layer', batch_shape: [null, 6, 6, 3] } },
      { class_name: 'Conv2D', config: { name: 'conv', filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'same', use_bias: true, activation: 'linear' } },
      { class_name: 'BatchNormalization', config: { name: 'bn_noscale', scale: false, center: true, epsilon: 0.001 } },
      { class_name: 'BatchNormalization', config: { name: 'bn_nocenter', scale: true, center: false, epsilon: 0.001 } },
      { class_name: 'GlobalAveragePooling2D', config: { name: 'gap' } },
      { class_name: 'Dense', config: { name: 'dense', units: 2, use_bias: true } },
    ],
    {
      conv: [vec(108), vec(4)],
      bn_noscale: [beta, mean1, var1],
      bn_nocenter: [gamma, mean2, var2],
      dense: [vec(8), vec(2)],
      optimizer: [vec(1), vec(1), vec(108)], // iteration, learning rate, a moment: not model weights
    },
    { conv: [[3, 3, 3, 4], [4]], bn_noscale: [[4], [4], [4]], bn_nocenter: [[4], [4], [4]], dense: [[4, 2], [2]], optimizer: [[1], [1], [3, 3, 3, 4]] },
  );
  const values = (m: Map<string, Tensor>, k: string) => [...toFloat32(m.get(k)!)];

  it('-o x.pth: a missing gamma is 1, a missing beta 0, every statistic in its place; no optimizer variables', async () => {
    await ready;
    const out = join(dir, 'bn.pth');
    await convertCheckpoint(file, out);
    const { names, map } = await tensorsOf(out);
    expect(names).toEqual([
      'conv.weight', 'conv.bias',
      'bn_noscale.weight', 'bn_noscale.bias', 'bn_noscale.running_mean', 'bn_noscale.running_var',
      'bn_nocenter.weight', 'bn_nocenter.bias', 'bn_nocenter.running_mean', 'bn_nocenter.running_var',
      'dense.weight', 'dense.bias',
    ]);
    expect(values(map, 'bn_noscale.weight')).toEqual([1, 1, 1, 1]);
    expect(values(map, 'bn_noscale.bias')).toEqual([...beta]);
    expect(values(map, 'bn_noscale.running_mean')).toEqual([...mean1]);
    expect(values(map, 'bn_noscale.running_var')).toEqual([...var1]);
    expect(values(map, 'bn_nocenter.weight')).toEqual([...gamma]);
    expect(values(map, 'bn_nocenter.bias')).toEqual([0, 0, 0, 0]);
    expect(values(map, 'bn_nocenter.running_mean')).toEqual([...mean2]);
    expect(values(map, 'bn_nocenter.running_var')).toEqual([...var2]);
    expect(map.get('conv.weight')!.shape).toEqual([4, 3, 3, 3]);
    expect(map.get('dense.weight')!.shape).toEqual([2, 4]);
  });

  it('-o x.params spells them gamma/beta; -o x.h5 leaves the missing ones out again', async () => {
    await ready;
    const params = join(dir, 'bn.params');
    await convertCheckpoint(file, params);
    const g = await tensorsOf(params);
    expect(values(g.map, 'bn_noscale.gamma')).toEqual([1, 1, 1, 1]);
    expect(values(g.map, 'bn_nocenter.beta')).toEqual([0, 0, 0, 0]);
    expect(values(g.map, 'bn_nocenter.gamma')).toEqual([...gamma]);
    const h5 = join(dir, 'bn.h5');
    await convertCheckpoint(file, h5);
    const k = await tensorsOf(h5);
    expect(k.names.filter((n) => n.startsWith('bn_'))).toEqual([
      'bn_noscale/bn_noscale/beta:0', 'bn_noscale/bn_noscale/moving_mean:0', 'bn_noscale/bn_noscale/moving_variance:0',
      'bn_nocenter/bn_nocenter/gamma:0', 'bn_nocenter/bn_nocenter/moving_mean:0', 'bn_nocenter/bn_nocenter/moving_variance:0',
    ]);
    expect(values(k.map, 'bn_noscale/bn_noscale/beta:0')).toEqual([...beta]);
  });

  it('the graph gets the same roles: no scale where scale=False, no shift where center=False', async () => {
    await ready;
    const ckpt = await loadCheckpoint(file);
    const net = networkFromCheckpoint(ckpt);
    const bns = net.graph.nodes.filter((n) => n.op.kind === 'BatchNorm').map((n) => n.op as { scale?: Tensor; shift?: Tensor; mean: Tensor });
    expect(bns).toHaveLength(2);
    expect(bns[0]!.scale).toBeUndefined();
    expect([...toFloat32(bns[0]!.shift!)]).toEqual([...beta]);
    expect([...toFloat32(bns[0]!.mean)]).toEqual([...mean1]);
    expect([...toFloat32(bns[1]!.scale!)]).toEqual([...gamma]);
    expect(bns[1]!.shift).toBeUndefined();
    const s = await convertCheckpoint(file, join(dir, 'bn.onnx'));
    expect(s.architecture?.name).toBe('keras_sequential');
  });
});

describe("MXNet Module checkpoints ('arg:'/'aux:' names) of zoo networks", () => {
  const spec: ResNetSpec = { family: 'resnet_v1', block: 'basic', layers: [1, 1], groups: 1, widthPerGroup: 64, numClasses: 10, stem: 'imagenet' };
  const rand = prng(3);
  const params = expectedParams(spec, gluonNaming(spec), (shape) => Tensor.fromFloat32(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rand() - 0.5), shape));

  function writeParams(path: string, name: (k: string) => string): void {
    const arrays = [...params].map(([k, tensor]) => ({ name: name(k), tensor }));
    writeFileAtomic(path, (fd) => writeNdarrayList(fd, arrays));
  }

  it('are recognised as the network their save_parameters names are, with the same weights', async () => {
    const plain = join(dir, 'gluon-plain.params');
    const module = join(dir, 'gluon-module.params');
    writeParams(plain, (k) => k);
    writeParams(module, (k) => (/running_(mean|var)$/.test(k) ? `aux:${k}` : `arg:${k}`));
    const a = networkFromCheckpoint(await loadCheckpoint(plain));
    const b = networkFromCheckpoint(await loadCheckpoint(module));
    expect(b.name).toBe(a.name);
    expect(b.spec).toEqual(spec);
    const convs = (n: typeof a) => n.graph.nodes.filter((x) => x.op.kind === 'Conv').map((x) => [...toFloat32((x.op as { weight: Tensor }).weight)].slice(0, 5));
    expect(convs(b)).toEqual(convs(a));
    expect(convs(b)[0]).toEqual([...toFloat32(params.get('features.0.weight')!)].slice(0, 5));
    const s = await convertCheckpoint(module, join(dir, 'gluon-module.onnx'));
    expect(s.architecture?.name).toBe(a.name);
  });
});

describe('networks the zoo builds no graph for: the message says what was found, what is supported, what to do', () => {
  const save = (name: string, entries: [string, number[]][]): string => {
    const sd = new PyDict(true);
    for (const [k, shape] of entries) sd.set(k, Tensor.fromFloat32(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape));
    const path = join(dir, name);
    writePth(path, sd);
    return path;
  };
  const common = (message: string) => {
    expect(message).toMatch(/ResNet v1\/v1b\/v2, ResNeXt and Plain networks \(ImageNet or CIFAR stems\) in torchvision names.*Keras applications names.*GluonCV ImageNet names/);
    expect(message).toMatch(/A fused checkpoint works for any network.*-o x\.pth/);
    expect(message).not.toMatch(/--arch/);
    expect(message.split('\n')).toHaveLength(1);
  };

  it('a ShuffleNet-like state dict: its module names, and no advice to pass --arch', async () => {
    const file = save('shufflenet.pth', [
      ['conv1.0.weight', [24, 3, 3, 3]], ['conv1.1.weight', [24]], ['stage2.0.branch1.0.weight', [24, 1, 3, 3]], ['stage2.0.branch2.0.weight', [58, 24, 1, 1]],
      ['stage3.0.branch1.0.weight', [116, 1, 3, 3]], ['conv5.0.weight', [1024, 464, 1, 1]], ['fc.weight', [1000, 1024]], ['fc.bias', [1000]],
    ]);
    const err = await convertCheckpoint(file, join(dir, 'shufflenet.onnx')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DoconvError);
    const m = (err as DoconvError).message;
    expect(m).toMatch(/not a network of the zoo: found 8 parameters: conv1 \(2\), stage2 \(2\), stage3, conv5, fc \(2\); torchvision-like names without conv1\.weight or layer1\.0\.\*/);
    common(m);
    const r = runCli(['convert', file, '-o', join(dir, 'shufflenet-cli.onnx')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/stage2 \(2\)/);
  });

  it('a CIFAR ResNet-20 in akamaster naming (conv1, bn1, layer1.0.conv1, ..., linear): the classifier it has instead of fc', async () => {
    const file = save('akamaster.pth', [
      ['conv1.weight', [16, 3, 3, 3]], ['bn1.weight', [16]], ['bn1.bias', [16]], ['layer1.0.conv1.weight', [16, 16, 3, 3]], ['layer1.0.bn1.weight', [16]],
      ['layer2.0.conv1.weight', [32, 16, 3, 3]], ['linear.weight', [10, 64]], ['linear.bias', [10]],
    ]);
    const err = (await convertCheckpoint(file, join(dir, 'akamaster.onnx')).catch((e: unknown) => e)) as DoconvError;
    expect(err.code).toBe('BAD_ARGUMENT');
    expect(err.message).toMatch(/found 8 parameters: conv1, bn1 \(2\), layer1 \(2\), layer2, linear \(2\); torchvision-like names without fc\.weight \(the last weight is 'linear\.weight'\)/);
    common(err.message);
  });

  it('GluonCV CIFAR names (blocks from features.2) are named as such, not taken for an ImageNet ResNet', async () => {
    const arrays: [string, number[]][] = [
      ['features.0.weight', [16, 3, 3, 3]], ['features.1.gamma', [16]], ['features.1.beta', [16]], ['features.1.running_mean', [16]], ['features.1.running_var', [16]],
      ['features.2.0.body.0.weight', [16, 16, 3, 3]], ['features.4.0.body.0.weight', [64, 32, 3, 3]], ['output.weight', [10, 64]], ['output.bias', [10]],
    ];
    const file = join(dir, 'gluon-cifar.params');
    writeFileAtomic(file, (fd) => writeNdarrayList(fd, arrays.map(([name, shape]) => ({ name, tensor: Tensor.fromFloat32(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape) }))));
    const err = (await convertCheckpoint(file, join(dir, 'gluon-cifar.onnx')).catch((e: unknown) => e)) as DoconvError;
    expect(err.message).toMatch(/GluonCV CIFAR ResNet names \(a 3x3 stem of 16 channels, blocks from features\.2\)/);
    expect(err.message).not.toMatch(/resnet\d+_v1 expects/);
    common(err.message);
  });
});

it('the test data stays small (committed files)', () => {
  for (const f of readdirSync(DATA)) {
    expect(readFileSync(join(DATA, f)).byteLength, f).toBeLessThan(200 * 1024);
  }
});

describe('a hostile whole pickled module', () => {
  // torch.save(model) pickles `NEWOBJ Net; BUILD {_parameters, _buffers, _modules}`; here the module
  // is its own submodule (_modules = {'a': self}), which model.state_dict() would recurse into forever.
  const selfContaining = bytes(
    0x80, 2, 'c', 'mymodels\nNet\n', ')', 0x81, 'q', 0,
    '}', '(',
    binunicode('_parameters'), '}',
    binunicode('_buffers'), '}',
    binunicode('_modules'), '}', '(', binunicode('a'), 'h', 0, 'u',
    'u', 'b', '.',
  );

  it('a module that contains itself ends in one PICKLE_LIMIT line naming the nesting (no endless recursion), and nothing is written', () => {
    const dir = tempDir();
    const file = join(dir, 'cycle.pth');
    writeTorchZip(file, selfContaining);
    const r = runCli(['convert', file, '-o', join(dir, 'out.pth')]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/nest deeper than 512/);
    expect(existsSync(join(dir, 'out.pth'))).toBe(false);
  });
});
