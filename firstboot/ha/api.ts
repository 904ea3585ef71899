// The HA operations of the agent's authenticated channel: secrets for joining nodes (sealed),
// HA status (quorum, resources, where each VM runs) and VM / node requests from the CLI.
import type { Plan } from '../../src/plan/types.js';
import type { Handler } from '../channel.js';
import { run } from '../exec.js';
import { handleNode, handleVm, vmList, type NodeRequest, type VmInfo, type VmRequest } from '../virt/vm.js';
import { crmMon, type PcmkState } from './pcmk.js';
import { serveSecrets } from './secrets.js';
import { haReadiness } from '../steps/ha.js';

export interface HaStatus {
  node: string;
  enabled: boolean;
  corosync: { running: boolean; quorate?: boolean; expectedVotes?: number; totalVotes?: number; members?: string[]; error?: string };
  pacemaker: (PcmkState & { ok: true }) | { ok: false; error: string };
  vms: VmInfo[];
}

export function parseQuorumtool(out: string): HaStatus['corosync'] {
  const num = (k: string) => { const m = new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(out); return m ? Number(m[1]) : undefined; };
  const members = [...out.matchAll(/^\s+\d+\s+\d+\s+(?:[A-Z]+\s+)?(\S+)(?:\s+\(local\))?\s*$/gm)].map((m) => m[1]);
  return { running: true, quorate: /^Quorate:\s+Yes/m.test(out), expectedVotes: num('Expected votes'), totalVotes: num('Total votes'), members };
}

export async function haStatus(node: string, plan: Plan): Promise<HaStatus> {
  const q = await run('corosync-quorumtool', ['-s'], { allowFail: true, timeoutMs: 10_000 });
  const corosync = /Quorate:/.test(q.stdout) ? parseQuorumtool(q.stdout) : { running: false, error: (q.stderr || q.stdout).trim().split('\n').slice(-1)[0] };
  let pacemaker: HaStatus['pacemaker'];
  let vms: VmInfo[] = [];
  try { const s = await crmMon(); pacemaker = { ok: true, ...s }; vms = vmList(s); } catch (e) { pacemaker = { ok: false, error: (e as Error).message }; }
  return { node, enabled: Boolean(plan.ha?.enabled), corosync, pacemaker, vms };
}

export function haHandlers(o: { key: string; node: () => string; plan: () => Plan; stateDir: string }): Record<string, Handler> {
  return {
    'ha-ready': async () => haReadiness(),
    'ha-secrets': async () => serveSecrets(o.key, o.stateDir),
    'ha-status': async () => haStatus(o.node(), o.plan()),
    vm: async (_from, body) => handleVm(o.plan(), body as VmRequest),
    node: async (_from, body) => handleNode(body as NodeRequest),
  };
}
