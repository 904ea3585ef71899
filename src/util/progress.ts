// Progress for long operations on stderr: a redrawn line on a terminal, a line per step
// otherwise (CI logs), nothing with --json on stdout consumers' behalf (they read stdout).
import { binaryBytes } from '../../core/bytes.js';

export interface Progress {
  step(message: string): void;
  /** done/total in bytes (total may be unknown). */
  bytes(label: string, done: number, total?: number): void;
  done(message?: string): void;
}

export function createProgress(opts: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): Progress {
  const out = opts.stream ?? process.stderr;
  const tty = Boolean(out.isTTY);
  let lastLine = 0;
  let lastPct = -1;
  const write = (s: string) => { if (!opts.quiet) out.write(s); };
  return {
    step(message) {
      if (tty && lastLine) write('\n');
      lastLine = 0; lastPct = -1;
      write(`• ${message}\n`);
    },
    bytes(label, done, total) {
      const pct = total ? Math.floor((done / total) * 100) : -1;
      const text = total ? `  ${label}: ${binaryBytes(done)} / ${binaryBytes(total)} (${pct}%)` : `  ${label}: ${binaryBytes(done)}`;
      if (tty) { write(`\r${text.padEnd(lastLine)}`); lastLine = text.length; return; }
      // Non-terminal: one line per 25% so CI logs stay short.
      const bucket = total ? Math.floor(pct / 25) : -1;
      if (bucket !== lastPct && (bucket >= 0)) { lastPct = bucket; write(`${text}\n`); }
    },
    done(message) {
      if (tty && lastLine) write('\n');
      lastLine = 0;
      if (message) write(`✓ ${message}\n`);
    },
  };
}

export const silentProgress: Progress = { step() {}, bytes() {}, done() {} };
