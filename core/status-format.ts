import { binaryBytes } from './bytes.js';
import type { NodeStatus, VolumeSpace } from './status-types.js';

/** "12.0 GiB free of 40.0 GiB" */
export const spaceText = (s: VolumeSpace): string => `${binaryBytes(s.free)} free of ${binaryBytes(s.size)}`;

/** Human-readable status of one node (agent `status` and admin `personal-cloud status`). */
export function formatStatus(s: NodeStatus): string {
  const out: string[] = [];
  // `converged` is this agent's steps only: the verdict also names what is degraded
  const degraded = s.health?.degraded ?? [];
  const verdict = `${s.converged ? 'converged' : 'converging'}${degraded.length ? ` — DEGRADED: ${degraded.length} problem${degraded.length === 1 ? '' : 's'}` : ''}`;
  out.push(`${s.node} (cluster ${s.cluster}, key id ${s.keyId}) — ${verdict}; leader: ${s.leader ?? 'none yet'}`);
  for (const d of degraded) out.push(`  DEGRADED ${d.what} ${d.subject}${d.since ? ` (since ${d.since})` : ''}: ${d.detail}`);
  out.push(`  glusterd: ${s.glusterd.running ? 'running' : 'not running'}; peers: ${s.glusterd.peers.map((p) => `${p.name}${p.connected ? '' : ' (disconnected)'}`).join(', ') || 'none'}`);
  out.push(`  members: ${s.members.map((m) => `${m.name}@${m.address} ${m.admitted ? 'admitted' : m.error ? `(${m.error})` : 'unverified'}`).join(', ') || 'none'}`);
  for (const r of s.refused) out.push(`  REFUSED ${r.from} at ${r.address}: ${r.reason} (×${r.count}, last ${r.at})`);
  out.push('  steps:');
  for (const st of s.steps) out.push(`    ${st.name.padEnd(8)} ${st.state.padEnd(7)} ${st.detail}`);
  out.push('  volumes:');
  for (const v of s.volumes) {
    const heal = v.heal ? `; heal pending ${v.heal.reduce((a, b) => a + Math.max(0, b.entries), 0)}${v.heal.some((b) => !b.connected) ? `, bricks down: ${v.heal.filter((b) => !b.connected).map((b) => b.brick).join(' ')}` : ''}` : '';
    out.push(`    ${v.name.padEnd(5)} ${v.exists ? (v.started ? 'started' : 'created') : 'absent'}${v.type ? ` ${v.type}` : ''}, ${v.bricks.length} bricks, ${v.mounted ? `mounted${v.space ? `, ${spaceText(v.space)}` : ''}` : 'not mounted'}${heal}`);
  }
  if (s.lastError) out.push(`  last error (${s.lastError.at}, ${s.lastError.step}): ${s.lastError.message}`);
  return `${out.join('\n')}\n`;
}
