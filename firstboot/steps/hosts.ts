// /etc/hosts: every member by name (Gluster peers and bricks are addressed by node name).
import { managedBlock, readText, withManagedBlock, writeDurable } from '../fsx.js';
import { boundary } from '../crash.js';
import { done, todo, waiting, type Ctx, type Step } from './step.js';

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

export const hostsStep: Step<{ block: string[] | null }, { write: string[] }> = {
  name: 'hosts',
  loop: 'storage',
  async observe() {
    return { block: managedBlock((await readText(HOSTS)) ?? '') };
  },
  plan(ctx, seen) {
    const { lines, unknown } = desired(ctx);
    if (!seen.block || seen.block.join('\n') !== lines.join('\n')) return todo([{ write: lines }], `${lines.length} entries to write`);
    if (unknown.length) return waiting(`address not yet known for ${unknown.join(', ')}`);
    return done(`${lines.length} members`);
  },
  async apply(_ctx, actions) {
    for (const a of actions) {
      await writeDurable(HOSTS, withManagedBlock((await readText(HOSTS)) ?? '', a.write), 0o644);
      boundary('hosts:write');
    }
  },
};
