// What a CLI command is, how its arguments are read, and how a bad one is refused (exit 2, one line).
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { Identifier } from '../core/envelope.ts';
import type { CliContext } from './context.ts';

/** Exit codes: 0 done, 1 not found or the operation failed, 2 bad usage or configuration. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Bad input from the user: printed as one line, exit 2, nothing touched. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The command failed or found nothing: printed as one line, exit 1. */
export class CommandFailed extends Error {
  override name = 'CommandFailed';
}

/** The database cannot be reached: one line, exit 1. */
export class ConnectionFailed extends Error {
  override name = 'ConnectionFailed';
}

/** The client whose commands a command id names when --client is not given (the HTTP API without keys). */
export const DEFAULT_CLIENT = 'anonymous';

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** One CLI command: its options, its help, and what it does once its input is valid. */
export interface CliCommand<Input> {
  name: string;
  summary: string;
  /** The full `oncely <name> --help` text, usage line first. */
  help: string;
  options: ParseArgsOptionsConfig;
  /** Turns the parsed arguments into the command's input, or throws UsageError. Touches nothing. */
  parse(args: ParsedArgs): Input;
  /** Does the work; throws CommandFailed (exit 1) when it finds nothing or cannot do it. */
  run(context: CliContext, input: Input): Promise<void>;
}

/** Options every command takes. */
export const COMMON_OPTIONS = {
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsOptionsConfig;

/** node:util parseArgs with its errors turned into one plain line each. */
export function readArgs(command: string, argv: readonly string[], options: ParseArgsOptionsConfig): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: { ...options, ...COMMON_OPTIONS }, allowPositionals: true, strict: true });
    return { values, positionals };
  } catch (err) {
    const { code, message } = err as { code?: string; message?: string };
    const quoted = /'([^']+)'/.exec(message ?? '')?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${quoted ?? ''} for '${command}' (see oncely ${command} --help)`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE')
      throw new UsageError(`${quoted?.replace(/ <value>$/, '') ?? 'an option'} needs a value (see oncely ${command} --help)`);
    throw new UsageError(`${message ?? String(err)} (see oncely ${command} --help)`);
  }
}

/** At most `max` positionals, else a usage error naming the first extra one. */
export function expectPositionals(command: string, positionals: readonly string[], max: number): void {
  const extra = positionals[max];
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}' for '${command}' (see oncely ${command} --help)`);
}

/** A command id or client id as the API accepts them; anything else cannot name a stored command. */
export function identifier(what: string, value: string): string {
  if (!Identifier.safeParse(value).success) throw new UsageError(`${what} '${value.slice(0, 140)}' is not valid: 1 to 128 characters of A-Z a-z 0-9 . _ : -`);
  return value;
}

/** A client id given with --client (API key clients are named `key-` and 16 hex digits). */
export function clientOption(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? identifier('client id', value) : undefined;
}

/** A whole number in [min, max] given with an option, or its default. */
export function integerOption(name: string, value: string | boolean | undefined, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
  }
  return Number(value);
}
