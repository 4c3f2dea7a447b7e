import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/paths.js';
import { expectOneLineError, hdf5Input, runCliToFile } from './hdf5-helpers.js';

// Issue 12, item 18 (Keras configs that ended in exit 2 "internal error") and item 19 (Keras config
// errors named no file). Each input is the tiny Sequential model of scripts/hostile/make_hdf5.py
// with one field of its model_config broken; converting it to ONNX builds the graph from the config.

const BROKEN = [
  ['layers-null', 'layers[1]'],
  ['layer-config-null', 'layers[1]'],
  ['layer-name-number', 'layers[1]'],
  ['layers-string', 'layers are not a list'],
  ['class-name-number', 'class_name'],
  ['strides-zero', 'strides'],
  ['strides-string', 'strides'],
  ['strides-one-element', 'strides'],
  ['dilation-negative', 'dilation_rate'],
  ['groups-zero', 'groups'],
  ['groups-fraction', 'groups'],
  ['pool-size-zero', 'pool_size'],
  ['pool-strides-string', 'strides'],
  ['zero-padding-string', 'padding'],
  ['zero-padding-negative', 'padding'],
  ['zero-padding-huge', 'padding'],
  ['input-shape-zero', 'batch_input_shape'],
  ['input-shape-string', 'batch_input_shape'],
  ['input-shape-huge', 'batch_input_shape'],
  ['epsilon-string', 'epsilon'],
] as const;

describe('Keras model configs that are valid JSON but not a usable model (items 18, 19)', () => {
  it('the unbroken model converts to ONNX (the inputs differ from it in the config only)', () => {
    const dir = tempDir();
    const r = runCliToFile(['convert', hdf5Input('sequential-valid.h5'), '--to', 'onnx', '-o', join(dir, 'out.onnx')], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.each(BROKEN)('%s: exit 1 with one line naming the file and the field (%s), never exit 2', (name, needle) => {
    const dir = tempDir();
    const file = `sequential-${name}.h5`;
    copyFileSync(hdf5Input(file), join(dir, file));
    const r = runCliToFile(['convert', file, '--to', 'onnx', '-o', 'out.onnx'], { cwd: dir });
    expectOneLineError(r, file, needle);
  });

  it('a broken config also stops inspect and a conversion to another checkpoint format with the same line', () => {
    const dir = tempDir();
    for (const args of [['inspect'], ['convert', '--to', 'npz', '-o', join(dir, 'out.npz')]]) {
      const [command, ...rest] = args;
      const r = runCliToFile([command!, hdf5Input('sequential-strides-zero.h5'), ...rest], { cwd: dir });
      expectOneLineError(r, 'sequential-strides-zero.h5', 'strides');
    }
  });
});
