// The leader probes every admitted member into its trusted pool; the others wait for it.
import { boundary } from '../crash.js';
import { gluster } from '../gluster.js';
import type { Member } from '../members.js';
import { activeNodes, retiredSelf } from '../removal-hooks.js';
import { fingerprint } from '../tls.js';
import { done, todo, waiting, type Ctx, type Decision, type Step } from './step.js';

/** Gluster shows a peer by the name it was probed with, or (on the probed side) by reverse lookup or address. */
export function namesOf(ctx: Ctx, name: string): string[] {
  return [name, ctx.plan.nodes.find((n) => n.name === name)?.fqdn, ctx.members.peers.get(name)?.address].filter((x): x is string => Boolean(x));
}

function peerOf(ctx: Ctx, name: string) {
  const names = namesOf(ctx, name);
  return ctx.obs.peers.find((p) => p.names.some((x) => names.includes(x)));
}

const isAddress = (s: string) => /^[0-9.]+$|:/.test(s);

const inCluster = (p: { connected: boolean; state: string }) => p.connected && p.state === 'Peer in Cluster';

export function inPool(ctx: Ctx, name: string): boolean {
  if (name === ctx.self.name) return true;
  const p = peerOf(ctx, name);
  return Boolean(p && inCluster(p));
}

/** One pool member: the names Gluster may show for it, and its own view of its peers (if known). */
export interface MeshNode { name: string; names: string[]; sees?: { names: string[]; up: boolean }[] }

/** The links of a pool not up as seen from their first end ("node3 → node2"). */
export function missingLinks(pool: MeshNode[]): string[] {
  return pool.flatMap((from) => from.sees
    ? pool.filter((to) => to !== from && !from.sees!.some((p) => p.up && p.names.some((x) => to.names.includes(x)))).map((to) => `${from.name} → ${to.name}`)
    : [`${from.name} (no status)`]);
}

/**
 * missingLinks of our pool, by the members' own reports: glusterd checks every new brick's host
 * on every peer when staging a create or add-brick, and a peer that fails it leaves the volume
 * id on the bricks that passed.
 */
export function meshGaps(ctx: Ctx): string[] {
  return missingLinks(ctx.plan.nodes.map((n) => n.name).filter((name) => inPool(ctx, name)).map((name) => ({
    name,
    names: namesOf(ctx, name),
    sees: name === ctx.self.name
      ? ctx.obs.peers.map((p) => ({ names: p.names, up: inCluster(p) }))
      : ctx.members.get(name)?.remote?.glusterd.peers.map((p) => ({ names: p.names ?? [p.name], up: inCluster(p) })),
  })));
}

/** A member the leader can probe now: its glusterd runs with TLS material that trusts us and we trust it. */
export function probeReady(ctx: Ctx, m: Member): boolean {
  const r = m.remote;
  if (!r || !ctx.obs.cert || !r.cert) return false;
  if (!r.glusterd.running || r.steps.find((s) => s.name === 'glusterd')?.state !== 'done') return false;
  return r.caTrusts.includes(fingerprint(ctx.obs.cert)) && ctx.obs.caTrusts.includes(fingerprint(r.cert));
}

function targets(ctx: Ctx): Member[] {
  return activeNodes(ctx).filter((n) => n.name !== ctx.self.name).map((n) => ctx.members.get(n.name)).filter((m): m is Member => Boolean(m) && probeReady(ctx, m!));
}

export type PeersAction = { probe: string; back?: true };

export const peersStep: Step<null, PeersAction> = {
  name: 'peers',
  loop: 'storage',
  changesGluster: true,
  needsGluster: true,
  async observe() { return null; },
  plan(ctx) {
    if (!ctx.obs.glusterdRunning) return waiting('glusterd not running');
    if (!ctx.leader) return waiting(`no leader yet${ctx.leaderWhy ? ` (${ctx.leaderWhy})` : ''}`);
    const retired = retiredSelf(ctx);
    if (retired) return done(retired);
    const missing = activeNodes(ctx).filter((n) => !inPool(ctx, n.name)).map((n) => n.name);
    let status: Decision<PeersAction>;
    if (ctx.leader !== ctx.self.name) {
      status = !inPool(ctx, ctx.leader) ? waiting(`waiting for leader ${ctx.leader} to probe this node`)
        : missing.length ? waiting(`not yet in the pool: ${missing.join(', ')}`) : done(`${ctx.plan.nodes.length} nodes in the pool`);
      // The probed side knows the prober by address only; probing back records its name.
      if (status.waiting && inPool(ctx, ctx.leader) && peerOf(ctx, ctx.leader)!.names.every(isAddress)) return todo([{ probe: ctx.leader, back: true }], status.detail);
      return status;
    }
    const outside = targets(ctx).filter((m) => !inPool(ctx, m.name));
    // a peer glusterd already knows is never probed again: the box now answering to its name may
    // be a reinstalled one with a new UUID, which glusterd would reject; it takes its place itself
    const known = outside.filter((m) => peerOf(ctx, m.name));
    const toProbe = outside.filter((m) => !known.includes(m));
    if (known.length && !toProbe.length) return waiting(`known to the pool, not in it: ${known.map((m) => m.name).join(', ')} (a reinstalled node takes its old place by itself)`);
    if (toProbe.length) {
      const detail = `to probe: ${toProbe.map((m) => m.name).join(', ')}`;
      if (!ctx.leaderStable) return waiting(`${detail} (leadership settling)`);
      // one in some other pool is its leader's to handle
      const free = toProbe.filter((m) => (m.remote?.glusterd.peers.length ?? 0) === 0);
      return free.length ? todo(free.map((m) => ({ probe: m.name })), detail) : waiting(`${detail} (in another pool: its leader adds them)`);
    }
    return missing.length ? waiting(`not yet in the pool: ${missing.join(', ')}`) : done(`${ctx.plan.nodes.length} nodes in the pool`);
  },
  async apply(_ctx, actions) {
    for (const a of actions) {
      await gluster(['peer', 'probe', a.probe], false, 60_000);
      boundary(a.back ? 'peers:probe-back' : 'peers:probe');
    }
  },
};
