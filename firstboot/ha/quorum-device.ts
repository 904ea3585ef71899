// The quorum device of a 2-node cluster: which node runs corosync-qnetd (the one ha.qdevice
// names, typically the arbiter), which nodes are corosync members (all the others), and what
// corosync-qdevice-tool / corosync-qnetd-tool report. Pure: the daemons live in qnetd.ts and
// qdevice.ts.
import type { AgentNodePlan, AgentPlan } from '../../core/plan-types.js';
import type { QnetdClient } from '../../core/ha-status.js';

/** corosync-qnetd's NSS database: its CA, its server certificate, the certificates it signed. */
export const QNETD_DB = '/etc/corosync/qnetd/nssdb';
export const QNETD_CA_FILE = `${QNETD_DB}/qnetd-cacert.crt`;
/** corosync-qdevice's NSS database on a member: the qnetd CA and the member's own certificate. */
export const QDEVICE_DB = '/etc/corosync/qdevice/net/nssdb';
/** Nicknames corosync-qnetd-certutil / corosync-qdevice-net-certutil give the certificates. */
export const NICK = { ca: 'QNet CA', server: 'QNetd Cert', cluster: 'Cluster Cert' } as const;

/** The node of the plan that runs corosync-qnetd, if ha.qdevice names one. */
export function qnetdNode(plan: AgentPlan): string | undefined {
  return plan.ha?.enabled ? plan.ha.qdevice?.node : undefined;
}

/** Nodes that are corosync / Pacemaker members (and run VMs): every node but the quorum device's. */
export function clusterNodes(plan: AgentPlan): AgentNodePlan[] {
  const q = qnetdNode(plan);
  return plan.nodes.filter((n) => n.name !== q);
}

/**
 * Who configures Pacemaker: the agents' leader when it is a member, else (the quorum device node
 * leads the agents) the first member in plan order that is this node or answers.
 */
export function pacemakerLeader(plan: AgentPlan, leader: string | null, self: string, live: string[]): string | null {
  const members = clusterNodes(plan).map((n) => n.name);
  if (leader && members.includes(leader)) return leader;
  return members.find((n) => n === self || live.includes(n)) ?? null;
}

/** The PEM body of the first certificate in a text (corosync-qnetd-certutil's CA file starts with a pretty-print). */
export function pemBody(text: string): string | null {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(text);
  return m ? m[1].replace(/\s+/g, '') : null;
}

export interface QdeviceState { state?: string; host?: string; algorithm?: string }

/** `corosync-qdevice-tool -s`: the connection to qnetd as one member sees it. */
export function parseQdeviceTool(out: string): QdeviceState {
  const get = (k: string) => new RegExp(`^\\s*${k}:\\s+(.+?)\\s*$`, 'm').exec(out)?.[1];
  const s: QdeviceState = {};
  const state = get('State'); if (state) s.state = state;
  const host = get('QNetd host'); if (host) s.host = host;
  const algorithm = get('Algorithm'); if (algorithm) s.algorithm = algorithm;
  return s;
}

/** 'addr:port' as qnetd prints a client (IPv4 mapped into IPv6, or [IPv6]:port) → the address. */
function hostOf(a: string): string {
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)(?::\d+)?$/.exec(a);
  if (v4) return v4[1];
  return /^\[(.*)\](?::\d+)?$/.exec(a)?.[1] ?? a;
}

/** vote: the vote qnetd gives that member now (ACK, NACK, …). */

/** `corosync-qnetd-tool -l`: the members connected to qnetd, per cluster, with the vote each gets. */
export function parseQnetdTool(out: string): QnetdClient[] {
  const clients: QnetdClient[] = [];
  let cluster = '';
  let cur: QnetdClient | undefined;
  for (const line of out.split('\n')) {
    const c = /^Cluster "(.*)":\s*$/.exec(line);
    if (c) { cluster = c[1]; cur = undefined; continue; }
    const n = /^\s+Node ID (\d+):\s*$/.exec(line);
    if (n) { cur = { cluster, nodeId: Number(n[1]) }; clients.push(cur); continue; }
    if (!cur) continue;
    const a = /^\s+Client address:\s+(\S+)/.exec(line);
    if (a) cur.address = hostOf(a[1]);
    // "Vote: No change (ACK)": the last vote message, then (in parentheses) the vote in force
    const v = /^\s+Vote:\s+(.+?)\s*$/.exec(line);
    if (v) cur.vote = /\(([^()]*)\)$/.exec(v[1])?.[1] ?? v[1];
  }
  return clients;
}
