#!/usr/bin/env node
import { parseKernelOverride } from '../doconv/kernel-spec.js';
import { DoconvError, escapeControl } from '../errors.js';
import { STDOUT } from '../emit/atomic.js';
import { inspectFile, type InspectReport } from '../inspect.js';
import { predictFile } from '../runtime/predict-file.js';
import type { Framework } from '../checkpoint/checkpoint.js';
import { VERSION } from '../version.js';
import { onePositional, parseCommand, positiveInt, report, type ParsedArgs } from './args.js';
import { readConfig, runConvert } from './convert-command.js';
import { checkTfjsBackend, runEval, runRegistryVerify } from './eval-command.js';
import { formatInspect } from './format.js';
import { commandHelp, globalHelp, registryHelp } from './help.js';
import { COMMAND_NAMES, type CommandName } from './spec.js';
import { runInfo, runList, runPull, runRegistryAdd } from './zoo-commands.js';

/**
 * The names a --kernel pattern may match in an inspect report: each layer's full name and every
 * dotted suffix of it (the detectors match the name within its dict, which the report does not
 * keep, so a pattern is refused only when it can match no layer at all).
 */
function reportedLayerNames(r: InspectReport): string[] {
  return r.doconvLayers.flatMap((l) => {
    const parts = String(l.name).split('.');
    return parts.map((_, i) => parts.slice(i).join('.'));
  });
}

async function runInspect(a: ParsedArgs): Promise<number> {
  const file = onePositional(a, 'checkpoint');
  const from = a.str('from') as Framework | undefined;
  const config = readConfig(a.str('config'));
  const kernels = a.list('kernel').map(parseKernelOverride);
  const r = await inspectFile(file, { ...(from ? { from } : {}), kernels, ...(config !== undefined ? { config } : {}) });
  const names = reportedLayerNames(r);
  for (const k of kernels) {
    if (names.some((n) => k.regex.test(n))) continue;
    const shown = r.doconvLayers.slice(0, 5).map((l) => String(l.name)).join(', ');
    throw new DoconvError('BAD_ARGUMENT', r.doconvLayers.length === 0 ? `--kernel ${k.pattern}: the checkpoint has no DO-Conv layer for it to name` : `--kernel ${k.pattern}=${k.kernel[0]}x${k.kernel[1]} matches no DO-Conv layer; the ${r.doconvLayers.length} layers are named like ${shown}${r.doconvLayers.length > 5 ? ', ...' : ''}`, { file });
  }
  process.stdout.write(a.json ? `${JSON.stringify(r, null, 2)}\n` : `${formatInspect(r, a.bool('tensors'))}\n`);
  return 0;
}

async function runPredict(a: ParsedArgs): Promise<number> {
  const model = onePositional(a, 'model');
  checkTfjsBackend(a);
  const threads = positiveInt(a.str('threads'), '--threads');
  const summary = await predictFile(model, a.str('input')!, a.str('output')!, {
    ...(a.has('backend') ? { backend: a.str('backend') as 'onnx' | 'tfjs' } : {}),
    ...(a.has('tfjs-backend') ? { tfjsBackend: a.str('tfjs-backend') as 'wasm' | 'cpu' | 'tensorflow' } : {}),
    ...(a.has('device') ? { device: a.str('device') as 'cpu' | 'gpu' } : {}),
    ...(threads ? { threads } : {}),
    ...(a.has('arch') ? { arch: a.str('arch')! } : {}),
    ...(a.bool('verbose') ? { verbose: true } : {}),
    kernels: a.list('kernel'),
  });
  report(a, `wrote ${summary.output}: [${summary.outputShape.join(', ')}] from [${summary.inputShape.join(', ')}] on ${summary.executionProvider} in ${summary.seconds.toFixed(3)} s`, summary);
  return 0;
}

const RUN: Record<CommandName, (a: ParsedArgs) => Promise<number>> = {
  inspect: runInspect,
  convert: runConvert,
  predict: runPredict,
  list: runList,
  info: runInfo,
  pull: runPull,
  eval: runEval,
  'registry add': runRegistryAdd,
  'registry verify': runRegistryVerify,
};

function isCommand(name: string): name is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(name);
}

const HELP = ['--help', '-h'];

/** The command the arguments name (`registry add` is two words) and the arguments after it. */
function resolveCommand(argv: string[]): { command: CommandName; args: string[] } | { help: string; toStderr: boolean } {
  const [first, ...rest] = argv;
  if (first === undefined) return { help: globalHelp(), toStderr: true };
  if (HELP.includes(first)) return { help: globalHelp(), toStderr: false };
  if (first === 'help') {
    // `doconv-zoo help [COMMAND]` is `doconv-zoo [COMMAND] --help`.
    if (rest.length === 0) return { help: globalHelp(), toStderr: false };
    const r = resolveCommand([...rest, '--help']);
    return 'help' in r ? r : { command: r.command, args: ['--help'] };
  }
  if (first === 'registry') {
    const [sub, ...args] = rest;
    if (sub === undefined) return { help: registryHelp(), toStderr: true };
    if (HELP.includes(sub)) return { help: registryHelp(), toStderr: false };
    const name = `registry ${sub}`;
    if (!isCommand(name)) throw new DoconvError('BAD_ARGUMENT', `unknown registry command '${sub}'; use 'registry add CKPT --name NAME --registry DIR' or 'registry verify NAME --record FILE' (doconv-zoo registry --help)`);
    return { command: name, args };
  }
  if (!isCommand(first) || first.startsWith('registry ')) throw new DoconvError('BAD_ARGUMENT', `unknown command '${first}'; the commands are ${[...new Set(COMMAND_NAMES.map((c) => c.split(' ')[0]!))].join(', ')} (doconv-zoo --help)`);
  return { command: first, args: rest };
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const json = rest.includes('--json');
  // `-o -` puts the converted model on standard output: a JSON error must not be mixed into it.
  const dataOnStdout = rest.some((a, i) => ((a === '-o' || a === '--output') && rest[i + 1] === STDOUT) || a === '--output=-');
  try {
    if (command === '--version' || command === '-V') {
      process.stdout.write(`${VERSION}\n`);
      return 0;
    }
    const resolved = resolveCommand(argv);
    if ('help' in resolved) {
      (resolved.toStderr ? process.stderr : process.stdout).write(`${resolved.help}\n`);
      return resolved.toStderr ? 1 : 0;
    }
    const parsed = parseCommand(resolved.command, resolved.args);
    if (parsed.help) {
      process.stdout.write(`${commandHelp(resolved.command)}\n`);
      return 0;
    }
    return await RUN[resolved.command](parsed);
  } catch (err) {
    if (err instanceof DoconvError) {
      process.stderr.write(`doconv-zoo: error: ${err.message}\n`);
      if (json) (dataOnStdout ? process.stderr : process.stdout).write(`${JSON.stringify({ error: err.toJSON() })}\n`);
      return 1;
    }
    const e = err as Error;
    process.stderr.write(`doconv-zoo: internal error: ${escapeControl(String(e?.message ?? e))} (please report this; DOCONV_ZOO_DEBUG=1 shows the stack)\n`);
    if (process.env.DOCONV_ZOO_DEBUG) process.stderr.write(`${e.stack}\n`);
    return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));
