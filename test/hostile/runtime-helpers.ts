import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { expect } from 'vitest';
import { ProtoMessage } from '../../src/formats/protobuf.js';
import { encodeNpy } from '../../src/formats/npy.js';
import { Tensor } from '../../src/tensor/tensor.js';

// Hostile models for the runtime tests (issue 12, items 4, 5, 16, 18, 19), built in the test with
// the project's own protobuf writer: no Python, nothing from ../shared.

const FLOAT = 1;
const EXTERNAL = 1;

/** Where an initializer's bytes live: inside the model (raw_data) or in a file beside it. */
export type InitializerData = { raw: Float32Array } | { location: string; offset?: number; length?: number };

export interface TinyOnnxOptions {
  /** The initializer added to the input (4 floats unless raw says otherwise). */
  weight?: InitializerData;
  /** The graph input's declared dims (default ['batch', 4, 1, 1]). */
  inputDims?: (number | string)[];
  /** The op that combines input and weight (default 'Add'; an unknown op fails in onnxruntime). */
  op?: string;
  /** Put the external-data weight in a Constant node's `value` attribute instead of an initializer. */
  asConstantNode?: boolean;
  /** Nest the Constant inside an If node's then_branch subgraph (needs asConstantNode). */
  inSubgraph?: boolean;
}

function tensorProto(name: string, data: InitializerData): ProtoMessage {
  const dims = ['raw' in data ? data.raw.length : 4, 1, 1];
  const t = new ProtoMessage();
  for (const d of dims) t.int(1, d);
  t.int(2, FLOAT).string(8, name);
  if ('raw' in data) return t.bytes(9, new Uint8Array(data.raw.buffer, data.raw.byteOffset, data.raw.byteLength));
  const entry = (k: string, v: string) => new ProtoMessage().string(1, k).string(2, v);
  t.message(13, entry('location', data.location));
  if (data.offset !== undefined) t.message(13, entry('offset', String(data.offset)));
  if (data.length !== undefined) t.message(13, entry('length', String(data.length)));
  return t.int(14, EXTERNAL);
}

function valueInfo(name: string, dims: (number | string)[]): ProtoMessage {
  const shape = new ProtoMessage();
  for (const d of dims) shape.message(1, typeof d === 'number' ? new ProtoMessage().int(1, d) : new ProtoMessage().string(2, d));
  return new ProtoMessage().string(1, name).message(2, new ProtoMessage().message(1, new ProtoMessage().int(1, FLOAT).message(2, shape)));
}

function nodeProto(op: string, inputs: string[], outputs: string[], attrs: ProtoMessage[] = []): ProtoMessage {
  const n = new ProtoMessage();
  for (const i of inputs) n.string(1, i);
  for (const o of outputs) n.string(2, o);
  n.string(3, `${op}_${outputs[0]}`).string(4, op);
  for (const a of attrs) n.message(5, a);
  return n;
}

/** A Constant node whose `value` attribute (AttributeProto.t, type TENSOR) is `weight`. */
function constantNode(output: string, weight: InitializerData): ProtoMessage {
  const attr = new ProtoMessage().string(1, 'value').message(5, tensorProto('w_const', weight)).int(20, 4);
  return nodeProto('Constant', [], [output], [attr]);
}

/**
 * A one-node ONNX model, y = op(x, w) with x [batch, 4, 1, 1] and w [4, 1, 1] floats (ir_version 8, opset 17):
 * small enough to write in a test, and enough to carry external data or a failing op.
 */
export function tinyOnnx(options: TinyOnnxOptions = {}): Uint8Array {
  const weight = options.weight ?? { raw: Float32Array.of(1, 2, 3, 4) };
  const g = new ProtoMessage();
  if (options.asConstantNode && options.inSubgraph) {
    const branch = new ProtoMessage().message(1, constantNode('w_then', weight)).string(2, 'then').message(12, valueInfo('w_then', [4, 1, 1]));
    const other = new ProtoMessage().message(1, constantNode('w_else', { raw: Float32Array.of(0, 0, 0, 0) })).string(2, 'else').message(12, valueInfo('w_else', [4, 1, 1]));
    const cond = new ProtoMessage().int(1, 1).int(2, 9).string(8, 'cond').bytes(9, Uint8Array.of(1)); // dims [1], BOOL, true
    g.message(5, cond);
    const thenAttr = new ProtoMessage().string(1, 'then_branch').message(6, branch).int(20, 5);
    const elseAttr = new ProtoMessage().string(1, 'else_branch').message(6, other).int(20, 5);
    g.message(1, nodeProto('If', ['cond'], ['w'], [thenAttr, elseAttr]));
  } else if (options.asConstantNode) g.message(1, constantNode('w', weight));
  else g.message(5, tensorProto('w', weight));
  g.message(1, nodeProto(options.op ?? 'Add', ['x', 'w'], ['y']));
  g.string(2, 'tiny');
  g.message(11, valueInfo('x', options.inputDims ?? ['batch', 4, 1, 1]));
  g.message(12, valueInfo('y', ['batch', 4, 1, 1]));
  return new ProtoMessage()
    .int(1, 8)
    .string(2, 'doconv-zoo-test')
    .message(7, g)
    .message(8, new ProtoMessage().string(1, '').int(2, 17))
    .toBytes();
}

/** A float32 .npy file of `shape`, holding `values` (zeros when absent). */
export function writeNpy(path: string, shape: number[], values?: Float32Array): void {
  const n = shape.reduce((a, b) => a * b, 1);
  const t = Tensor.fromFloat32(values ?? new Float32Array(n), shape);
  writeFileSync(path, Buffer.concat(encodeNpy(t)));
}

/**
 * A .npy header that claims `shape` with no data after it (what a 128-byte hostile input is):
 * the size check must come before anything is allocated from the header's numbers.
 */
export function writeNpyHeaderOnly(path: string, shape: number[]): void {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre[0] = 0x93;
  pre.write('NUMPY', 1, 'latin1');
  pre[6] = 1;
  pre.writeUInt16LE(header.length, 8);
  writeFileSync(path, Buffer.concat([pre, Buffer.from(header, 'latin1')]));
}

export function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path]);
  if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
}

/** Exit 1 with exactly one line `doconv-zoo: error: ...`, no terminal escapes, holding every needle. */
export function expectOneLineError(r: { status: number; stderr: string }, ...needles: string[]): void {
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.status, r.stderr).toBe(1);
  const line = r.stderr.trim();
  expect(line).toMatch(/^doconv-zoo: error: /);
  expect(line).not.toMatch(/\x1b/);
  for (const n of needles) expect(line).toContain(n);
}
