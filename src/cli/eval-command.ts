import { basename, extname } from 'node:path';
import { writeAll, writeFileAtomic } from '../emit/atomic.js';
import { oneOf, parse, positiveInt } from './args.js';
import { DoconvError } from '../errors.js';
import { addVerification } from '../registry/verify.js';
import { evaluate, type EvalOptions, type EvalProgress, type EvalResult } from '../runtime/eval.js';

function triple(value: string | undefined, flag: string): number[] | undefined {
  if (value === undefined) return undefined;
  const xs = value.split(',').map(Number);
  if (xs.length !== 3 && xs.length !== 1) throw new DoconvError('BAD_ARGUMENT', `${flag} takes one or three comma-separated numbers, got '${value}'`);
  if (xs.some((x) => !Number.isFinite(x))) throw new DoconvError('BAD_ARGUMENT', `${flag}: '${value}' is not a list of numbers`);
  return xs;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h > 0 ? `${h}:` : ''}${String(m).padStart(h > 0 ? 2 : 1, '0')}:${String(s % 60).padStart(2, '0')}`;
}

function csvField(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One progress line: bar, count, throughput, running top-1, failures, time left. */
export function progressLine(p: EvalProgress, width = 24): string {
  const f = p.total > 0 ? p.done / p.total : 0;
  const rate = p.seconds > 0 ? p.done / p.seconds : 0;
  const seen = p.done - p.failed;
  const top1 = seen > 0 ? ((100 * p.correct) / seen).toFixed(2) : '-';
  return `[${'#'.repeat(Math.round(f * width)).padEnd(width, '.')}] ${p.done}/${p.total} ${rate.toFixed(1)} img/s top-1 ${top1}%${p.failed > 0 ? ` failed ${p.failed}` : ''} ETA ${clock(rate > 0 ? (p.total - p.done) / rate : Infinity)}`;
}

function summary(r: EvalResult, recordPath: string | undefined): string {
  const lines = [
    `${r.model} on ${r.dataset.description} (${r.dataset.evaluated} of ${r.dataset.available} images${r.failed.length > 0 ? `, ${r.failed.length} could not be decoded` : ''})`,
    `  top-1 ${r.top1.toFixed(2)}% (${r.correct}/${r.count})${r.top5 !== undefined ? `  top-5 ${r.top5.toFixed(2)}% (${r.correctTop5}/${r.count})` : ''}`,
    `  ${r.backend} on ${r.executionProvider} (${r.device}), batch ${r.batchSize}${r.decoder ? `, decoded by ${r.decoder}` : ''}: ${r.imagesPerSecond.toFixed(1)} img/s, ${r.seconds.toFixed(1)} s`,
    `  preprocessing: resize ${r.preprocessing.resize}, crop ${r.preprocessing.crop}, mean [${r.preprocessing.mean.join(', ')}], std [${r.preprocessing.std.join(', ')}] ${r.preprocessing.layout} (${r.preprocessing.source})`,
    `  dataset ${r.dataset.fingerprint}; model sha256 ${r.modelSha256}`,
  ];
  for (const f of r.failed.slice(0, 10)) lines.push(`  failed: ${f.file}: ${f.error}`);
  if (r.failed.length > 10) lines.push(`  ... and ${r.failed.length - 10} more`);
  if (recordPath) lines.push(`  record written to ${recordPath} (registry verify NAME --record ${recordPath} adds it to the zoo)`);
  return lines.join('\n');
}

export async function runEval(args: string[], printUsage: () => number): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    quiet: { type: 'boolean', short: 'q' },
    data: { type: 'string' },
    labels: { type: 'string' },
    synsets: { type: 'string' },
    backend: { type: 'string' },
    'tfjs-backend': { type: 'string' },
    device: { type: 'string' },
    threads: { type: 'string' },
    batch: { type: 'string' },
    limit: { type: 'string' },
    decoder: { type: 'string' },
    'decode-threads': { type: 'string' },
    registry: { type: 'string' },
    arch: { type: 'string' },
    resize: { type: 'string' },
    crop: { type: 'string' },
    mean: { type: 'string' },
    std: { type: 'string' },
    record: { type: 'string' },
    'no-record': { type: 'boolean' },
    predictions: { type: 'string' },
  });
  if (values.help) return printUsage();
  if (positionals.length !== 1) throw new DoconvError('BAD_ARGUMENT', `eval takes one NAME or MODEL, got ${positionals.length}; see --help`);
  if (values.data === undefined) throw new DoconvError('BAD_ARGUMENT', "eval needs --data DIR (ImageNet validation: class folders or the flat folder with its labels) or --data mnist");
  const model = positionals[0]!;
  const quiet = values.quiet || values.json;
  const tty = process.stderr.isTTY && !quiet;
  let lastTenth = -1;
  const onProgress = (p: EvalProgress) => {
    if (tty) process.stderr.write(`\r${progressLine(p)}\x1b[K`);
    else if (!quiet) {
      const tenth = Math.floor((10 * p.done) / p.total);
      if (tenth > lastTenth) {
        lastTenth = tenth;
        process.stderr.write(`${progressLine(p)}\n`);
      }
    }
  };
  const resize = positiveInt(values.resize, '--resize');
  const crop = positiveInt(values.crop, '--crop');
  const mean = triple(values.mean, '--mean');
  const std = triple(values.std, '--std');
  const options: EvalOptions = {
    data: values.data,
    ...(values.labels ? { labels: values.labels } : {}),
    ...(values.synsets ? { synsets: values.synsets } : {}),
    ...(values.backend ? { backend: oneOf(values.backend, ['onnx', 'tfjs'] as const, '--backend')! } : {}),
    ...(values['tfjs-backend'] ? { tfjsBackend: oneOf(values['tfjs-backend'], ['wasm', 'cpu', 'tensorflow'] as const, '--tfjs-backend')! } : {}),
    ...(values.device ? { device: oneOf(values.device, ['cpu', 'gpu'] as const, '--device')! } : {}),
    ...(values.threads ? { threads: positiveInt(values.threads, '--threads')! } : {}),
    ...(values.batch ? { batchSize: positiveInt(values.batch, '--batch')! } : {}),
    ...(values.limit ? { limit: positiveInt(values.limit, '--limit')! } : {}),
    ...(values.decoder ? { decoder: oneOf(values.decoder, ['sharp', 'jpeg-js'] as const, '--decoder')! } : {}),
    ...(values['decode-threads'] ? { decodeThreads: positiveInt(values['decode-threads'], '--decode-threads')! } : {}),
    ...(values.registry ? { registry: values.registry } : {}),
    ...(values.arch ? { arch: values.arch } : {}),
    ...(values.predictions ? { keepPredictions: true } : {}),
    preprocessing: { ...(resize ? { resize } : {}), ...(crop ? { crop } : {}), ...(mean ? { mean } : {}), ...(std ? { std } : {}) },
    onProgress,
  };
  const result = await evaluate(model, options);
  if (tty) process.stderr.write('\n');
  const recordPath = values['no-record'] ? undefined : (values.record ?? `${basename(model, extname(model))}.verification.json`);
  if (recordPath) writeFileAtomic(recordPath, (fd) => writeAll(fd, Buffer.from(`${JSON.stringify(result.record, null, 2)}\n`)));
  if (values.predictions && result.predictions) {
    const csv = `file,label,top1\n${result.predictions.map((p) => `${csvField(p.id)},${p.label},${p.top1}`).join('\n')}\n`;
    writeFileAtomic(values.predictions, (fd) => writeAll(fd, Buffer.from(csv)));
  }
  const { predictions: _, ...printed } = result;
  process.stdout.write(values.json ? `${JSON.stringify({ ...printed, recordPath: recordPath ?? null, predictionsPath: values.predictions ?? null }, null, 2)}\n` : `${summary(result, recordPath)}\n`);
  return 0;
}

export async function runRegistryVerify(args: string[], printUsage: () => number): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, record: { type: 'string' }, registry: { type: 'string' }, force: { type: 'boolean' } });
  if (values.help) return printUsage();
  if (positionals.length !== 1) throw new DoconvError('BAD_ARGUMENT', `registry verify takes one NAME, got ${positionals.length}`);
  if (values.record === undefined) throw new DoconvError('BAD_ARGUMENT', 'registry verify needs --record FILE (written by eval)');
  const r = addVerification(positionals[0]!, values.record, { ...(values.registry ? { registry: values.registry } : {}), force: values.force ?? false });
  const recorded = r.entry.accuracy.recorded;
  const compare = recorded?.correct !== undefined && r.record.correct !== undefined && recorded.count === r.record.count ? (recorded.correct === r.record.correct ? ', exactly the recorded number right' : `, recorded ${recorded.correct}/${recorded.count}: DIFFERENT`) : r.entry.accuracy.paper ? ` (paper: ${r.entry.accuracy.paper.doconvTop1})` : '';
  process.stdout.write(values.json ? `${JSON.stringify(r, null, 2)}\n` : `${r.replaced ? 'replaced' : 'added'} a verification of ${r.entry.name} in ${r.manifest}: top-1 ${r.record.top1}% of ${r.record.count} on ${r.record.dataset}${compare}\n`);
  return 0;
}
