import { spawn } from 'node:child_process';
import { log } from './log.js';

export interface RunResult { code: number; stdout: string; stderr: string }

/** What a failed command said, on one line (for a log line). */
export const saidOneLine = (r: RunResult): string => (r.stderr || r.stdout).trim().replace(/\s+/g, ' ');

export class CommandError extends Error {
  constructor(readonly cmd: string, readonly result: RunResult) {
    super(`${cmd} failed (exit ${result.code}): ${(result.stderr || result.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  }
}

export interface RunOptions { input?: string; timeoutMs?: number; allowFail?: boolean; detached?: boolean; env?: Record<string, string> }

/** Runs a program (no shell) and collects its output; fails with the tail of stderr. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const line = [cmd, ...args].join(' ');
  log.debug(`$ ${line}`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const timer = setTimeout(() => { stderr += `\n(timed out after ${timeoutMs} ms)`; child.kill('SIGKILL'); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); const r = { code: 127, stdout, stderr: `${stderr}${e.message}` }; if (opts.allowFail) resolve(r); else reject(new CommandError(line, r)); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const r = { code: code ?? (signal ? 128 : 1), stdout, stderr };
      if (r.code !== 0 && !opts.allowFail) reject(new CommandError(line, r));
      else resolve(r);
    });
    child.stdin.on('error', () => { /* the program did not read its input */ });
    child.stdin.end(opts.input ?? '');
  });
}

/** Starts a daemon that outlives this process (own session, no inherited pipes). */
export function spawnDetached(cmd: string, args: string[]): void {
  log.debug(`$ ${cmd} ${args.join(' ')} &`);
  const child = spawn(cmd, args, { detached: true, stdio: 'ignore' });
  child.unref();
}
