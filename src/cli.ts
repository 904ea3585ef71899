import { commands } from './commands/index.js';
import { EXIT, UserError } from '../core/errors.js';
import { TOOL_VERSION } from './util/version.js';

function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'personal-cloud — build Debian installer media that install a self-forming HA cluster',
    '',
    'Usage: personal-cloud <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `personal-cloud <command> --help` for a command\'s options.',
    'Exit codes: 0 ok, 1 failure, 2 usage, 3 invalid config, 4 verification failed,',
    '            5 external tool missing or failed, 6 refused for safety.',
    '',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(mainHelp());
    return name ? EXIT.ok : EXIT.usage;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${TOOL_VERSION}\n`);
    return EXIT.ok;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`personal-cloud: unknown command '${name}'\n\n${mainHelp()}`);
    return EXIT.usage;
  }
  return cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    if (err instanceof UserError) {
      process.stderr.write(`personal-cloud: ${err.message}\n${err.hint ? `hint: ${err.hint}\n` : ''}`);
      process.exitCode = err.exitCode;
    } else {
      // Unexpected: still no stack unless asked for, but say it is a bug.
      const e = err as Error;
      process.stderr.write(`personal-cloud: internal error: ${e?.message ?? String(err)}\n`);
      if (process.env.PERSONAL_CLOUD_DEBUG) process.stderr.write(`${e?.stack}\n`);
      else process.stderr.write('(set PERSONAL_CLOUD_DEBUG=1 for details; please report this)\n');
      process.exitCode = EXIT.failure;
    }
  },
);
