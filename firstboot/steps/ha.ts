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
import { done, NeedsAttention, todo, waiting, type Ctx, type Step } from './step.js';
import { retiredSelf } from '../removal-hooks.js';

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
  const notReady: string[] = [];
  for (const name of want.filter((n) => n !== ctx.self.name)) {
    const m = ctx.members.get(name);
    if (!m) { notReady.push(`${name} (not reachable)`); continue; }
    try {
      const r = await call<{ configured: boolean; running: boolean }>(ctx.key, ctx.self.name, m.address, m.port, 'ha-ready', null, 5000);
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

export interface HaSeen {
  /** HA is off in cluster.yaml. */
  off?: true;
  /** This node runs corosync-qnetd (the quorum device) instead of being a member. */
  qnetd?: { db: boolean; running: boolean; votes: string };
  secrets: boolean;
  authkey: boolean;
  bmc: boolean;
  /** corosync's members: those already in corosync.conf, us, and admitted members. */
  want: string[];
  conf: string | null;
  corosync: boolean;
  qdevice?: { db: boolean; running: boolean; state?: string; error?: string };
  pacemaker: boolean;
  pcmk: PcmkState | null;
  /** What the Pacemaker configuration lacks (asked only with a DC). */
  configBad: string | null;
  /** Whether the other members are ready for the cluster's first start (asked only when it is due). */
  mayStart?: { ok: boolean; why?: string };
  pcmkLeader: string | null;
}

export type HaAction =
  | { do: 'secrets' | 'authkey' | 'bmc' | 'qnetd' | 'corosync' | 'qdevice' | 'pacemaker' | 'configure' }
  | { do: 'qdevice-certs'; recheck: boolean }
  | { do: 'conf'; text: string; reload: boolean };

const confText = (ctx: Ctx, want: string[]) => corosyncConf(ctx.plan, want, { tokenMs: tokenMs() });
const connected = (q: HaSeen['qdevice']) => /^Connected/.test(q?.state ?? '');

export const haStep: Step<HaSeen, HaAction> = {
  name: 'ha',
  loop: 'virt',
  async observe(ctx) {
    const blank: HaSeen = { secrets: false, authkey: false, bmc: false, want: [], conf: null, corosync: false, pacemaker: false, pcmk: null, configBad: null, pcmkLeader: null };
    if (!ctx.plan.ha?.enabled) return { ...blank, off: true };
    const s = await loadSecrets(ctx.env.stateDir);
    if (qnetdNode(ctx.plan) === ctx.self.name) {
      const up = await running(DAEMONS.qnetd);
      let votes = '';
      if (up) {
        const c = await qnetdClients();
        votes = 'error' in c ? c.error : c.clients.length ? c.clients.map((x) => `node ${x.nodeId} ${x.vote ?? '?'}`).join(', ') : 'no member connected yet';
      }
      return { ...blank, secrets: Boolean(s), qnetd: { db: await qnetdDbReady(), running: up, votes } };
    }
    if (!s) return blank;
    const cur = await readFile(COROSYNC_AUTHKEY).catch(() => null);
    const want = await members(ctx);
    const corosync = await running(DAEMONS.corosync);
    const pacemaker = await running(DAEMONS.pacemaker);
    const pcmk = corosync && pacemaker ? await pacemakerState() : null;
    const seen: HaSeen = {
      ...blank, secrets: true,
      authkey: Boolean(cur?.equals(Buffer.from(s.authkey, 'base64'))),
      bmc: await ensureBmcFiles(ctx.plan, ctx.key, false),
      want, conf: await readText(COROSYNC_CONF), corosync, pacemaker, pcmk,
      configBad: pcmk?.dc ? await configApplied(ctx) : null,
      pcmkLeader: pcmkLeader(ctx),
    };
    if (ctx.plan.ha.qdevice) {
      const st = await qdeviceState();
      seen.qdevice = { db: await qdeviceDbReady(), running: await running(DAEMONS.qdevice), ...(st.state ? { state: st.state } : {}), ...(st.error ? { error: st.error } : {}) };
    }
    const everyone = clusterNodes(ctx.plan).every((n) => want.includes(n.name));
    if (!corosync && everyone && seen.conf === confText(ctx, want)) seen.mayStart = await mayStart(ctx, want);
    return seen;
  },

  plan(ctx, seen) {
    const ha = ctx.plan.ha;
    if (seen.off || !ha) return done('HA VM stack disabled in cluster.yaml');
    // a node being removed: its Pacemaker and corosync are stopped by the removal, never restarted
    const retired = retiredSelf(ctx);
    if (retired) return done(retired);
    if (seen.qnetd) {
      const actions: HaAction[] = [...(seen.secrets ? [] : [{ do: 'secrets' as const }]), ...(seen.qnetd.db && seen.qnetd.running ? [] : [{ do: 'qnetd' as const }])];
      if (actions.length) return todo(actions, !seen.secrets ? 'cluster secrets to obtain' : !seen.qnetd.db ? 'corosync-qnetd certificate database to initialise' : 'corosync-qnetd not running');
      return done(`quorum device (corosync-qnetd) for ${clusterNodes(ctx.plan).map((n) => n.name).join(' ')}: ${seen.qnetd.votes}`);
    }
    if (!seen.secrets) return todo([{ do: 'secrets' }], 'cluster secrets to obtain');
    const actions: HaAction[] = [];
    const notes: string[] = [];
    let wait: string | null = null;
    if (!seen.authkey) actions.push({ do: 'authkey' });
    if (!seen.bmc) { actions.push({ do: 'bmc' }); notes.push('BMC password files (fence_ipmilan) to write'); }
    // the quorum device's certificate before corosync starts, so its vote is there from the start;
    // an unreachable qnetd node does not hold the cluster back (two members are quorate alone)
    const q = qnetdNode(ctx.plan);
    if (ha.qdevice && (q || seen.qdevice?.db)) {
      const recheck = Boolean(seen.qdevice?.running && !connected(seen.qdevice));
      if (q && (!seen.qdevice?.db || recheck)) actions.push({ do: 'qdevice-certs', recheck });
    }
    const text = confText(ctx, seen.want);
    if (seen.conf !== text) { actions.push({ do: 'conf', text, reload: seen.corosync }); notes.push('corosync.conf to write'); }
    let corosyncUp = seen.corosync;
    if (!seen.corosync) {
      const missing = clusterNodes(ctx.plan).map((n) => n.name).filter((n) => !seen.want.includes(n));
      if (missing.length) wait = `waiting for ${missing.join(', ')} to be admitted before forming the cluster`;
      else if (seen.mayStart && !seen.mayStart.ok) wait = seen.mayStart.why ?? 'waiting for the other members';
      else if (seen.mayStart?.ok) { actions.push({ do: 'corosync' }); corosyncUp = true; notes.push('corosync not running'); }
    }
    if (ha.qdevice && corosyncUp) {
      if (!seen.qdevice?.db) { if (!q) wait ??= `quorum device ${ha.qdevice.host}: import its certificates by hand (corosync-qdevice-net-certutil, see the README)`; else notes.push(`quorum device certificate to obtain from ${q}`); }
      // a re-made certificate (new qnetd CA) stops qdevice: the next pass starts it again
      if ((seen.qdevice?.db || actions.some((a) => a.do === 'qdevice-certs')) && !seen.qdevice?.running) { actions.push({ do: 'qdevice' }); notes.push('corosync-qdevice not running'); }
      else if (seen.qdevice?.running && q && ctx.members.get(q) && !connected(seen.qdevice)) wait ??= `corosync-qdevice not connected to ${q} (${seen.qdevice.state ?? seen.qdevice.error ?? '?'})`;
    }
    if (corosyncUp && !seen.pacemaker) { actions.push({ do: 'pacemaker' }); notes.push('pacemaker not running'); }
    if (seen.pacemaker && seen.corosync) {
      if (!seen.pcmk?.dc) wait ??= 'waiting for a Pacemaker DC';
      else if (!seen.pcmk.quorate) wait ??= 'cluster not quorate';
      else if (seen.configBad) {
        if (seen.pcmkLeader === ctx.self.name) { actions.push({ do: 'configure' }); notes.push(seen.configBad); }
        else wait ??= `waiting for ${seen.pcmkLeader ?? 'the leader'}: ${seen.configBad}`;
      }
    }
    // asking the quorum device whether its CA changed, while qdevice is not connected, is no progress of ours
    if (actions.length && actions.every((a) => a.do === 'qdevice-certs' && a.recheck)) return { actions, detail: wait ?? 'corosync-qdevice not connected', waiting: true };
    if (actions.length) return todo(actions, notes.join('; ') || wait || 'corosync authkey to write');
    if (wait) return waiting(wait);
    if (!seen.corosync) return waiting('corosync not running');
    const online = seen.pcmk!.nodes.filter((n) => n.online).map((n) => n.name);
    return done(`quorate, DC ${seen.pcmk!.dc}, online: ${online.join(' ')}, fencing ${ha.fencing.kind}${ha.qdevice ? `, quorum device ${qnetdNode(ctx.plan) ?? ha.qdevice.host}` : ''}`);
  },

  async apply(ctx, actions, seen) {
    for (const a of actions) {
      switch (a.do) {
        case 'secrets': await ensureSecrets(ctx); break;
        case 'qnetd': await ensureQnetdDb(); await startQnetd(); break;
        case 'authkey': {
          const s = await loadSecrets(ctx.env.stateDir);
          if (s) await writeDurable(COROSYNC_AUTHKEY, Buffer.from(s.authkey, 'base64'), 0o400);
          break;
        }
        case 'bmc': await ensureBmcFiles(ctx.plan, ctx.key, true); break;
        case 'qdevice-certs': {
          const qd = await ensureQdeviceCerts({ plan: ctx.plan, self: ctx.self.name, key: ctx.key, members: ctx.members }, a.recheck);
          if (qd.why) log.debug(`ha: quorum device: ${qd.why}`);
          break;
        }
        case 'conf':
          await writeDurable(COROSYNC_CONF, a.text, 0o644);
          if (a.reload) {
            // scale-out: every instance re-reads corosync.conf; nothing restarts, VMs keep running
            await run('corosync-cfgtool', ['-R'], { allowFail: true });
            log.info(`ha: corosync membership now ${seen.want.join(', ')} (reloaded)`);
          }
          break;
        case 'corosync':
          if (ctx.plan.ha!.fencing.kind === 'sbd') await enableSbd(ctx.plan.ha!.fencing);
          if ((await readText(CIB_FILE)) === null) {
            // the cluster's first CIB already holds fencing: there is never a moment without it
            await mkdir('/var/lib/pacemaker/cib', { recursive: true });
            await writeDurable(CIB_FILE, bootstrapCib(ctx), 0o600);
            await run('chown', ['hacluster:haclient', CIB_FILE, '/var/lib/pacemaker/cib'], { allowFail: true });
          }
          await startDaemon(DAEMONS.corosync);
          log.info(`ha: corosync started (${seen.want.join(', ')})`);
          break;
        case 'qdevice': if (await qdeviceDbReady()) await startQdevice(); break;
        case 'pacemaker':
          await mkdir('/var/log/pacemaker', { recursive: true });
          await chown('/var/log/pacemaker', 0, 0).catch(() => undefined);
          await run('chown', ['hacluster:haclient', '/var/log/pacemaker'], { allowFail: true });
          await startDaemon(DAEMONS.pacemaker);
          log.info('ha: pacemaker started');
          break;
        case 'configure': {
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
          break;
        }
      }
    }
  },
};
