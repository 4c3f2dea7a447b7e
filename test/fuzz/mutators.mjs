// Deterministic mutators of the fuzz tier: every mutant is a pure function of (seed bytes, reader,
// base seed, mutant index), so a culprit found in a batch can be re-run alone, and replayed later
// from the numbers in the failure message. Plain JavaScript: the child runs without a TS loader.

/** mulberry32: a small seeded generator (test/helpers/hostile.ts re-exports it for the in-process fuzzers). */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a of a string: the per-mutant seed, so mutant i does not depend on mutants before it. */
export function hashSeed(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const int = (random, n) => Math.floor(random() * n);
const pick = (random, xs) => xs[int(random, xs.length)];

/** A position biased to where formats keep their structure: the head (headers, pickles) and the tail (zip directories). */
function position(random, length) {
  if (length === 0) return 0;
  const r = random();
  if (r < 0.4) return int(random, Math.min(4096, length));
  if (r < 0.6) return Math.max(0, length - 1 - int(random, Math.min(1024, length)));
  return int(random, length);
}

function randomBytes(random, n) {
  return Uint8Array.from({ length: n }, () => int(random, 256));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Values that break length and count fields: zero, sign bits, all ones, off by one, large powers of two. */
function nudgedInteger(random, old, width) {
  const max = width === 4 ? 0xffffffffn : 0xffffffffffffffffn;
  const choices = [0n, 1n, max, max >> 1n, (max >> 1n) + 1n, old + 1n, old - 1n, old * 2n, old * 65536n, 1n << 31n, 1n << 32n, 1n << 40n, 1n << 53n, 1n << 62n];
  return BigInt.asUintN(width * 8, pick(random, choices));
}

const BYTE_MUTATIONS = [
  function flip(random, data) {
    const m = data.slice();
    const n = 1 + int(random, 8);
    const at = [];
    for (let i = 0; i < n && m.length > 0; i++) {
      const p = position(random, m.length);
      m[p] = random() < 0.5 ? m[p] ^ (1 << int(random, 8)) : int(random, 256);
      at.push(p);
    }
    return [m, `flip ${n} byte(s) at ${at.join(',')}`];
  },
  function overwriteRun(random, data) {
    const m = data.slice();
    const at = position(random, m.length);
    const len = Math.min(1 + int(random, 64), m.length - at);
    const fill = pick(random, ['zeros', 'ones', 'random']);
    const run = fill === 'zeros' ? new Uint8Array(len) : fill === 'ones' ? new Uint8Array(len).fill(0xff) : randomBytes(random, len);
    m.set(run, at);
    return [m, `overwrite ${len} byte(s) at ${at} with ${fill}`];
  },
  function insert(random, data) {
    const at = position(random, data.length);
    if (random() < 0.5 && data.length > 0) {
      const from = int(random, data.length);
      const chunk = data.slice(from, from + 1 + int(random, 512));
      return [concat(data.subarray(0, at), chunk, data.subarray(at)), `insert a copy of ${chunk.length} byte(s) from ${from} at ${at}`];
    }
    const junk = randomBytes(random, 1 + int(random, 64));
    return [concat(data.subarray(0, at), junk, data.subarray(at)), `insert ${junk.length} random byte(s) at ${at}`];
  },
  function remove(random, data) {
    const at = position(random, data.length);
    const len = 1 + int(random, 256);
    return [concat(data.subarray(0, at), data.subarray(at + len)), `delete ${Math.min(len, data.length - at)} byte(s) at ${at}`];
  },
  function truncate(random, data) {
    const at = random() < 0.5 ? int(random, data.length) : position(random, data.length);
    return [data.slice(0, at), `truncate to ${at} byte(s)`];
  },
  function integerField(random, data) {
    const m = data.slice();
    const width = random() < 0.6 ? 4 : 8;
    if (m.length < width) return [m, 'integer field: file too short, unchanged'];
    let at = Math.min(position(random, m.length), m.length - width);
    if (random() < 0.7) at -= at % width; // most length fields are aligned
    const view = new DataView(m.buffer, m.byteOffset, m.byteLength);
    const little = random() < 0.8;
    const old = width === 4 ? BigInt(view.getUint32(at, little)) : view.getBigUint64(at, little);
    const value = nudgedInteger(random, old, width);
    if (width === 4) view.setUint32(at, Number(value), little);
    else view.setBigUint64(at, value, little);
    return [m, `uint${width * 8}${little ? 'le' : 'be'} at ${at}: ${old} -> ${value}`];
  },
  function copyOver(random, data) {
    const m = data.slice();
    const from = position(random, m.length);
    const to = position(random, m.length);
    const chunk = data.slice(from, from + 1 + int(random, 128));
    m.set(chunk.subarray(0, Math.max(0, m.length - to)), to);
    return [m, `copy ${chunk.length} byte(s) from ${from} over ${to}`];
  },
];

/** One to three byte-level mutations (flips, runs, inserts, deletes, truncation, integer fields, copies). */
export function mutateBytes(random, data) {
  const steps = random() < 0.7 ? 1 : 2 + int(random, 2);
  let m = data;
  const what = [];
  for (let i = 0; i < steps; i++) {
    const [next, description] = pick(random, BYTE_MUTATIONS)(random, m);
    m = next;
    what.push(description);
  }
  return { bytes: m, mutation: what.join('; ') };
}

const HOSTILE_NUMBERS = [0, -1, 1, 0.5, 65536, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 31), 1e12, 1e308, 1e-300, 4096 * 4096];
const HOSTILE_STRINGS = [
  '../x', '../../../../../../x', '/etc/passwd', '/dev/zero', '/proc/self/environ', '', '.', '..', 'a'.repeat(5000),
  'x\n\u001b[31mred', 'constructor', '__proto__', 'toString', 'file:///etc/passwd', 'http://169.254.169.254/latest/meta-data',
  'http://127.0.0.1:9/x', 'tiny/../../x', '%2e%2e/x', 'C:\\x', '\u0000', 'float32', 'int64', 'string', 'NaN',
];

/** Every node of a JSON value with its path (so a mutation can name what it changed). */
function jsonNodes(root) {
  const out = [];
  const stack = [[root, []]];
  while (stack.length > 0) {
    const [node, path] = stack.pop();
    out.push(path);
    if (node !== null && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) stack.push([v, [...path, Array.isArray(node) ? Number(k) : k]]);
    }
  }
  return out;
}

function getAt(root, path) {
  return path.reduce((node, k) => node[k], root);
}

function setAt(root, path, value) {
  if (path.length === 0) return value;
  const parent = getAt(root, path.slice(0, -1));
  parent[path[path.length - 1]] = value;
  return root;
}

/** A replacement for a JSON value that keeps the rest of the document valid. */
function hostileValue(random, old) {
  const r = random();
  if (typeof old === 'number') return r < 0.8 ? pick(random, HOSTILE_NUMBERS) : String(old);
  if (typeof old === 'string') return r < 0.8 ? pick(random, HOSTILE_STRINGS) : r < 0.9 ? old.repeat(50) : Number(old) || 1;
  if (typeof old === 'boolean') return r < 0.7 ? !old : 'true';
  if (Array.isArray(old)) {
    if (r < 0.3) return null;
    if (r < 0.5) return [];
    if (r < 0.7 && old.length > 0) return Array.from({ length: 200 }, () => old[0]);
    if (r < 0.85) return [...old, ...old];
    return {};
  }
  if (old !== null && typeof old === 'object') {
    const keys = Object.keys(old);
    if (r < 0.3 && keys.length > 0) {
      const copy = { ...old };
      delete copy[pick(random, keys)];
      return copy;
    }
    if (r < 0.45) return null;
    if (r < 0.6) return [];
    if (r < 0.8) return JSON.parse(`{"__proto__": {"polluted": 1}, "constructor": 1, ${JSON.stringify(old).slice(1)}`.replace(', }', '}'));
    return 'object';
  }
  return r < 0.5 ? 0 : 'null';
}

/**
 * JSON-aware mutation: one to three nodes (half of the picks under `focus` paths when given) get hostile
 * values (huge or negative numbers, '../x' and device paths, null arrays, __proto__ keys, type swaps).
 */
export function mutateJson(random, text, focus = []) {
  let root = JSON.parse(text);
  const steps = 1 + int(random, 3);
  const what = [];
  for (let i = 0; i < steps; i++) {
    const nodes = jsonNodes(root);
    const focused = nodes.filter((p) => focus.some((f) => p.join('.').startsWith(f)));
    const path = focused.length > 0 && random() < 0.5 ? pick(random, focused) : pick(random, nodes);
    const replacement = hostileValue(random, getAt(root, path));
    root = setAt(root, path, replacement);
    const shown = JSON.stringify(replacement) ?? 'undefined';
    what.push(`${path.join('.') || '(root)'} = ${shown.length > 40 ? `${shown.slice(0, 40)}...` : shown}`);
  }
  const pretty = random() < 0.5;
  return { bytes: new TextEncoder().encode(JSON.stringify(root, null, pretty ? 1 : undefined)), mutation: `json: ${what.join('; ')}` };
}

/** Deeply nested arrays where an object is expected: stack depth of every parser and walker. */
function deepNesting(random) {
  const depth = 1000 + int(random, 20000);
  return { bytes: new TextEncoder().encode(`${'['.repeat(depth)}${']'.repeat(depth)}`), mutation: `json: ${depth} nested arrays` };
}

/**
 * Mutant `index` of `seed` for a reader: JSON inputs get JSON-aware mutations most of the time (bytes
 * otherwise, so the parser's own errors are reached too); binary inputs get byte mutations.
 */
export function mutant(seed, { reader, baseSeed, index, json, focus }) {
  const random = prng(hashSeed(`${reader}:${baseSeed}:${index}`));
  if (!json) return mutateBytes(random, seed);
  const r = random();
  if (r < 0.02) return deepNesting(random);
  if (r < 0.75) return mutateJson(random, new TextDecoder().decode(seed), focus);
  return mutateBytes(random, seed);
}
