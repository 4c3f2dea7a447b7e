// @tier shared-fixtures: reads ../shared/fixtures (or DOCONV_ZOO_FIXTURES); skipped where absent, a failure under CI=true (vitest.config.ts).
// What the tool says when a real network (../shared/fixtures/realworld) is asked for a graph
// output it cannot build: what it saw, what it supports, and what the user can do now. The same
// messages for fixture-free inputs are checked in test/checkpoint-cases.test.ts.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertCheckpoint } from '../src/convert.js';
import { DoconvError } from '../src/errors.js';
import { fixture, runCli, tempDir } from './helpers/paths.js';

const dir = tempDir();

async function graphError(file: string, out = 'x.onnx'): Promise<DoconvError> {
  const err = await convertCheckpoint(file, join(dir, out)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DoconvError);
  return err as DoconvError;
}

/** Every such message: one line, the supported families, the fused-checkpoint way out, no --arch advice. */
function expectWhatToDo(message: string): void {
  expect(message.split('\n')).toHaveLength(1);
  expect(message).toMatch(/ONNX and TensorFlow\.js are built only for ResNet v1\/v1b\/v2, ResNeXt and Plain networks \(ImageNet or CIFAR stems\)/);
  expect(message).toMatch(/torchvision names.*Keras applications names.*GluonCV ImageNet names.*Keras Sequential models/);
  expect(message).toMatch(/A fused checkpoint works for any network.*-o x\.pth/);
  expect(message).not.toMatch(/--arch/);
}

describe('graph outputs of real networks outside the zoo', () => {
  it('the akamaster CIFAR ResNet-20 (conv1, bn1, layer1.0.conv1, ..., linear): the keys it has, and that fc is missing', async () => {
    const err = await graphError(fixture('realworld', 'pytorch-resnet-cifar10-akamaster', 'resnet20-12fca82f.th'));
    expect(err.code).toBe('BAD_ARGUMENT');
    expect(err.message).toMatch(/not a network of the zoo: found 97 parameters: conv1, bn1 \(4\), layer1 \(30\), layer2 \(30\), layer3 \(30\), linear \(2\)/);
    expect(err.message).toMatch(/torchvision-like names without fc\.weight \(the last weight is 'linear\.weight'\)/);
    expect(err.message).not.toMatch(/no conv1 \/ layer1/); // those keys are there
    expectWhatToDo(err.message);
  });

  it("the Keras 3 file: its model's layers, not \"unexpected Keras weight '2'\" (an optimizer variable)", async () => {
    const err = await graphError(fixture('realworld', 'keras3-resnet-handwriting', 'resnet_model.keras'));
    expect(err.message).not.toMatch(/unexpected Keras weight/);
    expect(err.message).not.toMatch(/optimizer/);
    expect(err.message).toMatch(/found 28 parameters: conv2d \(2\), conv2d_1 \(2\), batch_normalization \(4\), conv2d_2 \(2\), /);
    expect(err.message).toMatch(/a Keras functional model of InputLayer x2, Rescaling, Conv2D x7, BatchNormalization x3, MaxPooling2D, Add x2, GlobalAveragePooling2D, Dropout, Dense, neither a Sequential model nor keras\.applications ResNet names/);
    expectWhatToDo(err.message);
  });

  it('the GluonCV CIFAR ResNet-20: named as GluonCV CIFAR names, not "resnet8_v1 expects ..."', async () => {
    const err = await graphError(fixture('realworld', 'mxnet-gluon-cifar-resnet20', 'resnet20.params'));
    expect(err.message).not.toMatch(/resnet8_v1|expects/);
    expect(err.message).toMatch(/found 107 parameters: features\.0, features\.1 \(4\), features\.2 \(30\), features\.3 \(35\), features\.4 \(35\), output \(2\)/);
    expect(err.message).toMatch(/GluonCV CIFAR ResNet names \(a 3x3 stem of 16 channels, blocks from features\.2\), not the GluonCV ImageNet ResNets the zoo builds/);
    expectWhatToDo(err.message);
  });

  it('the same through the CLI, for TensorFlow.js too: exit 1 and one line naming the file', () => {
    const file = fixture('realworld', 'pytorch-resnet-cifar10-akamaster', 'resnet20-12fca82f.th');
    for (const out of [join(dir, 'cli.onnx'), join(dir, 'cli-tfjs')]) {
      const r = runCli(['convert', file, '-o', out, ...(out.endsWith('tfjs') ? ['--to', 'tfjs'] : [])]);
      expect(r.status).toBe(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(file);
      expect(lines[0]).toMatch(/linear \(2\).*A fused checkpoint works for any network/);
    }
  });

  it.each([
    ['pytorch-resnet-cifar10-akamaster', 'resnet20-12fca82f.th'],
    ['keras3-resnet-handwriting', 'resnet_model.keras'],
    ['mxnet-gluon-cifar-resnet20', 'resnet20.params'],
  ])('what the message offers works: %s converts to a fused checkpoint', async (folder, name) => {
    const s = await convertCheckpoint(fixture('realworld', folder, name), join(dir, `${folder}.pth`));
    expect(s.tensorsOut).toBeGreaterThan(0);
  });
});
