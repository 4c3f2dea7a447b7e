import { VERSION } from '../version.js';
import { optionForm } from './args.js';
import { COMMANDS, commandSpec, optionsFor, type CommandName, type OptionSpec } from './spec.js';

/** Help text made from the option and command tables (spec.ts), so it says what the parser accepts. */

const WIDTH = 80;
const OPTION_COLUMN = 26;

/** Words of `text` in lines of at most `width` characters (a longer word gets a line of its own). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w !== '')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

function indent(lines: string[], by: number): string[] {
  return lines.map((l) => `${' '.repeat(by)}${l}`);
}

/** The usage line: the command, its positionals, the options it needs, then [options]. */
export function commandUsage(name: CommandName): string {
  const spec = commandSpec(name);
  const required = optionsFor(name).filter((o) => o.required).map((o) => optionForm(o));
  return ['doconv-zoo', name, spec.positionals, ...required, '[options]'].join(' ');
}

/** One option's entry: its flags and value, the description, the values it takes, the formats it applies to. */
function optionEntry(o: OptionSpec): string[] {
  const flags = `${o.short ? `-${o.short}, ` : ''}${optionForm(o, false)}${o.multiple ? ' ...' : ''}`;
  const text = [
    ...wrap(`${o.description}${o.required ? ' Required.' : ''}`, WIDTH - OPTION_COLUMN),
    ...(o.choices ? wrap(`Values: ${o.choices.join(', ')}.`, WIDTH - OPTION_COLUMN) : []),
    ...(o.targets ? wrap(`Applies to: ${o.targets.join(', ')}.`, WIDTH - OPTION_COLUMN) : []),
  ];
  const head = `  ${flags}`;
  if (head.length + 2 > OPTION_COLUMN) return [head, ...indent(text, OPTION_COLUMN)];
  return [`${head.padEnd(OPTION_COLUMN)}${text[0] ?? ''}`, ...indent(text.slice(1), OPTION_COLUMN)];
}

/** `doconv-zoo COMMAND --help`. */
export function commandHelp(name: CommandName): string {
  const spec = commandSpec(name);
  return [
    `Usage: ${commandUsage(name)}`,
    '',
    ...wrap(spec.description, WIDTH),
    '',
    'Options:',
    ...optionsFor(name).flatMap(optionEntry),
    '',
    'Example:',
    `  ${spec.example}`,
  ].join('\n');
}

const REGISTRY_COMMANDS = COMMANDS.filter((c) => c.name.startsWith('registry '));

/** `doconv-zoo registry --help`: the registry subcommands. */
export function registryHelp(): string {
  const width = Math.max(...REGISTRY_COMMANDS.map((c) => c.name.length));
  return [
    'Usage:',
    ...REGISTRY_COMMANDS.map((c) => `  ${commandUsage(c.name)}`),
    '',
    'Commands:',
    ...REGISTRY_COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    ...optionEntry({ name: 'help', short: 'h', type: 'boolean', commands: [], description: 'Show this help; doconv-zoo registry SUBCOMMAND --help shows its options.' }),
    '',
    'Example:',
    `  ${REGISTRY_COMMANDS[0]!.example}`,
  ].join('\n');
}

/** `doconv-zoo --help`: one line a command. */
export function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `doconv-zoo ${VERSION}: fuse DO-Conv checkpoints into plain convolutions`,
    '',
    'Usage: doconv-zoo COMMAND [options]',
    '       doconv-zoo --version | --help',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'doconv-zoo COMMAND --help' for its options.",
    'Exit codes: 0 ok, 1 bad input or arguments (one stderr line), 2 internal error.',
  ].join('\n');
}
