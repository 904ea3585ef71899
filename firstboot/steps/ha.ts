// Cluster manager: corosync (knet, crypto on, authkey from the leader through the channel,
// membership from the admitted nodes, a second link when configured) and Pacemaker with
// fencing from cluster.yaml and properties suited to VMs. Scale-out adds the new node with a
// configuration reload (`corosync-cfgtool -R`), which restarts nothing. With a quorum device on
// a node of the plan (ha.qdevice), that node runs corosync-qnetd instead of joining corosync, and
// the members get their qdevice certificates from it through the channel and run corosync-qdevice.
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile } from 'node:fs/promises';
import { run } from '../exec.js';
import { readText, writeDurable } from '../fsx.js';
import { log } from '../log.js';
import { clusterProperties, fenceDevices, PROPS_ID, propertiesXml, rscDefaultsXml } from '../ha/cib.js';
import { COROSYNC_AUTHKEY, COROSYNC_CONF, confMembers, corosyncConf } from '../ha/corosync-conf.js';
import { cibQuery, cibUpsert, crmMon } from '../ha/pcmk.js';
import type { PcmkState } from '../../core/ha-status.js';
import { DAEMONS, running, startDaemon, underSystemd } from '../ha/procs.js';
import { ensureSecrets, loadSecrets } from '../ha/secrets.js';
import { ensureBmcFiles } from '../ha/bmc.js';
import { call } from '../../core/channel.js';
import { clusterNodes, pacemakerLeader, qnetdNode } from '../ha/quorum-device.js';
import { ensureQnetdDb, qnetdClients, qnetdDbReady, startQnetd } from '../ha/qnetd.js';
import { ensureQdeviceCerts, qdeviceDbReady, qdeviceState, startQdevice } from '../ha/qdevice.js';
import { loadAgentConfig } from '../../core/agent-config.js';
import { NeedsAttention, type Ctx, type Check, type Step } from './step.js';

const CIB_FILE = '/var/lib/pacemaker/cib/cib.xml';

/** /etc/default/sbd for diskless SBD: the watchdog resets the node when it loses quorum or hangs. */
export function sbdDefaults(f: { watchdog: string; watchdogTimeoutS: number }): string {
  return `# Written by personal-cloud-agent\nSBD_WATCHDOG_DEV=${f.watchdog}\nSBD_WATCHDOG_TIMEOUT=${f.watchdogTimeoutS}\nSBD_PACEMAKER=yes\nSBD_STARTMODE=always\nSBD_DELAY_START=no\n`;
}

/** Diskless SBD: the node's hardware watchdog resets it when it loses quorum or hangs. */
async function enableSbd(f: { watchdog: string; watchdogTimeoutS: number }): Promise<void> {
  if (process.env.PERSONAL_CLOUD_SANDBOX === '1' || !underSystemd()) throw new NeedsAttention('SBD arms the hardware watchdog: refused outside a real node (test harness)');
  if (!existsSync(f.watchdog)) throw new NeedsAttention(`SBD fencing needs a hardware watchdog at ${f.watchdog}: load the board's watchdog driver, or use ipmi fencing in cluster.yaml`);
  const text = sbdDefaults(f);
  if ((await readText('/etc/default/sbd')) !== text) await writeDurable('/etc/default/sbd', text, 0o644);
  await run('systemctl', ['enable', 'sbd']); // started by corosync's unit dependency
}

/** Nodes of corosync.conf: those already in it (a dead node stays: quorum counts it), us, and admitted members. */
async function members(ctx: Ctx): Promise<string[]> {
  const cur = confMembers((await readText(COROSYNC_CONF)) ?? '');
  const live = ctx.members.live().map((m) => m.name);
  return clusterNodes(ctx.plan).map((n) => n.name).filter((n) => n === ctx.self.name || cur.includes(n) || live.includes(n));
}

/** Who writes the Pacemaker configuration (the agents' leader, unless that is the quorum device node). */
const pcmkLeader = (ctx: Ctx) => pacemakerLeader(ctx.plan, ctx.leader, ctx.self.name, ctx.members.live().map((m) => m.name));

const qdeviceCtx = async (ctx: Ctx) => ({ plan: ctx.plan, self: ctx.self.name, key: (await loadAgentConfig(ctx.env.configDir)).key, members: ctx.members });

/** The node running corosync-qnetd: cluster secrets (it may be the agents' leader, which makes them), qnetd's CA, the daemon. */
async function qnetdCheck(ctx: Ctx): Promise<Check> {
  if (!(await loadSecrets(ctx.env.stateDir))) return { ok: false, detail: 'cluster secrets to obtain' };
  if (!(await qnetdDbReady())) return { ok: false, detail: 'corosync-qnetd certificate database to initialise' };
  if (!(await running(DAEMONS.qnetd))) return { ok: false, detail: 'corosync-qnetd not running' };
  const c = await qnetdClients();
  const votes = 'error' in c ? c.error : c.clients.length ? c.clients.map((x) => `node ${x.nodeId} ${x.vote ?? '?'}`).join(', ') : 'no member connected yet';
  return { ok: true, detail: `quorum device (corosync-qnetd) for ${clusterNodes(ctx.plan).map((n) => n.name).join(' ')}: ${votes}` };
}

/** A member's corosync-qdevice: certificate from the qnetd node, daemon running, connected while qnetd answers. */
async function qdeviceCheck(ctx: Ctx): Promise<Check | null> {
  const q = qnetdNode(ctx.plan);
  if (!(await qdeviceDbReady())) {
    return q ? { ok: false, detail: `quorum device certificate to obtain from ${q}` }
      : { ok: false, waiting: true, detail: `quorum device ${ctx.plan.ha!.qdevice!.host}: import its certificates by hand (corosync-qdevice-net-certutil, see the README)` };
  }
  if (!(await running(DAEMONS.qdevice))) return { ok: false, detail: 'corosync-qdevice not running' };
  if (q && ctx.members.get(q)) {
    const st = await qdeviceState();
    if (!/^Connected/.test(st.state ?? '')) return { ok: false, waiting: true, detail: `corosync-qdevice not connected to ${q} (${st.state ?? st.error ?? '?'})` };
  }
  return null;
}

/** What a peer asks before the first start: configured (secrets, corosync.conf) and whether corosync already runs. */
export async function haReadiness(): Promise<{ configured: boolean; running: boolean }> {
  const conf = await readText(COROSYNC_CONF);
  const key = await readFile(COROSYNC_AUTHKEY).catch(() => null);
  return { configured: Boolean(conf && key), running: await running(DAEMONS.corosync) };
}

/**
 * Forming: every node starts corosync and Pacemaker at about the same time (once all are
 * configured), else the first DC fences the stragglers it has not seen (startup fencing). A
 * node that finds the cluster already running (reboot, scale-out) just joins it.
 */
async function mayStart(ctx: Ctx, want: string[]): Promise<{ ok: boolean; why?: string }> {
  const { key } = await loadAgentConfig(ctx.env.configDir);
  const notReady: string[] = [];
  for (const name of want.filter((n) => n !== ctx.self.name)) {
    const m = ctx.members.get(name);
    if (!m) { notReady.push(`${name} (not reachable)`); continue; }
    try {
      const r = await call<{ configured: boolean; running: boolean }>(key, ctx.self.name, m.address, m.port, 'ha-ready', null, 5000);
      if (r.data.running) return { ok: true };
      if (!r.data.configured) notReady.push(name);
    } catch (e) { notReady.push(`${name} (${(e as Error).message})`); }
  }
  return notReady.length ? { ok: false, why: `waiting for ${notReady.join(', ')} to be configured before forming the cluster` } : { ok: true };
}

const tokenMs = () => Number(process.env.PERSONAL_CLOUD_COROSYNC_TOKEN_MS) || undefined;

function bootstrapCib(ctx: Ctx): string {
  const devs = fenceDevices(ctx.plan);
  return `<cib validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config>${propertiesXml(clusterProperties(ctx.plan))}</crm_config>`
    + `<nodes/><resources>${devs.map((d) => d.xml).join('')}</resources><constraints>${devs.flatMap((d) => d.constraints).join('')}</constraints>${rscDefaultsXml()}</configuration><status/></cib>\n`;
}

async function configApplied(ctx: Ctx): Promise<string | null> {
  const cfg = await cibQuery('configuration');
  for (const [k, v] of Object.entries(clusterProperties(ctx.plan))) {
    if (!new RegExp(`name="${k}" value="${v}"`).test(cfg)) return `property ${k}=${v} not set`;
  }
  for (const d of fenceDevices(ctx.plan)) {
    if (!cfg.includes(`id="${d.id}"`)) return `fence device ${d.id} missing`;
    if (!cfg.includes(clusterNodes(ctx.plan).map((n) => n.name).join(' ')) && d.xml.includes('pcmk_host_list')) return `fence device ${d.id} host list outdated`;
  }
  return null;
}

async function pacemakerState(): Promise<PcmkState | null> {
  try { return await crmMon(); } catch { return null; }
}

export const haStep: Step = {
  name: 'ha',
  async check(ctx): Promise<Check> {
    const ha = ctx.plan.ha;
    if (!ha?.enabled) return { ok: true, detail: 'HA VM stack disabled in cluster.yaml' };
    if (qnetdNode(ctx.plan) === ctx.self.name) return qnetdCheck(ctx);
    if (!(await loadSecrets(ctx.env.stateDir))) return { ok: false, detail: 'cluster secrets to obtain' };
    if (!(await ensureBmcFiles(ctx.plan, (await loadAgentConfig(ctx.env.configDir)).key, false))) return { ok: false, detail: 'BMC password files (fence_ipmilan) to write' };
    const want = await members(ctx);
    const conf = await readText(COROSYNC_CONF);
    if (conf !== corosyncConf(ctx.plan, want, { tokenMs: tokenMs() })) return { ok: false, detail: 'corosync.conf to write' };
    if (!(await running(DAEMONS.corosync))) {
      const missing = clusterNodes(ctx.plan).map((n) => n.name).filter((n) => !want.includes(n));
      return missing.length ? { ok: false, waiting: true, detail: `waiting for ${missing.join(', ')} to be admitted before forming the cluster` } : { ok: false, detail: 'corosync not running' };
    }
    const qd = ha.qdevice ? await qdeviceCheck(ctx) : null;
    if (qd) return qd;
    if (!(await running(DAEMONS.pacemaker))) return { ok: false, detail: 'pacemaker not running' };
    const st = await pacemakerState();
    if (!st?.dc) return { ok: false, waiting: true, detail: 'waiting for a Pacemaker DC' };
    if (!st.quorate) return { ok: false, waiting: true, detail: 'cluster not quorate' };
    const bad = await configApplied(ctx);
    const leader = pcmkLeader(ctx);
    if (bad) return leader === ctx.self.name ? { ok: false, detail: bad } : { ok: false, waiting: true, detail: `waiting for ${leader ?? 'the leader'}: ${bad}` };
    const online = st.nodes.filter((n) => n.online).map((n) => n.name);
    return { ok: true, detail: `quorate, DC ${st.dc}, online: ${online.join(' ')}, fencing ${ha.fencing.kind}${ha.qdevice ? `, quorum device ${qnetdNode(ctx.plan) ?? ha.qdevice.host}` : ''}` };
  },

  async apply(ctx) {
    const s = await ensureSecrets(ctx);
    if (qnetdNode(ctx.plan) === ctx.self.name) {
      await ensureQnetdDb();
      await startQnetd();
      return;
    }
    if (!s) return false;
    const key = Buffer.from(s.authkey, 'base64');
    const cur = await readFile(COROSYNC_AUTHKEY).catch(() => null);
    if (!cur || !cur.equals(key)) await writeDurable(COROSYNC_AUTHKEY, key, 0o400);
    await ensureBmcFiles(ctx.plan, (await loadAgentConfig(ctx.env.configDir)).key, true);

    // the quorum device's certificate before corosync starts, so its vote is there from the start;
    // an unreachable qnetd node does not hold the cluster back (two members are quorate alone)
    let qdeviceReady = false;
    if (ctx.plan.ha!.qdevice) {
      const qd = await ensureQdeviceCerts(await qdeviceCtx(ctx), (await running(DAEMONS.qdevice)) && !/^Connected/.test((await qdeviceState()).state ?? ''));
      qdeviceReady = qd.ready;
      if (qd.why) log.debug(`ha: quorum device: ${qd.why}`);
    }

    const want = await members(ctx);
    const text = corosyncConf(ctx.plan, want, { tokenMs: tokenMs() });
    const corosyncUp = await running(DAEMONS.corosync);
    if ((await readText(COROSYNC_CONF)) !== text) {
      await writeDurable(COROSYNC_CONF, text, 0o644);
      if (corosyncUp) {
        // scale-out: every instance re-reads corosync.conf; nothing restarts, VMs keep running
        await run('corosync-cfgtool', ['-R'], { allowFail: true });
        log.info(`ha: corosync membership now ${want.join(', ')} (reloaded)`);
      }
    }
    if (!corosyncUp) {
      if (clusterNodes(ctx.plan).some((n) => !want.includes(n.name))) return false; // form with every planned node known
      const may = await mayStart(ctx, want);
      if (!may.ok) { log.debug(`ha: ${may.why}`); return false; }
      if (ctx.plan.ha!.fencing.kind === 'sbd') await enableSbd(ctx.plan.ha!.fencing);
      if ((await readText(CIB_FILE)) === null) {
        // the cluster's first CIB already holds fencing: there is never a moment without it
        await mkdir('/var/lib/pacemaker/cib', { recursive: true });
        await writeDurable(CIB_FILE, bootstrapCib(ctx), 0o600);
        await run('chown', ['hacluster:haclient', CIB_FILE, '/var/lib/pacemaker/cib'], { allowFail: true });
      }
      await startDaemon(DAEMONS.corosync);
      log.info(`ha: corosync started (${want.join(', ')})`);
    }
    if (qdeviceReady) await startQdevice();
    if (!(await running(DAEMONS.pacemaker))) {
      await mkdir('/var/log/pacemaker', { recursive: true });
      await chown('/var/log/pacemaker', 0, 0).catch(() => undefined);
      await run('chown', ['hacluster:haclient', '/var/log/pacemaker'], { allowFail: true });
      await startDaemon(DAEMONS.pacemaker);
      log.info('ha: pacemaker started');
      return;
    }
    if (pcmkLeader(ctx) !== ctx.self.name) return false;
    const st = await pacemakerState();
    if (!st?.dc) return false;
    if (!(await configApplied(ctx))) return false;
    await cibUpsert('crm_config', propertiesXml(clusterProperties(ctx.plan)));
    const cfg = await cibQuery('configuration');
    if (!cfg.includes('id="rsc-defaults-options"')) {
      // a CIB pacemaker made itself has no rsc_defaults section, and cibadmin cannot create into a missing one
      if (cfg.includes('<rsc_defaults')) await run('cibadmin', ['--create', '-o', 'rsc_defaults', '--xml-text', rscDefaultsXml().replace(/^<rsc_defaults>|<\/rsc_defaults>$/g, '')]);
      else await run('cibadmin', ['--create', '-o', 'configuration', '--xml-text', rscDefaultsXml()]);
    }
    for (const d of fenceDevices(ctx.plan)) {
      await cibUpsert('resources', d.xml);
      for (const c of d.constraints) await cibUpsert('constraints', c);
    }
    log.info(`ha: Pacemaker configured (fencing ${ctx.plan.ha!.fencing.kind}, ${PROPS_ID})`);
  },
};
