import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT, UserError } from '../../core/errors.js';

export interface Command {
  name: string;
  summary: string;
  /** Full --help text: usage line, options, examples. */
  help: string;
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * parseArgs with the CLI's conventions: `--help` prints the command's help and exits 0,
 * unknown options and bad values are usage errors (exit 2) that name the command.
 */
export function parseCommandArgs<O extends Options>(cmd: Pick<Command, 'name' | 'help'>, argv: string[], options: O, allowPositionals = true) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (e) {
    throw new UserError(`${cmd.name}: ${(e as Error).message.replace(/^.*?: /, '')}\nRun \`personal-cloud ${cmd.name} --help\` for usage.`, EXIT.usage);
  }
  if ((parsed.values as Record<string, unknown>).help) {
    process.stdout.write(cmd.help.endsWith('\n') ? cmd.help : `${cmd.help}\n`);
    return null;
  }
  return parsed as { values: { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : O[K] extends { multiple: true } ? string[] : string }; positionals: string[] };
}

export function writeJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
