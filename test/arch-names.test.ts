// Architecture names: every name archName writes (what `inspect` prints) is one that specFromName
// (what `--arch` takes) accepts, and it gives back the same spec; the zoo's own names keep working.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { archName, specFromName, type ResNetFamily, type ResNetSpec } from '../src/arch/spec.js';
import { ROOT, runCli, tempDir } from './helpers/paths.js';

const FAMILIES: ResNetFamily[] = ['resnet_v1', 'resnet_v1b', 'resnet_v2', 'plain', 'resnet_v2_keras'];
const IMAGENET_LAYERS = [[2, 2, 2, 2], [3, 4, 6, 3], [3, 4, 23, 3], [3, 8, 36, 3], [1, 1, 1, 1], [2, 3], [1, 2, 3, 4, 5]];
const CIFAR_LAYERS = [[1, 1, 1], [3, 3, 3], [5, 5, 5], [18, 18, 18], [3, 3, 2], [1, 1, 1, 1], [2]];
/** (groups, width per group) of bottleneck blocks: plain, ResNeXt, wide (torchvision's wide_resnet50_2), small groups. */
const BOTTLENECK_WIDTHS = [[1, 64], [32, 4], [32, 8], [1, 128], [4, 16]];

/** Every spec the builder takes, over the values each field is seen with, in canonical form. */
function allSpecs(): ResNetSpec[] {
  const specs: ResNetSpec[] = [];
  for (const family of FAMILIES)
    for (const stem of ['imagenet', 'cifar'] as const)
      for (const block of ['basic', 'bottleneck'] as const)
        for (const layers of stem === 'imagenet' ? IMAGENET_LAYERS : CIFAR_LAYERS)
          for (const inChannels of [3, 1, 4])
            for (const [groups, widthPerGroup] of block === 'basic' ? [[1, 64], [4, 64], [2, 64]] : BOTTLENECK_WIDTHS) {
              specs.push({ family, block, layers, groups: groups!, widthPerGroup: widthPerGroup!, numClasses: stem === 'cifar' ? 10 : 1000, stem, ...(inChannels !== 3 ? { inChannels } : {}) });
            }
  return specs;
}

describe('archName and specFromName agree', () => {
  const specs = allSpecs();

  it(`every one of ${specs.length} specs round-trips through its name`, () => {
    const failures: string[] = [];
    for (const spec of specs) {
      const name = archName(spec);
      try {
        const back = specFromName(name, spec.numClasses);
        if (JSON.stringify(back) !== JSON.stringify(spec)) failures.push(`${name}: ${JSON.stringify(back)} != ${JSON.stringify(spec)}`);
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
      }
    }
    expect(failures.slice(0, 5)).toEqual([]);
  });

  it('different specs get different names', () => {
    const names = new Map<string, string>();
    for (const spec of specs) {
      const name = archName(spec);
      const key = JSON.stringify(spec);
      expect(names.get(name) ?? key, name).toBe(key);
      names.set(name, key);
    }
    expect(names.size).toBe(specs.length);
  });

  it('the names the issue found refused are accepted, with the structure they name', () => {
    expect(specFromName('cifar_gray_resnet8_g4_v1b', 10)).toEqual({ family: 'resnet_v1b', block: 'basic', layers: [1, 1, 1], groups: 4, widthPerGroup: 64, numClasses: 10, stem: 'cifar', inChannels: 1 });
    expect(specFromName('cifar_plain20')).toEqual({ family: 'plain', block: 'basic', layers: [3, 3, 3], groups: 1, widthPerGroup: 64, numClasses: 10, stem: 'cifar' });
    expect(archName(specFromName('cifar_plain20'))).toBe('cifar_plain20');
  });

  it.each(['resnet18_v1', 'resnet34_v1b', 'resnet50_v1b', 'resnet101_v2', 'resnet152_v1', 'resnext50_32x4d', 'resnext101_32x8d', 'plain18', 'plain34', 'keras_resnet50_v2', 'keras_resnet152_v2', 'cifar_resnet20_v1b', 'cifar_resnet110_v1b', 'cifar_resnet56_v2'])(
    'the zoo name %s is its own canonical name',
    (name) => {
      expect(archName(specFromName(name))).toBe(name);
    },
  );

  it('the zoo names keep their structure', () => {
    expect(specFromName('resnext50_32x4d')).toMatchObject({ family: 'resnet_v1b', block: 'bottleneck', layers: [3, 4, 6, 3], groups: 32, widthPerGroup: 4, stem: 'imagenet' });
    expect(specFromName('keras_resnet101_v2')).toMatchObject({ family: 'resnet_v2_keras', block: 'bottleneck', layers: [3, 4, 23, 3] });
    expect(specFromName('cifar_resnet32_v1b', 100)).toMatchObject({ layers: [5, 5, 5], numClasses: 100 });
  });

  it.each([
    ['resnet20_v1b', /depth 20 is not one of/],
    ['cifar_resnet21_v1b', /6n\+2/],
    ['resnext18_2x64d', /bottleneck blocks; basic blocks take _gG/],
    ['resnext50', /groups x width/],
    ['resnet50_g4_v1b', /_gG is for basic blocks/],
    ['resnet18', /a version is needed/],
    ['plain18_v1', /plain networks have no version/],
    ['resnet21_l2-2_v1b', /neither 2 x 4 \+ 2/],
    ['c3_resnet18_v1b', /leave c3_ out/],
    ['resnet18_v3', /not of the form/],
    [`resnet${2 * 65 + 2}_l${Array(65).fill(1).join('-')}_v1b`, /at most 64 stages/],
  ])('%s is refused, saying why', (name, why) => {
    expect(() => specFromName(name)).toThrow(why);
  });
});

describe('what inspect prints, --arch takes', () => {
  it('the grouped grayscale small-zoo ResNet: inspect names it, convert --arch that name builds it', () => {
    const ckpt = join(ROOT, 'registry', 'artifacts', 'doconv_mnist_resnet8_g4.pth');
    const inspected = runCli(['inspect', ckpt, '--json']);
    expect(inspected.status, inspected.stderr).toBe(0);
    const name = JSON.parse(inspected.stdout).architecture.name as string;
    expect(name).toBe('cifar_gray_resnet8_g4_v1b');
    const out = join(tempDir(), 'm.onnx');
    const converted = runCli(['convert', ckpt, '-o', out, '--arch', name, '--json']);
    expect(converted.status, converted.stderr).toBe(0);
    expect(JSON.parse(converted.stdout).architecture.name).toBe(name);
  });
});
