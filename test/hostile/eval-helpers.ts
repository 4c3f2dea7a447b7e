// Helpers of the eval harness's hostile-input tests: tiny ImageFolder trees of generated images,
// ONNX models of the small zoo's digit network carrying whatever preprocessing metadata a test
// wants, and the CLI run with a hang guard.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { expect } from 'vitest';
import { loadCheckpoint } from '../../src/checkpoint/load.js';
import { buildOnnxModel, writeOnnx } from '../../src/emit/onnx.js';
import { networkFromCheckpoint } from '../../src/arch/network.js';
import { inferShapes } from '../../src/graph/ir.js';
import { ROOT, runCli, type CliResult } from '../helpers/paths.js';

/** The small zoo's 1x28x28 digit network, a DO-Conv checkpoint committed with the project. */
export const MNIST_SAMPLE = join(ROOT, 'registry', 'artifacts', 'doconv_mnist_sample.pth');

/** A grey 28x28 JPEG of one value (what the digit network takes). */
export function greyJpeg(value = 128, size = 28): Promise<Buffer> {
  return sharp(Buffer.alloc(size * size, value), { raw: { width: size, height: size, channels: 1 } }).jpeg().toBuffer();
}

/** Writes `files` (path relative to `root` -> bytes) below `root`, creating the folders. */
export function writeTree(root: string, files: Record<string, Uint8Array | string>): string {
  for (const [rel, bytes] of Object.entries(files)) {
    const path = join(root, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, bytes);
  }
  return root;
}

/**
 * The digit network as an ONNX model whose metadata_props 'preprocessing' is `preprocessing`
 * (serialised as given, so a test can put any JSON there), with a fixed 28x28 input or a symbolic one.
 */
export async function digitOnnx(path: string, preprocessing: unknown, fixedInputSize: boolean): Promise<string> {
  const ckpt = await loadCheckpoint(MNIST_SAMPLE);
  try {
    const network = networkFromCheckpoint(ckpt, {});
    inferShapes(network.graph);
    writeOnnx(path, buildOnnxModel(network.graph, { fixedInputSize, metadata: { preprocessing: JSON.stringify(preprocessing) } }));
    return path;
  } finally {
    ckpt.close();
  }
}

/** `eval MODEL --data DATA --no-record ...`, killed after `timeoutMs` (status -1 then: it hung). */
export function evalCli(model: string, data: string, extra: string[] = [], timeoutMs = 60_000): CliResult {
  return runCli(['eval', model, '--data', data, '--no-record', ...extra], timeoutMs);
}

/** The CLI ended with exit 1 and exactly one line on stderr, matching `pattern`. */
export function expectOneLineError(r: CliResult, pattern: RegExp): void {
  expect(r.status, `exit status (stderr: ${r.stderr.slice(0, 400)})`).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr.slice(0, 400)).toHaveLength(1);
  expect(lines[0]).toMatch(/^doconv-zoo: error: /);
  expect(lines[0]).toMatch(pattern);
}
