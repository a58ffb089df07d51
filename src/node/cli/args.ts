/**
 * Argument parsing for the CLI: node:util parseArgs per command, a `--` separator for the server
 * command line, and usage errors (exit code 2) as one type.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in how the CLI was called: reported as one line, exit code 2. */
export class UsageError extends Error {
  readonly code = 'UsageError';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/** Splits argv at the first bare `--`: what comes after is a server command line, passed through untouched. */
export function splitCommand(argv: readonly string[]): { args: string[]; command: string[] | undefined } {
  const at = argv.indexOf('--');
  if (at === -1) return { args: [...argv], command: undefined };
  return { args: argv.slice(0, at), command: argv.slice(at + 1) };
}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed<V> {
  values: V;
  positionals: string[];
}

/** parseArgs in strict mode; its errors (unknown flag, missing value) become UsageErrors. */
export function parse<V>(args: string[], options: Options): Parsed<V> {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values: values as V, positionals };
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? 'invalid arguments';
    throw new UsageError(message.replace(/\. To specify a positional argument.*$/, ''));
  }
}

/** A whole number within bounds, from a flag's string value. */
export function parseInteger(flag: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** JSON_ARGS: a JSON object (the tool's arguments). */
export function parseJsonArgs(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`JSON_ARGS is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new UsageError('JSON_ARGS must be a JSON object, e.g. \'{"query":"initiative"}\'');
  }
  return value as Record<string, unknown>;
}

/** Fails on positionals beyond the expected ones. */
export function noExtra(positionals: string[], expected: number): void {
  const extra = positionals[expected];
  if (extra !== undefined) {
    throw new UsageError(`unexpected argument ${JSON.stringify(extra)} (put a server command after "--")`);
  }
}
