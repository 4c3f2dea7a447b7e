import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DoconvError } from '../errors.js';

/** node:util parseArgs, strict, its errors as one-line DoconvErrors. */
type Parsed<T extends NonNullable<ParseArgsConfig['options']>> = ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>;

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T): Parsed<T> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new DoconvError('BAD_ARGUMENT', (err as Error).message.split('\n')[0]!);
  }
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
