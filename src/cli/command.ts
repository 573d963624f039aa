// What every subcommand provides, so main.ts can dispatch and print uniform help.
import { parseArgs, ParseArgsConfig } from 'node:util';

export interface Command {
  name: string;
  summary: string;
  /** Full help text: usage, options, EXAMPLES block. */
  help: string;
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** A user mistake: printed without a stack trace, with the fix in the message. */
export class UsageError extends Error {}

/**
 * parseArgs with our conventions: unknown options are a UsageError that names the command's --help,
 * and `-h/--help` is always accepted.
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: T,
  allowPositionals = true,
) {
  try {
    return parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\nSee: calitrace ${command} --help`);
  }
}

/** Parses a non-negative integer option, or throws a UsageError naming the option. */
export function intOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} takes a whole number, got '${value}'`);
  return Number(value);
}
