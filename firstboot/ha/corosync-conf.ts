// corosync.conf from the plan and the admitted members: knet with crypto on, one link per
// configured network, votequorum (+ a quorum device for 2-node clusters).
import type { AgentNodePlan, AgentPlan } from '../../core/plan-types.js';

export const COROSYNC_CONF = '/etc/corosync/corosync.conf';
export const COROSYNC_AUTHKEY = '/etc/corosync/authkey';

export interface CorosyncOptions {
  /** Totem token timeout in ms: how long silence lasts before a node is declared lost. */
  tokenMs?: number;
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
    `  token: ${o.tokenMs ?? 3000}`,
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
