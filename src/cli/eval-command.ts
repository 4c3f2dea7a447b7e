import { basename, extname } from 'node:path';
import { writeAll, writeFileAtomic } from '../emit/atomic.js';
import { positiveInt, report, type ParsedArgs } from './args.js';
import { DoconvError } from '../errors.js';
import { addVerification } from '../registry/verify.js';
import { evaluate, type EvalOptions, type EvalProgress, type EvalResult } from '../runtime/eval.js';
import type { Backend, Device } from '../runtime/types.js';

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

/** --tfjs-backend only means something to the tfjs backend. */
export function checkTfjsBackend(a: ParsedArgs): void {
  if (a.has('tfjs-backend') && a.str('backend') !== 'tfjs') {
    throw new DoconvError('BAD_ARGUMENT', `--tfjs-backend applies only with --backend tfjs (the backend is ${a.str('backend') ?? 'onnx, the default'}); add --backend tfjs or drop it`);
  }
}

export async function runEval(a: ParsedArgs): Promise<number> {
  if (a.positionals.length !== 1) throw new DoconvError('BAD_ARGUMENT', `eval takes one NAME or MODEL, got ${a.positionals.length}; see doconv-zoo eval --help`);
  checkTfjsBackend(a);
  if (a.bool('no-record') && a.has('record')) throw new DoconvError('BAD_ARGUMENT', '--record FILE and --no-record contradict each other; give one');
  const model = a.positionals[0]!;
  const quiet = a.quiet;
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
  const resize = positiveInt(a.str('resize'), '--resize');
  const crop = positiveInt(a.str('crop'), '--crop');
  const mean = triple(a.str('mean'), '--mean');
  const std = triple(a.str('std'), '--std');
  const threads = positiveInt(a.str('threads'), '--threads');
  const batchSize = positiveInt(a.str('batch'), '--batch');
  const limit = positiveInt(a.str('limit'), '--limit');
  const decodeThreads = positiveInt(a.str('decode-threads'), '--decode-threads');
  const predictions = a.str('predictions');
  const options: EvalOptions = {
    data: a.str('data')!,
    ...(a.has('labels') ? { labels: a.str('labels')! } : {}),
    ...(a.has('synsets') ? { synsets: a.str('synsets')! } : {}),
    ...(a.has('backend') ? { backend: a.str('backend') as Backend } : {}),
    ...(a.has('tfjs-backend') ? { tfjsBackend: a.str('tfjs-backend') as EvalOptions['tfjsBackend'] } : {}),
    ...(a.has('device') ? { device: a.str('device') as Device } : {}),
    ...(threads ? { threads } : {}),
    ...(batchSize ? { batchSize } : {}),
    ...(limit ? { limit } : {}),
    ...(a.has('decoder') ? { decoder: a.str('decoder') as EvalOptions['decoder'] } : {}),
    ...(decodeThreads ? { decodeThreads } : {}),
    ...(a.bool('verbose') ? { verbose: true } : {}),
    ...(a.has('registry') ? { registry: a.str('registry')! } : {}),
    ...(a.has('arch') ? { arch: a.str('arch')! } : {}),
    ...(predictions ? { keepPredictions: true } : {}),
    preprocessing: { ...(resize ? { resize } : {}), ...(crop ? { crop } : {}), ...(mean ? { mean } : {}), ...(std ? { std } : {}) },
    onProgress,
  };
  const result = await evaluate(model, options);
  if (tty) process.stderr.write('\n');
  const recordPath = a.bool('no-record') ? undefined : (a.str('record') ?? `${basename(model, extname(model))}.verification.json`);
  if (recordPath) writeFileAtomic(recordPath, (fd) => writeAll(fd, Buffer.from(`${JSON.stringify(result.record, null, 2)}\n`)));
  if (predictions && result.predictions) {
    const csv = `file,label,top1\n${result.predictions.map((p) => `${csvField(p.id)},${p.label},${p.top1}`).join('\n')}\n`;
    writeFileAtomic(predictions, (fd) => writeAll(fd, Buffer.from(csv)));
  }
  const { predictions: _, ...printed } = result;
  report(a, summary(result, recordPath), { ...printed, recordPath: recordPath ?? null, predictionsPath: predictions ?? null });
  return 0;
}

export async function runRegistryVerify(a: ParsedArgs): Promise<number> {
  if (a.positionals.length !== 1) throw new DoconvError('BAD_ARGUMENT', `registry verify takes one NAME, got ${a.positionals.length}`);
  const r = addVerification(a.positionals[0]!, a.str('record')!, { ...(a.has('registry') ? { registry: a.str('registry')! } : {}), force: a.bool('force') });
  const recorded = r.entry.accuracy.recorded;
  const compare = recorded?.correct !== undefined && r.record.correct !== undefined && recorded.count === r.record.count ? (recorded.correct === r.record.correct ? ', exactly the recorded number right' : `, recorded ${recorded.correct}/${recorded.count}: DIFFERENT`) : r.entry.accuracy.paper ? ` (paper: ${r.entry.accuracy.paper.doconvTop1})` : '';
  report(a, `${r.replaced ? 'replaced' : 'added'} a verification of ${r.entry.name} in ${r.manifest}: top-1 ${r.record.top1}% of ${r.record.count} on ${r.record.dataset}${compare}`, r);
  return 0;
}
