// What every subcommand provides, so main.ts can dispatch and print uniform help.
import { parseArgs, ParseArgsConfig } from 'node:util';
import { didYouMean } from '../util/did-you-mean';

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
    throw new UsageError(`${parseProblem(err as Error & { code?: string }, argv, options)}\nSee: calitrace ${command} --help`);
  }
}

/** node:util's parse errors in our words: the option as typed, the closest known one, no quoting soup. */
function parseProblem(err: Error & { code?: string }, argv: string[], options: NonNullable<ParseArgsConfig['options']>): string {
  const names = ['help', ...Object.keys(options)];
  const flags = [...names.map((n) => `--${n}`), ...Object.values(options).flatMap((o) => (o.short ? [`-${o.short}`] : []))];
  const quoted = /'([^']+)'/.exec(err.message)?.[1] ?? '';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const typed = argv.find((a) => a === quoted || a.startsWith(`${quoted}=`)) ?? quoted;
      const flag = typed.split('=')[0];
      return `unknown option ${flag}${didYouMean(flag, flags)}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const flag = quoted.split(' ')[0];
      const spec = options[flag.replace(/^-+/, '')];
      if (spec?.type === 'string' || /argument missing/.test(err.message)) return `${flag} needs a value`;
      return `${flag} takes no value`;
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument '${quoted}': this command takes only options`;
    default:
      return err.message;
  }
}

/** Parses a non-negative integer option, or throws a UsageError naming the option. */
export function intOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} takes a whole number, got '${value}'`);
  return Number(value);
}
