import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DoconvError } from '../errors.js';
import { optionsFor, type CommandName, type OptionSpec } from './spec.js';

type Value = string | boolean | string[] | undefined;

/** A command's arguments, parsed and checked against its option table (spec.ts). */
export interface ParsedArgs {
  readonly command: CommandName;
  readonly positionals: string[];
  /** --help was given: nothing else was checked. */
  readonly help: boolean;
  /** Whether the option was given at all. */
  has(name: string): boolean;
  str(name: string): string | undefined;
  bool(name: string): boolean;
  list(name: string): string[];
  /** --json: the result goes to standard output as JSON. */
  readonly json: boolean;
  /** -q or --json: no summary, notes or progress. */
  readonly quiet: boolean;
}

/** The node:util parseArgs configuration the option table gives for a command. */
export function parseConfig(command: CommandName): NonNullable<ParseArgsConfig['options']> {
  const config: NonNullable<ParseArgsConfig['options']> = {};
  for (const o of optionsFor(command)) {
    if (config[o.name] !== undefined) throw new Error(`internal: option --${o.name} is listed twice for ${command}`);
    config[o.name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  return config;
}

/** How an option is written in usage lines and messages: `-o OUT`, `--data DIR|mnist`, `--flatten`. */
export function optionForm(o: OptionSpec, preferShort = true): string {
  const flag = preferShort && o.short ? `-${o.short}` : `--${o.name}`;
  return o.type === 'string' ? `${flag} ${o.value ?? 'VALUE'}` : flag;
}

/** node:util parseArgs, strict, with the command's table: its errors, unknown values and missing options as one-line DoconvErrors. */
export function parseCommand(command: CommandName, args: string[]): ParsedArgs {
  const specs = optionsFor(command);
  let parsed: { values: Record<string, Value>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: parseConfig(command), allowPositionals: true, strict: true }) as typeof parsed;
  } catch (err) {
    throw new DoconvError('BAD_ARGUMENT', `${command}: ${(err as Error).message.split('\n')[0]!}`);
  }
  const values = parsed.values;
  const spec = (name: string): OptionSpec => {
    const o = specs.find((s) => s.name === name);
    if (o === undefined) throw new Error(`internal: ${command} has no option --${name}`);
    return o;
  };
  const help = values.help === true;
  if (!help) {
    for (const o of specs) {
      const v = values[o.name];
      if (o.choices !== undefined && typeof v === 'string') oneOf(v, o.choices, `--${o.name}`);
    }
    const missing = specs.filter((o) => o.required && values[o.name] === undefined);
    if (missing.length > 0) throw new DoconvError('BAD_ARGUMENT', `${command} needs ${missing.map((o) => optionForm(o)).join(' and ')}; see doconv-zoo ${command} --help`);
  }
  const json = values.json === true;
  return {
    command,
    positionals: parsed.positionals,
    help,
    json,
    quiet: json || values.quiet === true,
    has: (name) => values[spec(name).name] !== undefined,
    str: (name) => {
      const v = values[spec(name).name];
      return typeof v === 'string' ? v : undefined;
    },
    bool: (name) => values[spec(name).name] === true,
    list: (name) => {
      const v = values[spec(name).name];
      return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
    },
  };
}

/** A flag's value checked against the allowed ones. */
export function oneOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new DoconvError('BAD_ARGUMENT', `${flag} must be one of ${allowed.join(', ')}; got '${value}'`);
  return value as T;
}

/** A flag's value as a positive integer. */
export function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new DoconvError('BAD_ARGUMENT', `${flag} must be a positive integer, got '${value}'`);
  return n;
}

/** Exactly one positional argument. */
export function onePositional(a: ParsedArgs, what: string): string {
  if (a.positionals.length !== 1) throw new DoconvError('BAD_ARGUMENT', `${a.command} takes exactly one ${what}, got ${a.positionals.length}; see doconv-zoo ${a.command} --help`);
  return a.positionals[0]!;
}

/** Prints a command's result: the JSON with --json, else the text unless -q. */
export function report(a: ParsedArgs, text: string, json: unknown, stream: NodeJS.WritableStream = process.stdout): void {
  if (a.json) stream.write(`${JSON.stringify(json, null, 2)}\n`);
  else if (!a.quiet) stream.write(`${text}\n`);
}
