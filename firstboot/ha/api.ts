// The HA operations of the agent's authenticated channel: secrets for joining nodes (sealed),
// HA status (quorum, resources, where each VM runs) and VM / node requests from the CLI.
import type { AgentPlan } from '../../core/plan-types.js';
import type { Handler } from '../../core/channel.js';
import { run } from '../exec.js';
import { handleNode, handleVm, vmList } from '../virt/vm.js';
import type { NodeRequest, VmInfo, VmRequest } from '../../core/vm-types.js';
import { crmMon } from './pcmk.js';
import { handleBackup } from '../backup/api.js';
import type { BackupRequest } from '../../core/backup.js';
import { serveSecrets } from './secrets.js';
import { vmSize } from '../virt/vm-size.js';
import { haReadiness } from '../steps/ha.js';
import { DAEMONS, running } from './procs.js';
import { qdeviceState } from './qdevice.js';
import { qnetdClients, serveQnetdCa, serveQnetdSign } from './qnetd.js';
import { qnetdNode } from './quorum-device.js';
import type { HaStatus } from '../../core/ha-status.js';


export function parseQuorumtool(out: string): HaStatus['corosync'] {
  const num = (k: string) => { const m = new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(out); return m ? Number(m[1]) : undefined; };
  // with a quorum device every member line has a Qdevice column (A,V,NMW) and the device a line of its own
  const rows = [...out.matchAll(/^\s+(\d+)\s+(\d+)\s+(?:[A-Z,]+\s+)?(\S+)(?:\s+\(local\))?\s*$/gm)];
  const members = rows.filter((m) => m[3] !== 'Qdevice').map((m) => m[3]);
  const device = rows.find((m) => m[3] === 'Qdevice');
  return {
    running: true, quorate: /^Quorate:\s+Yes/m.test(out), expectedVotes: num('Expected votes'), totalVotes: num('Total votes'), members,
    ...(device ? { qdevice: { votes: Number(device[2]) } } : {}),
  };
}

export async function haStatus(node: string, plan: AgentPlan): Promise<HaStatus> {
  if (qnetdNode(plan) === node) {
    const up = await running(DAEMONS.qnetd);
    const c = up ? await qnetdClients() : { error: 'not running' };
    return { node, enabled: Boolean(plan.ha?.enabled), corosync: { running: false, error: 'no cluster member: this node runs the quorum device' }, qnetd: { running: up, ...c }, pacemaker: { ok: false, error: 'no cluster member' }, vms: [] };
  }
  const q = await run('corosync-quorumtool', ['-s'], { allowFail: true, timeoutMs: 10_000 });
  const corosync = /Quorate:/.test(q.stdout) ? parseQuorumtool(q.stdout) : { running: false, error: (q.stderr || q.stdout).trim().split('\n').slice(-1)[0] };
  if (plan.ha?.qdevice && corosync.running) {
    const st = await qdeviceState();
    corosync.qdevice = { votes: corosync.qdevice?.votes ?? 0, ...(st.state ? { state: st.state } : { state: `corosync-qdevice: ${st.error ?? '?'}` }), ...(st.host ? { host: st.host } : {}) };
  }
  let pacemaker: HaStatus['pacemaker'];
  let vms: VmInfo[] = [];
  try { const s = await crmMon(); pacemaker = { ok: true, ...s }; vms = vmList(s); } catch (e) { pacemaker = { ok: false, error: (e as Error).message }; }
  vms = await Promise.all(vms.map(async (v) => ({ ...v, ...(await vmSize(plan, v.name)) })));
  return { node, enabled: Boolean(plan.ha?.enabled), corosync, pacemaker, vms };
}

export function haHandlers(o: { key: string; node: () => string; plan: () => AgentPlan; stateDir: string }): Record<string, Handler> {
  return {
    // only on the node running corosync-qnetd, only for the cluster members (the channel has checked the join proof)
    'qnetd-ca': async (from) => serveQnetdCa(o.plan(), o.node(), from),
    'qnetd-sign': async (from, body) => serveQnetdSign(o.plan(), o.node(), from, body),
    'ha-ready': async () => haReadiness(),
    'ha-secrets': async () => serveSecrets(o.key, o.stateDir),
    'ha-status': async () => haStatus(o.node(), o.plan()),
    vm: async (_from, body) => handleVm(o.plan(), body as VmRequest),
    node: async (_from, body) => handleNode(body as NodeRequest),
    backup: async (_from, body) => handleBackup({ plan: o.plan(), self: o.node(), joinKey: o.key, agentStateDir: o.stateDir }, body as BackupRequest),
  };
}
