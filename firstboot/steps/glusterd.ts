// glusterd must run, and must have been (re)started after management TLS was switched on: it
// reads secure-access only when it starts. The CA bundle it reads again for every connection it
// makes or accepts, so members whose certificates arrive later need no restart.
import { boundary } from '../crash.js';
import { glusterdPid, glusterdStart, mtimeMs, processStartMs, restartGlusterd, startGlusterd } from '../service.js';
import { SECURE_ACCESS } from '../tls.js';
import { identityHold } from './identity.js';
import { done, todo, waiting, type Step } from './step.js';
import { glusterdStartedWith, recordGlusterdStart } from '../glusterd-started.js';

async function staleBy(): Promise<string | null> {
  const pid = await glusterdPid();
  if (!pid) return 'not running';
  const rec = await glusterdStartedWith();
  if (rec.pid === pid) return !rec.secure && (await mtimeMs(SECURE_ACCESS)) !== null ? 'management TLS enabled after glusterd started' : null;
  // started by someone else (systemd at boot): judge by the file's time, with slack for the
  // one-second resolution of the boot time the process start is computed from
  const m = await mtimeMs(SECURE_ACCESS);
  return m !== null && m > (await processStartMs(pid)) + 1500 ? 'management TLS enabled after glusterd started' : null;
}

/** After a start that failed, the next one waits this long (glusterd's log says why). */
const RETRY_MS = 30_000;

export interface GlusterdSeen {
  /** Started before management TLS is on, it would have to be restarted. */
  tlsReady: boolean;
  start: ReturnType<typeof glusterdStart>;
  /** Why glusterd must be started or restarted, null when it runs as it should (not looked at while a start is under way). */
  staleBy: string | null;
  /** A fresh node's identity is not settled yet (it may be taking a known node's place): why not. */
  identityHold?: string | null;
}

export const glusterdStep: Step<GlusterdSeen, { do: 'start' | 'restart' }> = {
  name: 'glusterd',
  loop: 'storage',
  changesGluster: true,
  async observe(ctx) {
    const tlsReady = Boolean(ctx.obs.cert) && (await mtimeMs(SECURE_ACCESS)) !== null;
    const start = glusterdStart();
    return { tlsReady, start, staleBy: tlsReady && !(start && !start.failed) ? await staleBy() : null, identityHold: await identityHold(ctx) };
  },
  plan(ctx, { tlsReady, start, staleBy: why, identityHold: hold }) {
    if (!tlsReady) return waiting('waiting for TLS material');
    if (hold) return waiting(`first start waits for this node's identity: ${hold}`);
    if (start && !start.failed) return waiting(`starting, not answering yet (${Math.round((ctx.now - start.sinceMs) / 1000)} s)`);
    if (!why) return done('running');
    if (start?.failed && ctx.now - start.sinceMs < RETRY_MS) return waiting(`${start.failed}; next try ${Math.max(0, Math.round((start.sinceMs + RETRY_MS - ctx.now) / 1000))} s after the last`);
    return todo([{ do: why === 'not running' ? 'start' : 'restart' }], why);
  },
  async apply(_ctx, actions) {
    for (const a of actions) {
      // the pid is known once it answers (it forks after initialising)
      if (a.do === 'start') await startGlusterd(recordGlusterdStart);
      else await restartGlusterd(recordGlusterdStart);
      boundary('glusterd:start');
    }
  },
};
