// corosync.conf from the plan and the admitted members: knet with crypto on, one link per
// configured network, votequorum (+ a quorum device for 2-node clusters).
import type { AgentNodePlan, AgentPlan } from '../../core/plan-types.js';

export const COROSYNC_CONF = '/etc/corosync/corosync.conf';
export const COROSYNC_AUTHKEY = '/etc/corosync/authkey';

export interface CorosyncOptions {
  /** Totem token timeout in ms: how long silence lasts before a node is declared lost. */
  tokenMs?: number;
}

/*
 * How fast a lost node is noticed. corosync declares a member lost after token + consensus,
 * token = token + (members − 2) × token_coefficient and consensus = 1.2 × token. With corosync's
 * 3000 ms and the default coefficient 650 that is 8.0 s at 3 nodes (make bench-ha measured
 * 7.8 s, most of a 16 s failover) and 22 s at 9. 1000 ms with a coefficient of 250 gives 2.7 s
 * at 3 nodes, 4.4 s at 5 and 6.1 s at 9: the token goes round a LAN in well under 10 ms, the
 * rest is margin for a node that does not answer at once. Measured: noticed after 2.8 s, the
 * killed node's VM running on a survivor after 9.3 s (was 16.0 s). corosync runs at real-time priority
 * with its memory locked, so a node busy on every CPU still passes the token in time
 * (test/ha-failover.test.ts: 60 s of busy loops on a node, no membership change, no fence).
 */
export const TOKEN_MS = 1000;
export const TOKEN_COEFFICIENT_MS = 250;

/** When a member that went silent is declared lost (ms), per corosync.conf(5). */
export function lossDetectionMs(members: number, tokenMs = TOKEN_MS): number {
  const token = tokenMs + Math.max(0, members - 2) * TOKEN_COEFFICIENT_MS;
  return Math.round(token * 2.2);
}

function ring0(n: AgentNodePlan): string {
  if (n.network.dhcp) return n.fqdn; // resolved through /etc/hosts (the hosts step)
  return n.network.address;
}

/** Members in nodeid order; nodes not admitted yet are left out (scale-out adds them with a reload). */
export function corosyncConf(plan: AgentPlan, members: string[], o: CorosyncOptions = {}): string {
  const ha = plan.ha!;
  const nodes = plan.nodes.filter((n) => members.includes(n.name)).sort((a, b) => (a.nodeId ?? 0) - (b.nodeId ?? 0));
  const links = ha.links === 2 && nodes.every((n) => n.ring1Address) ? 2 : 1;
  const lines = [
    '# Written by personal-cloud-agent from cluster.json: edits are overwritten.',
    'totem {',
    '  version: 2',
    `  cluster_name: ${plan.cluster.name}`,
    '  transport: knet',
    '  crypto_cipher: aes256',
    '  crypto_hash: sha256',
    `  token: ${o.tokenMs ?? TOKEN_MS}`,
    `  token_coefficient: ${TOKEN_COEFFICIENT_MS}`,
    ...Array.from({ length: links }, (_, l) => [`  interface {`, `    linknumber: ${l}`, `    knet_link_priority: ${links - l}`, '  }']).flat(),
    '}',
    '',
    'nodelist {',
    ...nodes.flatMap((n) => [
      '  node {',
      `    name: ${n.name}`,
      `    nodeid: ${n.nodeId}`,
      `    ring0_addr: ${ring0(n)}`,
      ...(links === 2 ? [`    ring1_addr: ${n.ring1Address}`] : []),
      '  }',
    ]),
    '}',
    '',
    'quorum {',
    '  provider: corosync_votequorum',
    ...(ha.qdevice ? [
      '  device {',
      '    model: net',
      '    votes: 1',
      '    net {',
      `      host: ${ha.qdevice.host}`,
      `      algorithm: ${ha.qdevice.algorithm}`,
      '      tls: on',
      '    }',
      '  }',
    ] : []),
    '}',
    '',
    'logging {',
    '  to_logfile: yes',
    '  logfile: /var/log/corosync/corosync.log',
    '  to_syslog: yes',
    '  to_stderr: no',
    '  timestamp: on',
    '}',
    '',
  ];
  return lines.join('\n');
}

/** The node names listed in a corosync.conf (to notice a membership change). */
export function confMembers(conf: string): string[] {
  return [...conf.matchAll(/^\s*name:\s*(\S+)\s*$/gm)].map((m) => m[1]).sort();
}
