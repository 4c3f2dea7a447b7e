// The CLI tells the truth: per-command help made from the parser's own tables, bare and unknown
// commands, -q, the output-is-the-input refusal and options that do not apply to the target.
// Needs nothing outside the clone: the bundled example checkpoint and files made in temp folders.
import { cpSync, existsSync, linkSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TARGETS } from '../src/convert.js';
import { parseCommand } from '../src/cli/args.js';
import { commandHelp } from '../src/cli/help.js';
import { COMMAND_NAMES, OPTIONS, type CommandName } from '../src/cli/spec.js';
import { DoconvError } from '../src/errors.js';
import { ROOT, runCli, tempDir, type CliResult } from './helpers/paths.js';

const EXAMPLE = join(ROOT, 'examples', 'doconv_resnet20_cifar.pth');
const EXAMPLE_INPUT = join(ROOT, 'examples', 'doconv_resnet20_cifar.input.npy');

function expectOneLineError(r: CliResult, ...needles: string[]): void {
  expect(r.status, r.stderr).toBe(1);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^doconv-zoo: error: /);
  for (const n of needles) expect(lines[0]).toContain(n);
}

/** The options section of a help text: each entry's flags and its (joined) text. */
interface HelpOption {
  long: string;
  short: string | undefined;
  takesValue: boolean;
  values: string[] | undefined;
  text: string;
}

function helpOptions(help: string): HelpOption[] {
  const lines = help.split('\n');
  const start = lines.indexOf('Options:');
  const end = lines.indexOf('Example:');
  expect(start).toBeGreaterThan(0);
  expect(end).toBeGreaterThan(start);
  const entries: string[][] = [];
  for (const line of lines.slice(start + 1, end)) {
    if (line.trim() === '') continue;
    if (/^ {2}-/.test(line)) entries.push([line]);
    else entries.at(-1)!.push(line);
  }
  return entries.map((e) => {
    const m = /^ {2}(?:-([a-zA-Z]), )?--([a-z0-9-]+)( [^ ]+)?/.exec(e[0]!);
    expect(m, e[0]).not.toBeNull();
    const text = e.join(' ').replace(/\s+/g, ' ');
    const values = /Values: ([^.]+)\./.exec(text)?.[1]!.split(', ');
    return { long: m![2]!, short: m![1], takesValue: m![3] !== undefined && m![3] !== ' ...', values, text };
  });
}

/** The options the usage line says the command needs, filled with a placeholder value. */
function requiredArgs(help: string): string[] {
  const usage = help.split('\n')[0]!;
  return [...usage.matchAll(/ (--?[a-z][a-z0-9-]*) [A-Z][^ ]*/g)].flatMap((m) => [m[1]!, 'x']);
}

function parseError(command: CommandName, args: string[]): string | undefined {
  try {
    parseCommand(command, args);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(DoconvError);
    return (err as DoconvError).message;
  }
}

describe('per-command help', () => {
  it.each([...COMMAND_NAMES])("'%s --help' prints its own usage, options and one example, exit 0", (command) => {
    const r = runCli([...command.split(' '), '--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.startsWith(`Usage: doconv-zoo ${command} `)).toBe(true);
    expect(r.stdout.trimEnd()).toBe(commandHelp(command));
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.filter((l) => l === 'Example:')).toHaveLength(1);
    expect(lines.at(-1)).toMatch(new RegExp(`^ {2}doconv-zoo ${command} `));
    // Its own help, not another command's (the old help printed every command's usage).
    for (const other of COMMAND_NAMES.filter((c) => c !== command && !c.startsWith(`${command} `))) {
      expect(r.stdout).not.toContain(`doconv-zoo ${other} `);
    }
    const options = helpOptions(r.stdout);
    expect(options.length).toBeGreaterThan(2);
    for (const o of options) expect(o.text.length, `--${o.long} has a description`).toBeGreaterThan(`--${o.long}`.length + 10);
  });

  it("'registry --help' lists both subcommands with an example, exit 0; a bare 'registry' prints it to stderr, exit 1", () => {
    const r = runCli(['registry', '--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('doconv-zoo registry add CKPT --name NAME --registry DIR [options]');
    expect(r.stdout).toContain('doconv-zoo registry verify NAME --record FILE [options]');
    expect(r.stdout).toMatch(/Example:\n {2}doconv-zoo registry add /);
    const bare = runCli(['registry']);
    expect(bare.status).toBe(1);
    expect(bare.stdout).toBe('');
    expect(bare.stderr.trimEnd()).toBe(r.stdout.trimEnd());
  });

  it.each([...COMMAND_NAMES])('%s: every option in its help is accepted by the parser, and no other option is', (command) => {
    const help = commandHelp(command);
    const shown = helpOptions(help);
    const everyFlag = new Set(OPTIONS.map((o) => o.name));
    for (const name of ['bogus', 'to-format', 'verbose']) everyFlag.add(name);
    for (const name of everyFlag) {
      const o = shown.find((s) => s.long === name);
      const args = [`--${name}`, ...(o?.takesValue ? ['v'] : []), '--help'];
      const err = parseError(command, args);
      if (o !== undefined) expect(err, `--${name} is in the help of ${command}`).toBeUndefined();
      else expect(err, `--${name} is not in the help of ${command}`).toMatch(new RegExp(`Unknown option '--${name}'`));
    }
    const shorts = new Set([...OPTIONS.flatMap((o) => (o.short ? [o.short] : [])), 'x', 'v']);
    for (const s of shorts) {
      const o = shown.find((x) => x.short === s);
      const err = parseError(command, [`-${s}`, ...(o?.takesValue ? ['v'] : []), '--help']);
      if (o !== undefined) expect(err, `-${s} is in the help of ${command}`).toBeUndefined();
      else expect(err, `-${s} is not in the help of ${command}`).toMatch(new RegExp(`Unknown option '-${s}'`));
    }
  });

  it.each([...COMMAND_NAMES])('%s: the values printed for an option are exactly the ones the parser accepts', (command) => {
    const help = commandHelp(command);
    const required = requiredArgs(help);
    const positional = ['ARG'];
    expect(parseError(command, [...positional, ...required]), 'the usage line names every required option').toBeUndefined();
    for (const o of helpOptions(help).filter((x) => x.takesValue && !required.includes(`--${x.long}`) && !required.includes(`-${x.short}`))) {
      if (o.values === undefined) {
        // no list printed: any value is taken at parse time
        expect(parseError(command, [...positional, ...required, `--${o.long}`, 'anything-at-all'])).toBeUndefined();
        continue;
      }
      for (const v of o.values) expect(parseError(command, [...positional, ...required, `--${o.long}`, v]), `--${o.long} ${v}`).toBeUndefined();
      const err = parseError(command, [...positional, ...required, `--${o.long}`, 'no-such-value']);
      expect(err).toBe(`--${o.long} must be one of ${o.values.join(', ')}; got 'no-such-value'`);
    }
  });

  it('convert --help lists the 7 targets of convert.ts and the frameworks pytorch, keras, gluon (not the stale pth|safetensors|npz / pytorch)', () => {
    const options = helpOptions(commandHelp('convert'));
    expect(options.find((o) => o.long === 'to')!.values).toEqual([...TARGETS]);
    expect(TARGETS).toHaveLength(7);
    expect(options.find((o) => o.long === 'from')!.values).toEqual(['pytorch', 'keras', 'gluon']);
    expect(options.find((o) => o.long === 'fp16')!.text).toContain('Applies to: onnx.');
    expect(options.find((o) => o.long === 'quantize')!.text).toContain('Applies to: tfjs.');
  });

  it('doconv-zoo --help is the overview: each command on one line and how to get its options', () => {
    const r = runCli(['--help']);
    expect(r.status).toBe(0);
    for (const c of COMMAND_NAMES) expect(r.stdout.split('\n').filter((l) => l.startsWith(`  ${c}  `)), c).toHaveLength(1);
    expect(r.stdout).toContain("doconv-zoo COMMAND --help' for its options");
    expect(r.stdout).not.toContain('--quantize');
    expect(runCli(['help', 'convert']).stdout.trimEnd()).toBe(commandHelp('convert'));
  });
});

describe('bare and unknown commands', () => {
  it('bare doconv-zoo prints the usage to stderr and exits 1', () => {
    const r = runCli([]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Usage: doconv-zoo COMMAND');
  });

  it.each([['frobnicate'], ['registry', 'frobnicate'], ['registry add']])('%j exits 1 naming it', (...args) => {
    const r = runCli(args);
    expectOneLineError(r, `'${args.at(-1)}'`);
  });
});

describe('-q/--quiet: nothing but errors and --json', () => {
  let cache: string | undefined;
  beforeAll(() => {
    cache = process.env.DOCONV_ZOO_CACHE;
    process.env.DOCONV_ZOO_CACHE = tempDir('doconv-zoo-cache-');
  });
  afterAll(() => {
    if (cache === undefined) delete process.env.DOCONV_ZOO_CACHE;
    else process.env.DOCONV_ZOO_CACHE = cache;
  });

  it('convert -q prints nothing on stdout or stderr and still writes the output; without -q it prints the summary', () => {
    const dir = tempDir();
    const q = runCli(['convert', EXAMPLE, '-o', join(dir, 'q.pth'), '-q']);
    expect([q.status, q.stdout, q.stderr]).toEqual([0, '', '']);
    expect(existsSync(join(dir, 'q.pth'))).toBe(true);
    const loud = runCli(['convert', EXAMPLE, '-o', join(dir, 'loud.pth')]);
    expect(loud.stdout).toMatch(/^wrote .*loud\.pth \(pth, /);
    const json = runCli(['convert', EXAMPLE, '-o', join(dir, 'j.pth'), '-q', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ to: 'pth', fusedLayers: 21 });
  });

  it('predict, pull, registry add, eval and registry verify are silent with -q', () => {
    const dir = tempDir();
    const runs: [string, string[]][] = [
      ['predict', ['predict', EXAMPLE, '--input', EXAMPLE_INPUT, '--output', join(dir, 'y.npy'), '-q']],
      ['pull', ['pull', 'doconv_resnet20_cifar_example', '--quiet']],
      ['registry add', ['registry', 'add', EXAMPLE, '--name', 'quiet_one', '--registry', join(dir, 'zoo'), '-q']],
      ['eval', ['eval', 'doconv_mnist_sample', '--data', 'mnist', '--limit', '20', '--record', join(dir, 'record.json'), '-q']],
    ];
    for (const [what, args] of runs) {
      const r = runCli(args);
      expect([what, r.status, r.stdout, r.stderr]).toEqual([what, 0, '', '']);
    }
    expect(existsSync(join(dir, 'y.npy'))).toBe(true);
    expect(JSON.parse(readFileSync(join(dir, 'zoo', 'manifest.json'), 'utf8')).entries.map((e: { name: string }) => e.name)).toEqual(['quiet_one']);
    expect(JSON.parse(readFileSync(join(dir, 'record.json'), 'utf8')).count).toBe(20);
    cpSync(join(ROOT, 'registry'), join(dir, 'registry'), { recursive: true });
    const verify = ['registry', 'verify', 'doconv_mnist_sample', '--record', join(dir, 'record.json'), '--registry', join(dir, 'registry')];
    expect(runCli([...verify, '-q'])).toMatchObject({ status: 0, stdout: '', stderr: '' });
    expect(runCli(verify).stdout).toMatch(/^replaced a verification of doconv_mnist_sample/);
  });

  it('-q does not silence errors', () => {
    expectOneLineError(runCli(['convert', '/nonexistent/x.pth', '-o', join(tempDir(), 'x.pth'), '-q']), '/nonexistent/x.pth');
  });
});

describe('convert refuses to write over its input', () => {
  const variants: [string, (dir: string) => string][] = [
    ['the same path', (d) => join(d, 'same.pth')],
    ['another spelling', (d) => `${d}/sub/../same.pth`],
    ['a symbolic link to it', (d) => join(d, 'sym.pth')],
    ['a hard link to it', (d) => join(d, 'hard.pth')],
  ];
  it.each(variants)('%s: exit 1, one line, the input byte-identical', (_what, output) => {
    const dir = tempDir();
    const input = join(dir, 'same.pth');
    cpSync(EXAMPLE, input);
    mkdirSync(join(dir, 'sub'));
    symlinkSync(input, join(dir, 'sym.pth'));
    linkSync(input, join(dir, 'hard.pth'));
    const before = readFileSync(input);
    for (const to of [[], ['--to', 'safetensors']]) {
      expectOneLineError(runCli(['convert', input, '-o', output(dir), ...to]), 'is the input');
      expect(readFileSync(input).equals(before)).toBe(true);
    }
  });

  it('through a symbolic link as the input too; another file in the same folder is written', () => {
    const dir = tempDir();
    const input = join(dir, 'same.pth');
    cpSync(EXAMPLE, input);
    symlinkSync(input, join(dir, 'sym.pth'));
    expectOneLineError(runCli(['convert', join(dir, 'sym.pth'), '-o', input]), 'is the input');
    expect(readFileSync(input).equals(readFileSync(EXAMPLE))).toBe(true);
    expect(runCli(['convert', join(dir, 'sym.pth'), '-o', join(dir, 'other.pth')]).status).toBe(0);
  });

  it('a TensorFlow.js output folder that holds the input is refused', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'web'));
    const input = join(dir, 'web', 'model.json');
    cpSync(EXAMPLE, input);
    expectOneLineError(runCli(['convert', input, '-o', join(dir, 'web'), '--to', 'tfjs']), 'inside the output folder');
    expect(readFileSync(input).equals(readFileSync(EXAMPLE))).toBe(true);
  });
});

describe('options that do not apply are refused, naming the option and the target', () => {
  const cases: [string[], string, string][] = [
    [['--arch', 'cifar_resnet20_v1b'], 'x.pth', 'pth'],
    [['--input-size', '32x32'], 'x.safetensors', 'safetensors'],
    [['--dynamic-size'], 'x.npz', 'npz'],
    [['--no-fold-bn'], 'x.h5', 'keras-h5'],
    [['--fp16'], 'x.params', 'gluon-params'],
    [['--fp16-io'], 'x.pth', 'pth'],
    [['--quantize', 'uint8'], 'x.onnx', 'onnx'],
    [['--quantize', 'none'], 'x.pth', 'pth'],
    [['--fp16'], 'web', 'tfjs'],
    [['--fp16-io'], 'web', 'tfjs'],
    [['--dynamic-size'], 'web', 'tfjs'],
    [['--keep-doconv'], 'x.onnx', 'onnx'],
    [['--dtype', 'float16'], 'web', 'tfjs'],
    [['--flatten'], 'x.onnx', 'onnx'],
    [['--state-dict-key', 'state_dict'], 'x.pth', 'pth'],
  ];
  it.each(cases)('convert %j -o %s (%s): exit 1, one line, nothing written', (flags, out, target) => {
    const dir = tempDir();
    const output = join(dir, out);
    const r = runCli(['convert', EXAMPLE, '-o', output, ...(target === 'tfjs' ? ['--to', 'tfjs'] : []), ...flags]);
    expectOneLineError(r, flags[0]!, `${target} output`, 'applies to');
    expect(existsSync(output)).toBe(false);
  });

  it('the same options with the target they apply to convert (no false refusal)', () => {
    const dir = tempDir();
    expect(runCli(['convert', EXAMPLE, '-o', join(dir, 'a.onnx'), '--arch', 'cifar_resnet20_v1b', '--input-size', '32x32', '--fp16', '--no-fold-bn', '-q']).status).toBe(0);
    expect(runCli(['convert', EXAMPLE, '-o', join(dir, 'b.npz'), '--dtype', 'float16', '--flatten', '-q']).status).toBe(0);
    expect(runCli(['convert', EXAMPLE, '-o', join(dir, 'c.pth'), '--keep-doconv', '-q']).status).toBe(0);
    expect(runCli(['convert', EXAMPLE, '-o', join(dir, 'web'), '--to', 'tfjs', '--quantize', 'uint8', '-q']).status).toBe(0);
  });

  it.each([['12x'], ['0x32'], ['32x'], ['axb']])('a malformed --input-size %s is a bad argument whatever the target', (size) => {
    const dir = tempDir();
    for (const out of ['x.pth', 'x.onnx']) expectOneLineError(runCli(['convert', EXAMPLE, '-o', join(dir, out), '--input-size', size]), `--input-size expects HxW`, `'${size}'`);
  });

  it('a --kernel pattern that matches no DO-Conv layer names the pattern and some layers (convert and inspect); one that matches is taken', () => {
    const dir = tempDir();
    for (const args of [['convert', EXAMPLE, '-o', join(dir, 'x.pth')], ['convert', EXAMPLE, '-o', join(dir, 'x.onnx')], ['inspect', EXAMPLE]]) {
      const r = runCli([...args, '--kernel', 'layer9.*.conv2=3x1']);
      expectOneLineError(r, 'layer9.*.conv2', 'matches no DO-Conv layer', 'layer1.0.conv1');
      expect(existsSync(join(dir, 'x.pth')) || existsSync(join(dir, 'x.onnx'))).toBe(false);
    }
    expect(runCli(['convert', EXAMPLE, '-o', join(dir, 'ok.pth'), '--kernel', 'layer1.*.conv2=3x3', '-q']).status).toBe(0);
    expect(runCli(['inspect', EXAMPLE, '--kernel', 'layer1.*.conv2=3x3']).status).toBe(0);
  });

  it('--tfjs-backend without --backend tfjs is refused (predict, eval)', () => {
    const dir = tempDir();
    expectOneLineError(runCli(['predict', EXAMPLE, '--input', EXAMPLE_INPUT, '--output', join(dir, 'y.npy'), '--tfjs-backend', 'cpu']), '--tfjs-backend', '--backend tfjs');
    expect(existsSync(join(dir, 'y.npy'))).toBe(false);
    expectOneLineError(runCli(['eval', 'doconv_mnist_sample', '--data', 'mnist', '--backend', 'onnx', '--tfjs-backend', 'wasm', '--no-record']), '--tfjs-backend', '--backend tfjs');
  });

  it('options of other commands are unknown here (list takes no --kernel, inspect no -q), and --json errors stay on stdout', () => {
    expectOneLineError(runCli(['list', '--kernel', 'a=3x3']), "Unknown option '--kernel'");
    expectOneLineError(runCli(['inspect', EXAMPLE, '-q']), "Unknown option '-q'");
    const r = runCli(['convert', EXAMPLE, '-o', join(tempDir(), 'x.pth'), '--fp16', '--json']);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'BAD_ARGUMENT' });
  });
});
