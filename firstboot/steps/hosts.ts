// /etc/hosts: every member by name (Gluster peers and bricks are addressed by node name).
import { managedBlock, readText, withManagedBlock, writeDurable } from '../fsx.js';
import { boundary } from '../crash.js';
import type { Ctx, Step } from './step.js';

const HOSTS = '/etc/hosts';

function desired(ctx: Ctx): { lines: string[]; unknown: string[] } {
  const lines: string[] = [];
  const unknown: string[] = [];
  for (const n of ctx.plan.nodes) {
    const addr = !n.network.dhcp ? n.network.address : ctx.members.peers.get(n.name)?.address;
    if (!addr) { if (n.name !== ctx.self.name) unknown.push(n.name); continue; }
    lines.push(`${addr} ${n.fqdn} ${n.name}`);
  }
  return { lines, unknown };
}

export const hostsStep: Step = {
  name: 'hosts',
  async check(ctx) {
    const { lines, unknown } = desired(ctx);
    const cur = managedBlock((await readText(HOSTS)) ?? '');
    if (!cur || cur.join('\n') !== lines.join('\n')) return { ok: false, detail: `${lines.length} entries to write` };
    if (unknown.length) return { ok: false, waiting: true, detail: `address not yet known for ${unknown.join(', ')}` };
    return { ok: true, detail: `${lines.length} members` };
  },
  async apply(ctx) {
    const text = (await readText(HOSTS)) ?? '';
    await writeDurable(HOSTS, withManagedBlock(text, desired(ctx).lines), 0o644);
    boundary('hosts:write');
  },
};
