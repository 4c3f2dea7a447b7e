import { DoconvError } from '../errors.js';

// Just enough protobuf decoding to read an ONNX model's metadata_props and its graph's input and
// output declarations, skipping everything else (weights included) by length.

interface Field {
  field: number;
  wire: number;
  value: number | Uint8Array;
}

function* fields(b: Uint8Array): Generator<Field> {
  let p = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (p >= b.byteLength) throw new DoconvError('TRUNCATED', 'protobuf varint runs past the end', { offset: p });
      const byte = b[p++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
    }
    throw new DoconvError('CORRUPT', 'protobuf varint longer than 10 bytes', { offset: p });
  };
  while (p < b.byteLength) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) yield { field, wire, value: varint() };
    else if (wire === 1) {
      p += 8;
      yield { field, wire, value: 0 };
    } else if (wire === 5) {
      p += 4;
      yield { field, wire, value: 0 };
    } else if (wire === 2) {
      const len = varint();
      if (p + len > b.byteLength) throw new DoconvError('TRUNCATED', `protobuf field ${field} of ${len} bytes runs past the end`, { offset: p });
      yield { field, wire, value: b.subarray(p, p + len) };
      p += len;
    } else throw new DoconvError('CORRUPT', `unsupported protobuf wire type ${wire}`, { offset: p });
    if (p > b.byteLength) throw new DoconvError('TRUNCATED', 'protobuf message runs past the end', { offset: p });
  }
}

const text = (v: number | Uint8Array) => (typeof v === 'number' ? '' : Buffer.from(v).toString('utf8'));

export interface OnnxValueInfo {
  name: string;
  elemType: number;
  dims: (number | string)[];
}

export interface OnnxInfo {
  irVersion: number;
  metadata: Record<string, string>;
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
  /** op_type of every graph node, in order. */
  ops: string[];
}

function valueInfo(b: Uint8Array): OnnxValueInfo {
  const info: OnnxValueInfo = { name: '', elemType: 0, dims: [] };
  for (const f of fields(b)) {
    if (f.field === 1) info.name = text(f.value);
    if (f.field === 2 && typeof f.value !== 'number') {
      for (const t of fields(f.value)) {
        if (t.field !== 1 || typeof t.value === 'number') continue;
        for (const tt of fields(t.value)) {
          if (tt.field === 1 && typeof tt.value === 'number') info.elemType = tt.value;
          if (tt.field === 2 && typeof tt.value !== 'number') {
            for (const d of fields(tt.value)) {
              if (d.field !== 1 || typeof d.value === 'number') continue;
              let dim: number | string = '?';
              for (const dd of fields(d.value)) {
                if (dd.field === 1 && typeof dd.value === 'number') dim = dd.value;
                if (dd.field === 2) dim = text(dd.value);
              }
              info.dims.push(dim);
            }
          }
        }
      }
    }
  }
  return info;
}

/** Reads metadata_props and the graph's inputs and outputs of an ONNX ModelProto. */
export function readOnnxInfo(model: Uint8Array): OnnxInfo {
  const info: OnnxInfo = { irVersion: 0, metadata: Object.create(null) as Record<string, string>, inputs: [], outputs: [], ops: [] };
  for (const f of fields(model)) {
    if (f.field === 1 && typeof f.value === 'number') info.irVersion = f.value;
    if (f.field === 14 && typeof f.value !== 'number') {
      let k = '';
      let v = '';
      for (const e of fields(f.value)) {
        if (e.field === 1) k = text(e.value);
        if (e.field === 2) v = text(e.value);
      }
      info.metadata[k] = v;
    }
    if (f.field === 7 && typeof f.value !== 'number') {
      for (const g of fields(f.value)) {
        if (g.field === 1 && typeof g.value !== 'number') {
          for (const n of fields(g.value)) if (n.field === 4) info.ops.push(text(n.value));
        }
        if (g.field === 11 && typeof g.value !== 'number') info.inputs.push(valueInfo(g.value));
        if (g.field === 12 && typeof g.value !== 'number') info.outputs.push(valueInfo(g.value));
      }
    }
  }
  if (info.irVersion === 0 || info.inputs.length === 0) throw new DoconvError('WRONG_FORMAT', 'not an ONNX model (no ir_version or graph inputs)', { offset: 0 });
  return info;
}

/** A tensor whose bytes live in another file (TensorProto.data_location = EXTERNAL). */
export interface OnnxExternalData {
  /** The tensor's name (TensorProto.name). */
  tensor: string;
  location: string;
  offset: number;
  /** Absent: to the end of the file. */
  length: number | undefined;
}

type ProtoKind = 'model' | 'graph' | 'node' | 'attribute' | 'function' | 'training' | 'sparse' | 'tensor';

/** Which fields of each ONNX message hold which nested messages (onnx.proto), as far as tensors go. */
const CHILDREN: Readonly<Record<ProtoKind, Readonly<Record<number, ProtoKind>>>> = {
  model: { 7: 'graph', 20: 'training', 25: 'function' },
  graph: { 1: 'node', 5: 'tensor', 15: 'sparse' },
  node: { 5: 'attribute' },
  attribute: { 5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparse', 23: 'sparse' },
  function: { 7: 'node' },
  training: { 1: 'graph', 2: 'graph' },
  sparse: { 1: 'tensor', 2: 'tensor' },
  tensor: {},
};

const EXTERNAL = 1;

function externalOf(tensor: Uint8Array): OnnxExternalData | undefined {
  let name = '';
  let external = false;
  const entries = new Map<string, string>();
  for (const f of fields(tensor)) {
    if (f.field === 8) name = text(f.value);
    if (f.field === 14 && f.value === EXTERNAL) external = true;
    if (f.field === 13 && typeof f.value !== 'number') {
      let k = '';
      let v = '';
      for (const e of fields(f.value)) {
        if (e.field === 1) k = text(e.value);
        if (e.field === 2) v = text(e.value);
      }
      entries.set(k, v);
    }
  }
  if (!external && entries.size === 0) return undefined;
  const number = (k: string): number | undefined => {
    const v = entries.get(k);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new DoconvError('MODEL_INVALID', `external data ${k} '${v}' is not a byte count`, { key: name });
    return n;
  };
  return { tensor: name, location: entries.get('location') ?? '', offset: number('offset') ?? 0, length: number('length') };
}

/**
 * Every tensor of the model stored outside it: initializers, sparse initializers, Constant and
 * other node attributes, in every subgraph (If/Loop/Scan bodies), function and training graph.
 * The walk uses its own stack, so a deeply nested model cannot overflow the call stack.
 */
export function readOnnxExternalData(model: Uint8Array): OnnxExternalData[] {
  const found: OnnxExternalData[] = [];
  const stack: [ProtoKind, Uint8Array][] = [['model', model]];
  while (stack.length > 0) {
    const [kind, bytes] = stack.pop()!;
    if (kind === 'tensor') {
      const ext = externalOf(bytes);
      if (ext !== undefined) found.push(ext);
      continue;
    }
    const children = CHILDREN[kind];
    for (const f of fields(bytes)) {
      const child = Object.hasOwn(children, f.field) ? children[f.field] : undefined;
      if (child !== undefined && typeof f.value !== 'number') stack.push([child, f.value]);
    }
  }
  return found;
}
