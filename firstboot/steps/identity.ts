// A node reinstalled under a name the pool already knows (new hardware, or a wiped disk) takes
// its old place: it adopts the old glusterd UUID and the pool's peer list before its glusterd
// talks to anyone, so the pool sees its member come back rather than a stranger ("Peer Rejected").
// A box whose namesake is still connected to the pool is refused: two boxes, one name.
import { join } from 'node:path';
import { boundary } from '../crash.js';
import { readText, writeDurable } from '../fsx.js';
import { log } from '../log.js';
import { restartGlusterd } from '../service.js';
import { namesOf } from './peers.js';
import { recordGlusterdStart } from './glusterd.js';
import type { IdentityIntent } from '../state.js';
import { done, NeedsAttention, todo, waiting, type Ctx, type Decision, type Step } from './step.js';

const GLUSTERD_DIR = '/var/lib/glusterd';

/** How the pool's members see a peer with this node's names. */
export interface Claim { member: string; uuid: string; connected: boolean; state: string }

export type IdentityAction = IdentityIntent;

export interface IdentitySeen {
  /** operating-version of this node's glusterd.info, kept when the UUID is replaced. */
  opVersion: string | null;
}

function claims(ctx: Ctx): Claim[] {
  const mine = namesOf(ctx, ctx.self.name);
  return ctx.members.live().flatMap((m) => (m.remote!.glusterd.peers ?? [])
    .filter((p) => (p.names ?? [p.name]).some((x) => mine.includes(x)) && p.uuid)
    .map((p) => ({ member: m.name, uuid: p.uuid!, connected: p.connected, state: p.state })));
}

export function identityDecision(ctx: Ctx): Decision<IdentityAction> {
  if (!ctx.obs.glusterdRunning || ctx.obs.glusterUnanswered) return waiting('glusterd not answering');
  if (!ctx.obs.uuid) return waiting('glusterd has no identity yet');
  const seen = claims(ctx);
  if (!seen.length) return done(`glusterd ${ctx.obs.uuid}`);
  const uuids = [...new Set(seen.map((c) => c.uuid))];
  const intent = ctx.state.data.identity;
  if (uuids.length === 1 && uuids[0] === ctx.obs.uuid) {
    // adopted, but glusterd was started before the peer files were all in place (a crash): again
    if (intent?.uuid === ctx.obs.uuid && intent.peers.some((p) => !ctx.obs.peers.some((x) => x.uuid === p.uuid))) return todo([intent], `replacing ${ctx.self.name}: finishing the adoption of glusterd ${intent.uuid}`);
    return done(`glusterd ${ctx.obs.uuid}, known to the pool`);
  }
  if (uuids.length > 1) return waiting(`members disagree on which glusterd is ${ctx.self.name}: ${seen.map((c) => `${c.member} says ${c.uuid}`).join(', ')}`);
  const old = uuids[0];
  const live = seen.find((c) => c.connected);
  if (live) {
    throw new NeedsAttention(`another box is ${ctx.self.name} in the pool (glusterd ${old}, connected to ${live.member}) while this one is glusterd ${ctx.obs.uuid}: refusing to take its place. If this box replaces it, power the old one off; it then takes over by itself`);
  }
  if (intent?.uuid === old) return todo([intent], `replacing ${ctx.self.name}: finishing the adoption of glusterd ${old}`);
  if (ctx.obs.peers.length || ctx.obs.volumes.length) {
    throw new NeedsAttention(`the pool knows ${ctx.self.name} as glusterd ${old}, but this node's glusterd (${ctx.obs.uuid}) already has its own ${ctx.obs.peers.length ? 'peers' : 'volumes'}: refusing to replace its identity`);
  }
  // every other member by its own UUID, from its agent: the pool's view of them as the old node had it
  const peers: IdentityIntent['peers'] = [];
  for (const n of ctx.plan.nodes) {
    if (n.name === ctx.self.name) continue;
    const m = ctx.members.get(n.name);
    if (m?.remote?.glusterd.uuid) peers.push({ uuid: m.remote.glusterd.uuid, name: n.name });
  }
  const pooled = new Set(seen.map((c) => c.member));
  const unknown = [...pooled].filter((name) => !peers.some((p) => p.name === name));
  if (unknown.length) return waiting(`taking the place of ${ctx.self.name} (glusterd ${old}): waiting for the glusterd identity of ${unknown.join(', ')}`);
  return todo([{ uuid: old, peers }], `replacing ${ctx.self.name}: this box takes the place of glusterd ${old} (disconnected from ${[...pooled].join(', ')})`);
}

export const identityStep: Step<IdentitySeen, IdentityAction> = {
  name: 'identity',
  loop: 'storage',
  changesGluster: true,
  needsGluster: true,
  async observe() {
    const info = (await readText(join(GLUSTERD_DIR, 'glusterd.info'))) ?? '';
    return { opVersion: /^operating-version=(\d+)$/m.exec(info)?.[1] ?? null };
  },
  plan: (ctx) => identityDecision(ctx),
  async apply(ctx, actions, seen) {
    for (const a of actions) {
      log.warn(`replacing ${ctx.self.name}: adopting glusterd identity ${a.uuid} and the pool's peers ${a.peers.map((p) => p.name).join(', ')}`);
      // recorded first: after a crash part-way the peers our glusterd then has are known to be these
      ctx.state.data.identity = a;
      await ctx.state.save();
      boundary('identity:intent');
      await restartGlusterd(recordGlusterdStart, async () => {
        // the UUID before the peers: started with peers but a new UUID, glusterd would greet
        // them as a stranger with our name; with the UUID and no peers yet it waits to be re-run
        await writeDurable(join(GLUSTERD_DIR, 'glusterd.info'), `UUID=${a.uuid}\n${seen.opVersion ? `operating-version=${seen.opVersion}\n` : ''}`, 0o600);
        boundary('identity:uuid');
        for (const p of a.peers) await writeDurable(join(GLUSTERD_DIR, 'peers', p.uuid), `uuid=${p.uuid}\nstate=3\nhostname1=${p.name}\n`, 0o600);
        boundary('identity:peers');
      });
    }
  },
};
