// glusterd must run, and must have been (re)started after management TLS was switched on and
// after the CA bundle last changed: it reads both only when it starts.
import { boundary } from '../crash.js';
import { glusterdPid, mtimeMs, processStartMs, restartGlusterd, startGlusterd } from '../service.js';
import { CA, SECURE_ACCESS } from '../tls.js';
import type { Step } from './step.js';

async function staleBy(): Promise<string | null> {
  const pid = await glusterdPid();
  if (!pid) return 'not running';
  const started = await processStartMs(pid);
  for (const f of [SECURE_ACCESS, CA]) {
    const m = await mtimeMs(f);
    if (m !== null && m > started) return `${f} changed after glusterd started`;
  }
  return null;
}

export const glusterdStep: Step = {
  name: 'glusterd',
  async check(ctx) {
    if (!ctx.obs.cert) return { ok: false, waiting: true, detail: 'waiting for TLS material' };
    // glusterd reads the CA bundle only at start: give every planned member a little time to
    // show up first, so a normal formation needs no restart (late nodes cost one restart each)
    const trusted = ctx.obs.caTrusts.length;
    if (!(await glusterdPid()) && trusted < ctx.plan.nodes.length && Date.now() - ctx.agentStartMs < ctx.env.formGraceSeconds * 1000) {
      return { ok: false, waiting: true, detail: `waiting for members' certificates (${trusted} of ${ctx.plan.nodes.length}) before starting glusterd` };
    }
    const why = await staleBy();
    return why ? { ok: false, detail: why } : { ok: true, detail: 'running' };
  },
  async apply(ctx) {
    const c = await glusterdStep.check(ctx);
    if (c.ok || c.waiting) return false;
    const why = await staleBy();
    if (why === 'not running') await startGlusterd();
    else if (why) await restartGlusterd();
    boundary('glusterd:start');
  },
};
