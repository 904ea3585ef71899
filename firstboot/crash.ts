// Fault injection for the crash-recovery test: with PERSONAL_CLOUD_CRASH_AT set ("*" or a
// comma list of boundary-name prefixes) the agent SIGKILLs itself right after a side effect,
// before it records anything, once per boundary (remembered in the state directory).
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { log } from './log.js';

let crashAt: string[] = [];
let doneFile = '';

export function configureCrashes(spec: string | undefined, stateDir: string): void {
  crashAt = spec ? spec.split(',').map((s) => s.trim()).filter(Boolean) : [];
  doneFile = join(stateDir, 'crash-boundaries.done');
}

export function boundary(name: string): void {
  log.debug(`boundary ${name}`);
  if (!crashAt.length || !crashAt.some((p) => p === '*' || name.startsWith(p))) return;
  let done: string[] = [];
  try { done = readFileSync(doneFile, 'utf8').split('\n'); } catch { /* none yet */ }
  if (done.includes(name)) return;
  mkdirSync(join(doneFile, '..'), { recursive: true });
  appendFileSync(doneFile, `${name}\n`);
  log.warn(`fault injection: SIGKILL at boundary ${name}`);
  process.kill(process.pid, 'SIGKILL');
}
