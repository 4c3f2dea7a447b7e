import { readFileSync } from 'node:fs';
import { convertCheckpoint, type ConvertTarget } from '../convert.js';
import type { Quantization } from '../emit/tfjs.js';
import { STDOUT } from '../emit/atomic.js';
import { DoconvError } from '../errors.js';
import type { Framework } from '../checkpoint/checkpoint.js';
import type { DType } from '../tensor/dtype.js';
import { onePositional, report, type ParsedArgs } from './args.js';
import { formatConvert } from './format.js';

/** --config model.json (Keras model.to_json()), read and parsed. */
export function readConfig(path: string | undefined): unknown {
  if (path === undefined) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (err) {
    throw new DoconvError('BAD_ARGUMENT', `--config: ${(err as Error).message.split('\n')[0]}`, { file: path });
  }
}

/** --input-size HxW (or N for NxN), both positive. */
export function parseSize(s: string): [number, number] {
  const m = /^(\d+)(?:x(\d+))?$/.exec(s);
  const size: [number, number] | undefined = m === null ? undefined : [Number(m[1]), Number(m[2] ?? m[1])];
  if (size === undefined || size[0] < 1 || size[1] < 1) throw new DoconvError('BAD_ARGUMENT', `--input-size expects HxW or N (positive integers, e.g. 224x224), got '${s}'`);
  return size;
}

export async function runConvert(a: ParsedArgs): Promise<number> {
  const input = onePositional(a, 'checkpoint');
  const output = a.str('output')!;
  // Malformed values are refused first, whatever the target; then what does not apply to it.
  const inputSize = a.has('input-size') ? parseSize(a.str('input-size')!) : undefined;
  const config = readConfig(a.str('config'));
  const summary = await convertCheckpoint(input, output, {
    ...(a.has('to') ? { to: a.str('to') as ConvertTarget } : {}),
    ...(a.has('from') ? { from: a.str('from') as Framework } : {}),
    ...(a.has('dtype') ? { dtype: a.str('dtype') as DType } : {}),
    kernels: a.list('kernel'),
    flatten: a.bool('flatten'),
    ...(a.has('state-dict-key') ? { stateDictKey: a.str('state-dict-key')! } : {}),
    keepDoconv: a.bool('keep-doconv'),
    ...(config !== undefined ? { config } : {}),
    ...(a.has('arch') ? { arch: a.str('arch')! } : {}),
    noFoldBn: a.bool('no-fold-bn'),
    fp16: a.bool('fp16') || a.bool('fp16-io'),
    fp16Io: a.bool('fp16-io'),
    ...(inputSize ? { inputSize } : {}),
    dynamicSize: a.bool('dynamic-size'),
    ...(a.has('quantize') ? { quantize: a.str('quantize') as Quantization } : {}),
    onProgress: a.quiet || !process.stderr.isTTY ? () => {} : (m) => process.stderr.write(`${m}\n`),
  });
  // With -o - the model itself is on standard output: the summary goes to standard error.
  report(a, formatConvert(summary), summary, output === STDOUT ? process.stderr : process.stdout);
  return 0;
}
