// Logs go to stderr; under systemd (JOURNAL_STREAM set) each line carries a <N> syslog
// priority prefix that journald understands, elsewhere an ISO timestamp.
type Level = 'error' | 'warn' | 'info' | 'debug';
const PRIORITY: Record<Level, number> = { error: 3, warn: 4, info: 6, debug: 7 };

const journald = Boolean(process.env.JOURNAL_STREAM);
const verbose = process.env.PERSONAL_CLOUD_DEBUG === '1';

function write(level: Level, msg: string): void {
  if (level === 'debug' && !verbose) return;
  const lines = msg.split('\n');
  const out = lines.map((l) => (journald ? `<${PRIORITY[level]}>${l}` : `${new Date().toISOString()} ${level.padEnd(5)} ${l}`)).join('\n');
  process.stderr.write(`${out}\n`);
}

export const log = {
  error: (m: string) => write('error', m),
  warn: (m: string) => write('warn', m),
  info: (m: string) => write('info', m),
  debug: (m: string) => write('debug', m),
};
