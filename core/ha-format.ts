// The HA part of a status as text: corosync quorum, Pacemaker nodes and resources, where
// each VM runs. Shared by `personal-cloud status` (admin machine) and the agent's status.
import type { HaStatus } from './ha-status.js';

export function formatHa(h: HaStatus): string {
  const c = h.corosync;
  const lines = [`  HA (seen from ${h.node}):`];
  if (h.qnetd) {
    const q = h.qnetd;
    const clients = q.clients?.length ? q.clients.map((x) => `${x.cluster} node ${x.nodeId}${x.address ? ` (${x.address})` : ''} vote ${x.vote ?? '?'}`).join('; ') : 'no member connected';
    lines.push(`    quorum device (corosync-qnetd): ${q.running ? `running; ${q.error ? q.error : clients}` : 'NOT RUNNING'}`);
    return `${lines.join('\n')}\n`;
  }
  const qd = c.qdevice ? `; quorum device ${c.qdevice.votes} vote${c.qdevice.votes === 1 ? '' : 's'}${c.qdevice.state ? `, ${c.qdevice.state}` : ''}${c.qdevice.host ? ` to ${c.qdevice.host}` : ''}` : '';
  lines.push(c.running
    ? `    corosync: ${c.quorate ? 'quorate' : 'NOT QUORATE'} (${c.totalVotes ?? '?'} of ${c.expectedVotes ?? '?'} votes; members ${(c.members ?? []).join(' ')}${qd})`
    : `    corosync: not running${c.error ? ` (${c.error})` : ''}`);
  if (h.pacemaker.ok) {
    const p = h.pacemaker;
    lines.push(`    pacemaker: DC ${p.dc ?? 'none'}; online ${p.nodes.filter((n) => n.online).map((n) => `${n.name}${n.standby ? ' (standby)' : ''}`).join(' ') || '-'}${p.nodes.some((n) => !n.online) ? `; OFFLINE ${p.nodes.filter((n) => !n.online).map((n) => n.name).join(' ')}` : ''}`);
    for (const r of p.resources.filter((x) => !x.id.startsWith('vm-'))) lines.push(`    resource ${r.id} (${r.agent}): ${r.failed ? 'FAILED' : r.role}${r.nodes.length ? ` on ${r.nodes.join(',')}` : ''}`);
  } else lines.push(`    pacemaker: ${h.pacemaker.error}`);
  for (const v of h.vms) lines.push(`    vm ${v.name}: ${v.failed ? 'FAILED' : v.role}${v.nodes.length ? ` on ${v.nodes.join(',')}` : ''}`);
  return `${lines.join('\n')}\n`;
}
