// corosync-qdevice on a corosync member: its NSS database holds the qnetd CA and the member's
// own certificate (CN = the cluster name) signed by qnetd — fetched and signed through the
// agent's authenticated channel from the node running qnetd (qnetd.ts), never over ssh. The
// steps are those of corosync-qdevice-net-certutil (-i, -r, -M); a database cut short by a crash
// lacks the member certificate and is made again from the start.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentPlan } from '../../core/plan-types.js';
import { call } from '../../core/channel.js';
import { run } from '../exec.js';
import { log } from '../log.js';
import type { Members } from '../members.js';
import { DAEMONS, pidsOf, running, startDaemon, underSystemd, waitFor } from './procs.js';
import { NICK, parseQdeviceTool, pemBody, QDEVICE_DB, qnetdNode, type QdeviceState } from './quorum-device.js';
import type { QnetdCa } from './qnetd.js';

const CERTUTIL = 'corosync-qdevice-net-certutil';

/** Complete when the member certificate (imported last) is there next to the CA. */
export async function qdeviceDbReady(): Promise<boolean> {
  if (!existsSync(QDEVICE_DB)) return false;
  for (const nick of [NICK.ca, NICK.cluster]) {
    if ((await run('certutil', ['-L', '-d', QDEVICE_DB, '-n', nick], { allowFail: true, timeoutMs: 30_000 })).code !== 0) return false;
  }
  return true;
}

async function localCa(): Promise<string | null> {
  const r = await run('certutil', ['-L', '-d', QDEVICE_DB, '-n', NICK.ca, '-a'], { allowFail: true, timeoutMs: 30_000 });
  return r.code === 0 ? pemBody(r.stdout) : null;
}

export interface QdeviceCtx { plan: AgentPlan; self: string; key: string; members: Members }

async function fetchCa(o: QdeviceCtx, q: string): Promise<{ text: Buffer } | { why: string }> {
  const m = o.members.get(q);
  if (!m) return { why: `${q} (quorum device) not reachable` };
  let r;
  try { r = await call<QnetdCa>(o.key, o.self, m.address, m.port, 'qnetd-ca', null, 10_000); } catch (e) { return { why: `${q}: ${(e as Error).message}` }; }
  if (!r.data.ca) return { why: `${q}: ${r.data.notReady ?? 'no CA'}` };
  return { text: Buffer.from(r.data.ca, 'base64') };
}

/**
 * Makes this member's qdevice database when it is missing or incomplete, or when `recheckCa` and
 * the qnetd node now has another CA (a replaced or reinstalled arbiter). Returns why it waits.
 */
export async function ensureQdeviceCerts(o: QdeviceCtx, recheckCa = false): Promise<{ ready: boolean; why?: string }> {
  const q = qnetdNode(o.plan);
  const ready = await qdeviceDbReady();
  if (!q) return ready ? { ready } : { ready, why: `certificates for the quorum device ${o.plan.ha?.qdevice?.host} are imported by hand (corosync-qdevice-net-certutil, see the README)` };
  if (ready && !recheckCa) return { ready };
  const ca = await fetchCa(o, q);
  if ('why' in ca) return { ready, why: ca.why };
  if (ready) {
    if ((await localCa()) === pemBody(ca.text.toString('utf8'))) return { ready };
    log.warn(`ha: ${q} has a new quorum device CA: making this node's qdevice certificate again`);
    await stopQdevice();
  }
  const cluster = o.plan.cluster.name;
  const dir = await mkdtemp(join(tmpdir(), 'pc-qdevice-'));
  try {
    await rm(QDEVICE_DB, { recursive: true, force: true });
    const caFile = join(dir, 'qnetd-cacert.crt');
    await writeFile(caFile, ca.text, { mode: 0o644 });
    await run(CERTUTIL, ['-i', '-c', caFile], { timeoutMs: 60_000 });
    await run(CERTUTIL, ['-r', '-n', cluster], { timeoutMs: 60_000 });
    const csr = await readFile(join(QDEVICE_DB, 'qdevice-net-node.crq'));
    const m = o.members.get(q);
    if (!m) return { ready: false, why: `${q} (quorum device) not reachable` };
    const signed = await call<{ crt: string }>(o.key, o.self, m.address, m.port, 'qnetd-sign', { csr: csr.toString('base64') }, 60_000);
    const crtFile = join(dir, `cluster-${cluster}.crt`);
    await writeFile(crtFile, Buffer.from(signed.data.crt, 'base64'), { mode: 0o644 });
    await run(CERTUTIL, ['-M', '-c', crtFile], { timeoutMs: 60_000 });
    // -M also exports certificate + key as a pk12 for copying to other members: each member has
    // its own certificate here, so that copy of the private key is removed
    await rm(join(QDEVICE_DB, 'qdevice-net-node.p12'), { force: true });
    await rm(join(QDEVICE_DB, 'qdevice-net-node.crq'), { force: true });
    await run('sync', [], { allowFail: true });
    log.info(`ha: quorum device certificate of ${o.self} signed by the corosync-qnetd CA on ${q}`);
    return { ready: await qdeviceDbReady() };
  } finally { await rm(dir, { recursive: true, force: true }); }
}

export async function startQdevice(): Promise<void> {
  if (await running(DAEMONS.qdevice)) return;
  if (!underSystemd()) {
    await mkdir('/run/corosync-qdevice', { recursive: true }); // the unit's RuntimeDirectory
    // qdevice exits when corosync does not answer yet (systemd orders them by the unit's After=)
    await waitFor('corosync to answer', 30_000, async () => (await run('corosync-cmapctl', ['-g', 'totem.cluster_name'], { allowFail: true, timeoutMs: 5000 })).code === 0);
  }
  await startDaemon(DAEMONS.qdevice);
  log.info('ha: corosync-qdevice started');
}

async function stopQdevice(): Promise<void> {
  if (underSystemd()) { await run('systemctl', ['stop', DAEMONS.qdevice.unit], { allowFail: true }); return; }
  for (const pid of await pidsOf(DAEMONS.qdevice.comm)) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
}

/** `corosync-qdevice-tool -s`: connected to qnetd or not, as this member sees it. */
export async function qdeviceState(): Promise<QdeviceState & { error?: string }> {
  const r = await run('corosync-qdevice-tool', ['-s'], { allowFail: true, timeoutMs: 10_000 });
  if (r.code !== 0) return { error: (r.stderr || r.stdout).trim().split('\n').slice(-1)[0] || `exit ${r.code}` };
  return parseQdeviceTool(r.stdout);
}
