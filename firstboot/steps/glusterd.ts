// glusterd must run, and must have been (re)started after management TLS was switched on and
// after the CA bundle last changed: it reads both only when it starts.
import { boundary } from '../crash.js';
import { glusterdPid, mtimeMs, processStartMs, restartGlusterd, startGlusterd } from '../service.js';
import { CA, SECURE_ACCESS } from '../tls.js';
import type { Step } from './step.js';
import { createHash } from 'node:crypto';
import { readText, writeDurable } from '../fsx.js';

// What the glusterd we started last was started with (in /run: gone after a reboot, as is glusterd).
const STARTED_WITH = '/run/personal-cloud/glusterd-started.json';

async function caDigest(): Promise<string> {
  return createHash('sha256').update((await readText(CA)) ?? '').digest('hex');
}

async function staleBy(): Promise<string | null> {
  const pid = await glusterdPid();
  if (!pid) return 'not running';
  const rec = JSON.parse((await readText(STARTED_WITH)) ?? '{}') as { pid?: number; ca?: string; secure?: boolean };
  if (rec.pid === pid) {
    if (!rec.secure && (await mtimeMs(SECURE_ACCESS)) !== null) return 'management TLS enabled after glusterd started';
    return rec.ca === (await caDigest()) ? null : `${CA} changed after glusterd started`;
  }
  // started by someone else (systemd at boot): judge by file times, with slack for the
  // one-second resolution of the boot time the process start is computed from
  const started = await processStartMs(pid);
  for (const f of [SECURE_ACCESS, CA]) {
    const m = await mtimeMs(f);
    if (m !== null && m > started + 1500) return `${f} changed after glusterd started`;
  }
  return null;
}

async function record(): Promise<void> {
  const pid = await glusterdPid();
  await writeDurable(STARTED_WITH, JSON.stringify({ pid, ca: await caDigest(), secure: (await mtimeMs(SECURE_ACCESS)) !== null }), 0o600);
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
    const ca = await caDigest();
    if (why === 'not running') await startGlusterd();
    else if (why) await restartGlusterd();
    if (ca === (await caDigest())) await record();
    boundary('glusterd:start');
  },
};
