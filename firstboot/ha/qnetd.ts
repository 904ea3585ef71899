// corosync-qnetd on the node ha.qdevice names: its NSS database (CA + server certificate, made
// by corosync-qnetd-certutil), the daemon, and two operations of the agent's authenticated
// channel for the members: 'qnetd-ca' (the CA certificate) and 'qnetd-sign' (signs a member's
// certificate request). Nothing goes over ssh; only agents proving the join key reach them.
import { existsSync } from 'node:fs';
import type { QnetdClient } from '../../core/ha-status.js';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentPlan } from '../../core/plan-types.js';
import { run } from '../exec.js';
import { log } from '../log.js';
import { DAEMONS, running, startDaemon, underSystemd } from './procs.js';
import { clusterNodes, NICK, parseQnetdTool, qnetdNode, QNETD_CA_FILE, QNETD_DB } from './quorum-device.js';

const certutilHas = async (db: string, nick: string) => (await run('certutil', ['-L', '-d', db, '-n', nick], { allowFail: true, timeoutMs: 30_000 })).code === 0;

/** Initialised when the CA was exported and the server certificate (certutil's last step) exists. */
export async function qnetdDbReady(): Promise<boolean> {
  return existsSync(QNETD_CA_FILE) && (await certutilHas(QNETD_DB, NICK.server));
}

/**
 * corosync-qnetd-certutil -i, as the package's postinst does it (Debian runs it at install; the
 * agent again when the database is missing or was cut short). A half-made database has signed
 * nothing (we sign only once it is complete), so it is removed and made again.
 */
export async function ensureQnetdDb(): Promise<void> {
  if (await qnetdDbReady()) return;
  if (existsSync(QNETD_DB)) {
    log.warn(`ha: ${QNETD_DB} is incomplete (no server certificate): making it again`);
    await rm(QNETD_DB, { recursive: true, force: true });
  }
  await run('corosync-qnetd-certutil', ['-i', '-G'], { timeoutMs: 120_000 });
  // the unit runs qnetd as coroqnetd: it reads the database through its group
  await run('chgrp', ['coroqnetd', QNETD_DB, `${QNETD_DB}/cert9.db`, `${QNETD_DB}/key4.db`], { allowFail: true });
  log.info('ha: corosync-qnetd certificate database initialised (CA and server certificate)');
}

export async function startQnetd(): Promise<void> {
  if (await running(DAEMONS.qnetd)) return;
  if (!underSystemd()) await mkdir('/run/corosync-qnetd', { recursive: true }); // the unit's RuntimeDirectory
  await startDaemon(DAEMONS.qnetd);
  log.info('ha: corosync-qnetd started (quorum device)');
}

/** The members connected to qnetd and their votes, or the reason there is no answer. */
export async function qnetdClients(): Promise<{ clients: QnetdClient[] } | { error: string }> {
  const r = await run('corosync-qnetd-tool', ['-l'], { allowFail: true, timeoutMs: 10_000 });
  if (r.code !== 0) return { error: (r.stderr || r.stdout).trim().split('\n').slice(-1)[0] || `exit ${r.code}` };
  return { clients: parseQnetdTool(r.stdout) };
}

/** One signing at a time: corosync-qnetd-certutil bumps a serial file and writes one fixed output path. */
let signing: Promise<unknown> = Promise.resolve();

function serialized<T>(f: () => Promise<T>): Promise<T> {
  const next = signing.then(f, f);
  signing = next.catch(() => undefined);
  return next;
}

function mustServe(plan: AgentPlan, self: string, from: string): void {
  if (qnetdNode(plan) !== self) throw new Error(`${self} runs no quorum device (ha.qdevice names ${plan.ha?.qdevice?.node ?? plan.ha?.qdevice?.host ?? 'none'})`);
  if (!clusterNodes(plan).some((n) => n.name === from)) throw new Error(`${from} is no cluster member of the quorum device`);
}

export interface QnetdCa { ca?: string /* base64 of qnetd-cacert.crt */; notReady?: string }

export async function serveQnetdCa(plan: AgentPlan, self: string, from: string): Promise<QnetdCa> {
  mustServe(plan, self, from);
  if (!(await qnetdDbReady())) return { notReady: 'the qnetd certificate database is not initialised yet' };
  return { ca: (await readFile(QNETD_CA_FILE)).toString('base64') };
}

/** The subject a member's request must carry: qnetd checks the certificate's CN against corosync's cluster_name. */
export function expectedSubject(plan: AgentPlan): RegExp {
  const esc = plan.cluster.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^subject\\s*=\\s*CN\\s*=\\s*${esc}\\s*$`, 'm');
}

export async function serveQnetdSign(plan: AgentPlan, self: string, from: string, body: unknown): Promise<{ crt: string }> {
  mustServe(plan, self, from);
  const csr = (body as { csr?: unknown } | null)?.csr;
  if (typeof csr !== 'string' || !/^[A-Za-z0-9+/=]+$/.test(csr) || csr.length > 16_384) throw new Error('qnetd-sign: expected { csr: base64 } (a DER certificate request)');
  if (!(await qnetdDbReady())) throw new Error('qnetd-sign: the qnetd certificate database is not initialised yet');
  const cluster = plan.cluster.name;
  const dir = await mkdtemp(join(tmpdir(), 'pc-qnetd-'));
  try {
    const req = join(dir, 'qdevice-net-node.crq');
    await writeFile(req, Buffer.from(csr, 'base64'), { mode: 0o600 });
    const subj = await run('openssl', ['req', '-inform', 'DER', '-in', req, '-noout', '-subject', '-nameopt', 'oneline'], { allowFail: true });
    if (subj.code !== 0 || !expectedSubject(plan).test(subj.stdout)) throw new Error(`qnetd-sign: the request of ${from} is not for CN=${cluster} (${subj.stdout.trim() || subj.stderr.trim()})`);
    const crt = await serialized(async () => {
      await run('corosync-qnetd-certutil', ['-s', '-c', req, '-n', cluster], { timeoutMs: 60_000 });
      return readFile(join(QNETD_DB, `cluster-${cluster}.crt`));
    });
    log.info(`ha: signed the quorum device certificate of ${from}`);
    return { crt: crt.toString('base64') };
  } finally { await rm(dir, { recursive: true, force: true }); }
}
