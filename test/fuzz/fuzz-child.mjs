// The fuzz tier's child process: one per reader, driven by test/fuzz/fuzz.test.ts through
// test/fuzz/campaign.ts. It imports the BUILT library (dist/, `npm run build` first) and, for each
// batch request read from stdin as a JSON line ({id, first, count}), makes mutants first..first+count-1
// of the reader's seed files, puts each where the reader's real entry point takes it (a file, a model
// folder, a registry folder), reads it fully, and reports one result line per mutant on stdout,
// prefixed by MARK (library output on stdout is ignored by the parent).
//
//   node test/fuzz/fuzz-child.mjs run READER BASE_SEED SANDBOX      batches from stdin
//   node test/fuzz/fuzz-child.mjs write READER BASE_SEED SANDBOX FIRST COUNT
//        materialise mutants for the CLI slice; prints {index, mutation, args, dir} per mutant
//
// Everything the child writes stays inside SANDBOX: mutants go to SANDBOX/<deep>/work, the cache
// (DOCONV_ZOO_CACHE) and TMPDIR are under <deep> too, the working directory is <deep>/cwd. The deep
// prefix keeps '../../x' names inside SANDBOX, where a write outside the work folders, the cache and
// the temp folder is seen after every mutant and reported as an escape.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { mutant } from './mutators.mjs';

export const MARK = '\u0001fuzz ';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SEEDS = join(ROOT, 'test', 'data', 'fuzz-seeds');
const DEEP = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];

const [mode, reader, baseSeedText, sandboxArg, firstText, countText] = process.argv.slice(2);
const sandbox = resolve(sandboxArg);
const deep = join(sandbox, ...DEEP);
const dirs = { work: join(deep, 'work'), cache: join(deep, 'cache'), tmp: join(deep, 'tmp'), cwd: join(deep, 'cwd') };
for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
// Set before the library loads: the cache root and os.tmpdir() are read from the environment.
process.env.DOCONV_ZOO_CACHE = dirs.cache;
process.env.TMPDIR = dirs.tmp;
process.env.DOCONV_ZOO_OFFLINE = '';
process.chdir(dirs.cwd);

const lib = await import(join(ROOT, 'dist', 'index.js'));
const { DoconvError } = lib;

const seedBytes = new Map();
function seed(rel) {
  if (!seedBytes.has(rel)) seedBytes.set(rel, new Uint8Array(readFileSync(join(SEEDS, rel))));
  return seedBytes.get(rel);
}

const NPY_INPUT = join(SEEDS, 'npy', 'input.npy');
const ONNX_MODEL = join(SEEDS, 'onnx', 'tiny.onnx');

/** A checkpoint reader read fully: every tensor's bytes, every layer fused, inspected, converted. */
function checkpointReader(seeds, outName) {
  return {
    seeds,
    materialise: (bytes, dir) => {
      const file = join(dir, `mutant${seeds[0].slice(seeds[0].lastIndexOf('.'))}`);
      writeFileSync(file, bytes);
      return { target: file, args: ['convert', file, '-o', join(dir, outName)] };
    },
    run: async (target, dir) => {
      const ckpt = await lib.loadCheckpoint(target);
      try {
        for (const t of ckpt.tensors) t.tensor.bytes();
        for (const l of ckpt.layers) lib.fuseLayer(l);
        lib.inspectCheckpoint(ckpt);
      } finally {
        ckpt.close();
      }
      await lib.convertCheckpoint(target, join(dir, outName));
    },
  };
}

/** Copies a seed folder (a registry, a tfjs model) next to the mutant. */
function copySeedFolder(rel, to) {
  for (const entry of readdirSync(join(SEEDS, rel), { withFileTypes: true })) {
    const from = join(SEEDS, rel, entry.name);
    if (entry.isDirectory()) {
      mkdirSync(join(to, entry.name), { recursive: true });
      copySeedFolder(join(rel, entry.name), join(to, entry.name));
    } else copyFileSync(from, join(to, entry.name));
  }
}

/** A local registry whose one entry, `tiny`, is the mutated archive (sha256 and size of the mutant itself). */
function archiveRegistry(bytes, dir, gz) {
  const registry = join(dir, 'registry');
  mkdirSync(join(registry, 'artifacts'), { recursive: true });
  copySeedFolder('registry', registry);
  const name = gz ? 'tiny.tar.gz' : 'tiny.tar';
  writeFileSync(join(registry, 'artifacts', name), bytes);
  const manifest = JSON.parse(readFileSync(join(SEEDS, 'registry', 'manifest.json'), 'utf8'));
  manifest.entries[0].artifacts = [{ format: 'tfjs', urls: [`artifacts/${name}`], sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, filename: name, archive: true }];
  writeFileSync(join(registry, 'manifest.json'), JSON.stringify(manifest, null, 1));
  return registry;
}

const pullOptions = (registry) => ({ registry, attempts: 1, backoffMs: 0, timeoutMs: 5000 });

/** The readers of issue 12's fuzz tier: seeds, how a mutant is laid out, and the real entry point. */
const READERS = {
  pickle: checkpointReader(['pickle/legacy.pth'], 'out.pth'),
  zip: checkpointReader(['zip/zip.pth'], 'out.safetensors'),
  hdf5: checkpointReader(['hdf5/keras.h5'], 'out.npz'),
  params: checkpointReader(['params/gluon.params'], 'out.pth'),
  npz: checkpointReader(['npz/fused.npz'], 'out.pth'),
  safetensors: checkpointReader(['safetensors/fused.safetensors'], 'out.pth'),
  npy: {
    seeds: ['npy/input.npy'],
    materialise: (bytes, dir) => {
      const file = join(dir, 'input.npy');
      writeFileSync(file, bytes);
      return { target: file, args: ['predict', ONNX_MODEL, '--input', file, '--output', join(dir, 'y.npy')] };
    },
    run: async (target, dir) => {
      lib.readNpy(new Uint8Array(readFileSync(target))).bytes();
      await lib.predictFile(ONNX_MODEL, target, join(dir, 'y.npy'));
    },
  },
  onnx: {
    seeds: ['onnx/tiny.onnx'],
    materialise: (bytes, dir) => {
      const file = join(dir, 'model.onnx');
      writeFileSync(file, bytes);
      return { target: file, args: ['predict', file, '--input', NPY_INPUT, '--output', join(dir, 'y.npy')] };
    },
    run: async (target, dir) => {
      lib.readOnnxInfo(new Uint8Array(readFileSync(target)));
      await lib.predictFile(target, NPY_INPUT, join(dir, 'y.npy'));
    },
  },
  tfjs: {
    seeds: ['tfjs/model.json'],
    json: true,
    focus: ['weightsManifest', 'signature', 'modelTopology.node'],
    materialise: (bytes, dir) => {
      const model = join(dir, 'model');
      mkdirSync(model, { recursive: true });
      copySeedFolder('tfjs', model);
      writeFileSync(join(model, 'model.json'), bytes);
      return { target: model, args: ['predict', model, '--backend', 'tfjs', '--input', NPY_INPUT, '--output', join(dir, 'y.npy')] };
    },
    run: async (target, dir) => {
      await lib.predictFile(target, NPY_INPUT, join(dir, 'y.npy'), { backend: 'tfjs' });
    },
  },
  manifest: {
    seeds: ['registry/manifest.json'],
    json: true,
    focus: ['entries.0.artifacts', 'entries.0.name', 'schemaVersion'],
    materialise: (bytes, dir) => {
      const registry = join(dir, 'registry');
      mkdirSync(registry, { recursive: true });
      copySeedFolder('registry', registry);
      writeFileSync(join(registry, 'manifest.json'), bytes);
      return { target: registry, args: ['pull', 'tiny', '--registry', registry] };
    },
    run: async (target) => {
      const loaded = await lib.loadManifest(target, true);
      lib.listEntries(loaded.manifest, 't*');
      await lib.pull('tiny', pullOptions(target));
    },
  },
  tar: {
    seeds: ['tar/tfjs.tar', 'tar/tfjs.tar.gz'],
    materialise: (bytes, dir, seedName) => {
      const registry = archiveRegistry(bytes, dir, seedName.endsWith('.gz'));
      return { target: registry, args: ['pull', 'tiny', '--registry', registry] };
    },
    run: async (target) => {
      await lib.pull('tiny', pullOptions(target));
    },
  },
};

const spec = READERS[reader];
if (spec === undefined) {
  process.stderr.write(`unknown reader '${reader}'; readers: ${Object.keys(READERS).join(', ')}\n`);
  process.exit(64);
}
const baseSeed = Number(baseSeedText);

/** Mutant `index`: which seed file it comes from and what was done to it. */
function makeMutant(index) {
  const seedName = spec.seeds[index % spec.seeds.length];
  const m = mutant(seed(seedName), { reader, baseSeed, index, json: spec.json === true, focus: spec.focus ?? [] });
  return { seedName, ...m };
}

/** Every path under `root` (files and folders), relative to it, not descending into `skip`. */
function listTree(root, skip) {
  const out = [];
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop();
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (skip.has(p)) continue;
      out.push(relative(sandbox, p));
      if (entry.isDirectory()) stack.push(p);
    }
  }
  return out;
}

const KEPT = new Set([dirs.work, dirs.cache, dirs.tmp]);
const ancestors = new Set(DEEP.map((_, i) => join(sandbox, ...DEEP.slice(0, i + 1))));

/** Paths written outside the mutant's folder, the cache and the temp folder (the cwd must stay empty). */
function escapes() {
  return listTree(sandbox, KEPT).filter((p) => !ancestors.has(join(sandbox, p)) && join(sandbox, p) !== dirs.cwd);
}

/** Half-written files a failed read left behind (`.tmp-` names of atomic writes and unpacks) in the cache or temp folder. */
function leftovers(dir) {
  return [...listTree(dirs.cache, new Set()), ...listTree(dirs.tmp, new Set()), ...listTree(dir, new Set())].filter((p) => /\.tmp-|\.d\.tmp/.test(p));
}

function clearSandbox() {
  for (const d of [dirs.work, dirs.cache, dirs.tmp]) {
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d, { recursive: true });
  }
  for (const p of escapes()) rmSync(join(sandbox, p), { recursive: true, force: true });
}

/** Reads one mutant fully and classifies what happened. */
async function runMutant(index) {
  const m = makeMutant(index);
  const dir = join(dirs.work, String(index));
  mkdirSync(dir, { recursive: true });
  const { target } = spec.materialise(m.bytes, dir, m.seedName);
  const t0 = performance.now();
  const result = { index, seed: m.seedName, mutation: m.mutation, size: m.bytes.length };
  try {
    await spec.run(target, dir);
    result.outcome = 'ok';
  } catch (err) {
    if (err instanceof DoconvError) {
      result.outcome = 'doconv';
      result.code = err.code;
      result.message = err.message;
      result.named = err.file !== undefined;
    } else {
      result.outcome = 'other';
      result.message = `${err?.name ?? typeof err}: ${err?.message ?? String(err)}`;
      result.stack = String(err?.stack ?? '').split('\n').slice(0, 6).join('\n');
    }
  }
  result.ms = Math.round(performance.now() - t0);
  const outside = escapes();
  if (outside.length > 0) result.escaped = outside.slice(0, 5);
  if (result.outcome !== 'ok') {
    const left = leftovers(dir);
    if (left.length > 0) result.leftover = left.slice(0, 5);
  }
  clearSandbox();
  return result;
}

function send(obj) {
  process.stdout.write(`${MARK}${JSON.stringify(obj)}\n`);
}

if (mode === 'write') {
  // The CLI slice: lay out mutants for `node dist/cli/main.js`, one folder each, and say how to call it.
  const first = Number(firstText);
  const count = Number(countText);
  for (let index = first; index < first + count; index++) {
    const m = makeMutant(index);
    const dir = join(sandbox, 'cli', String(index));
    mkdirSync(dir, { recursive: true });
    const { args } = spec.materialise(m.bytes, dir, m.seedName);
    send({ index, seed: m.seedName, mutation: m.mutation, args, dir });
  }
  send({ done: true });
} else {
  send({ ready: true });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const request = JSON.parse(line);
    for (let index = request.first; index < request.first + request.count; index++) send({ id: request.id, ...(await runMutant(index)) });
    send({ id: request.id, done: true });
  }
}
