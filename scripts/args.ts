// Options of the e2e and benchmark scripts: `--help` prints the usage, a wrong option is a
// usage error (exit 2) with the usage, never a stack trace.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

export function scriptArgs<O extends Options>(usage: string, options: O) {
  if (process.argv.slice(2).some((a) => a === '--help' || a === '-h')) { process.stdout.write(`${usage.trim()}\n`); process.exit(0); }
  try {
    return parseArgs({ options, strict: true, allowPositionals: true });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${usage.trim()}\n`);
    process.exit(2);
  }
}
