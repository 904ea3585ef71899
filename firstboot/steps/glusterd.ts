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
    const why = await staleBy();
    return why ? { ok: false, detail: why } : { ok: true, detail: 'running' };
  },
  async apply() {
    const why = await staleBy();
    if (why === 'not running') await startGlusterd();
    else if (why) await restartGlusterd();
    boundary('glusterd:start');
  },
};
