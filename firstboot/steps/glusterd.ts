// glusterd must run, and must have been (re)started after management TLS was switched on: it
// reads secure-access only when it starts. The CA bundle it reads again for every connection it
// makes or accepts, so members whose certificates arrive later need no restart.
import { boundary } from '../crash.js';
import { glusterdPid, glusterdStart, mtimeMs, processStartMs, restartGlusterd, startGlusterd } from '../service.js';
import { SECURE_ACCESS } from '../tls.js';
import type { Ctx, Step } from './step.js';
import { readText, writeDurable } from '../fsx.js';

// What the glusterd we started last was started with (in /run: gone after a reboot, as is glusterd).
const STARTED_WITH = '/run/personal-cloud/glusterd-started.json';

async function staleBy(): Promise<string | null> {
  const pid = await glusterdPid();
  if (!pid) return 'not running';
  const rec = JSON.parse((await readText(STARTED_WITH)) ?? '{}') as { pid?: number; secure?: boolean };
  if (rec.pid === pid) return !rec.secure && (await mtimeMs(SECURE_ACCESS)) !== null ? 'management TLS enabled after glusterd started' : null;
  // started by someone else (systemd at boot): judge by the file's time, with slack for the
  // one-second resolution of the boot time the process start is computed from
  const m = await mtimeMs(SECURE_ACCESS);
  return m !== null && m > (await processStartMs(pid)) + 1500 ? 'management TLS enabled after glusterd started' : null;
}

async function record(): Promise<void> {
  const pid = await glusterdPid();
  await writeDurable(STARTED_WITH, JSON.stringify({ pid, secure: (await mtimeMs(SECURE_ACCESS)) !== null }), 0o600);
}

// started before management TLS is on, it would have to be restarted
const tlsReady = async (ctx: Ctx) => Boolean(ctx.obs.cert) && (await mtimeMs(SECURE_ACCESS)) !== null;

/** After a start that failed, the next one waits this long (glusterd's log says why). */
const RETRY_MS = 30_000;

export const glusterdStep: Step = {
  name: 'glusterd',
  async check(ctx) {
    if (!(await tlsReady(ctx))) return { ok: false, waiting: true, detail: 'waiting for TLS material' };
    const start = glusterdStart();
    if (start && !start.failed) return { ok: false, waiting: true, detail: `starting, not answering yet (${Math.round((Date.now() - start.sinceMs) / 1000)} s)` };
    const why = await staleBy();
    if (why && start?.failed) return { ok: false, detail: `${start.failed}; next try ${Math.max(0, Math.round((start.sinceMs + RETRY_MS - Date.now()) / 1000))} s after the last` };
    return why ? { ok: false, detail: why } : { ok: true, detail: 'running' };
  },
  async apply(ctx) {
    if (!(await tlsReady(ctx))) return false;
    const start = glusterdStart();
    if (start && (!start.failed || Date.now() - start.sinceMs < RETRY_MS)) return false;
    const why = await staleBy();
    if (!why) return false;
    // the pid is known once it answers (it forks after initialising)
    if (why === 'not running') await startGlusterd(record);
    else await restartGlusterd(record);
    boundary('glusterd:start');
  },
};
