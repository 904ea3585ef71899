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
import { recordGlusterdStart } from '../glusterd-started.js';
import type { IdentityIntent } from '../state.js';
import { done, NeedsAttention, todo, waiting, type Ctx, type Decision, type Step } from './step.js';

const GLUSTERD_DIR = '/var/lib/glusterd';

/** How the pool's members see a peer with this node's names. */
export interface Claim { member: string; uuid: string; connected: boolean; state: string }

export type IdentityAction = IdentityIntent;

export interface IdentitySeen {
  /** operating-version of this node's glusterd.info, kept when the UUID is replaced. */
  opVersion: string | null;
  /** When this agent first looked (ms): a node nobody answers forms on its own after the grace. */
  sinceMs: number;
}

function claims(ctx: Ctx): Claim[] {
  const mine = namesOf(ctx, ctx.self.name);
  return ctx.members.live().flatMap((m) => (m.remote!.glusterd.peers ?? [])
    .filter((p) => (p.names ?? [p.name]).some((x) => mine.includes(x)) && p.uuid)
    .map((p) => ({ member: m.name, uuid: p.uuid!, connected: p.connected, state: p.state })));
}

/** Members whose agent reached a box answering as this node with glusterd `uuid` at their last poll. */
function agentsSee(ctx: Ctx, uuid: string | undefined): string[] {
  if (!uuid) return [];
  return ctx.members.live().filter((m) => m.remote!.members.some((x) => x.name === ctx.self.name && !x.error && x.glusterdUuid === uuid)).map((m) => m.name);
}

/** Every other member by its own UUID, from its agent: the peers the old node had. */
function peerEntries(ctx: Ctx): IdentityIntent['peers'] {
  const peers: IdentityIntent['peers'] = [];
  for (const n of ctx.plan.nodes) {
    if (n.name === ctx.self.name) continue;
    const m = ctx.members.get(n.name);
    if (m?.remote?.glusterd.uuid) peers.push({ uuid: m.remote.glusterd.uuid, name: n.name });
  }
  return peers;
}

export function identityDecision(ctx: Ctx, seen: IdentitySeen): Decision<IdentityAction> {
  // glusterd never started here (a fresh install): its identity is settled before its first start,
  // so a reinstalled node never greets the pool under a new UUID
  const fresh = !ctx.obs.uuid && !ctx.obs.glusterdRunning;
  if (!fresh && (!ctx.obs.glusterdRunning || ctx.obs.glusterUnanswered || !ctx.obs.uuid)) return waiting('glusterd not answering');
  const seenClaims = claims(ctx);
  if (!seenClaims.length) {
    if (!fresh) return done(`glusterd ${ctx.obs.uuid}`);
    if (ctx.members.live().length) return done('a new member: glusterd makes its own identity');
    const left = Math.ceil((seen.sinceMs + ctx.env.formGraceSeconds * 1000 - ctx.now) / 1000);
    return left > 0 ? waiting(`waiting up to ${left} s to learn whether the pool knows ${ctx.self.name}`) : done('no member answers: glusterd makes its own identity');
  }
  const uuids = [...new Set(seenClaims.map((c) => c.uuid))];
  const intent = ctx.state.data.identity;
  if (uuids.length === 1 && uuids[0] === ctx.obs.uuid) {
    // adopted, but glusterd was started before the peer files were all in place (a crash): again
    if (intent?.uuid === ctx.obs.uuid && intent.peers.some((p) => !ctx.obs.peers.some((x) => x.uuid === p.uuid))) return todo([intent], `replacing ${ctx.self.name}: finishing the adoption of glusterd ${intent.uuid}`);
    return done(`glusterd ${ctx.obs.uuid}, known to the pool`);
  }
  if (uuids.length > 1) return waiting(`members disagree on which glusterd is ${ctx.self.name}: ${seenClaims.map((c) => `${c.member} says ${c.uuid}`).join(', ')}`);
  const old = uuids[0];
  // The old box is alive if an agent answering as this node still reports the old UUID, or its
  // glusterd link is up while no agent has seen this box's UUID behind it (the link would be ours)
  const oldAgent = agentsSee(ctx, old);
  const link = seenClaims.find((c) => c.connected);
  if (oldAgent.length || (link && (fresh || !agentsSee(ctx, ctx.obs.uuid).length))) {
    const by = oldAgent.length ? `its agent answers ${oldAgent[0]}` : `connected to ${link!.member}`;
    throw new NeedsAttention(`another box is ${ctx.self.name} in the pool (glusterd ${old}, ${by}) while this one is ${fresh ? 'a fresh install' : `glusterd ${ctx.obs.uuid}`}: refusing to take its place. If this box replaces it, power the old one off; it then takes over by itself`);
  }
  if (intent?.uuid === old) return todo([intent], `replacing ${ctx.self.name}: finishing the adoption of glusterd ${old}`);
  if (ctx.obs.peers.length || ctx.obs.volumes.length) {
    throw new NeedsAttention(`the pool knows ${ctx.self.name} as glusterd ${old}, but this node's glusterd (${ctx.obs.uuid}) already has its own ${ctx.obs.peers.length ? 'peers' : 'volumes'}: refusing to replace its identity`);
  }
  const peers = peerEntries(ctx);
  const pooled = [...new Set(seenClaims.map((c) => c.member))];
  const unknown = pooled.filter((name) => !peers.some((p) => p.name === name));
  if (unknown.length) return waiting(`taking the place of ${ctx.self.name} (glusterd ${old}): waiting for the glusterd identity of ${unknown.join(', ')}`);
  return todo([{ uuid: old, peers }], `replacing ${ctx.self.name}: this box takes the place of glusterd ${old} (known to ${pooled.join(', ')})`);
}

let firstLookMs: number | undefined;

/** Why a fresh node's glusterd must not start yet (its identity is not settled), or null. */
export async function identityHold(ctx: Ctx): Promise<string | null> {
  if (ctx.obs.uuid || ctx.obs.glusterdRunning) return null;
  try {
    const d = identityDecision(ctx, await identityStep.observe(ctx));
    return d.waiting || d.actions.length ? d.detail : null;
  } catch (e) { return (e as Error).message; }
}

export const identityStep: Step<IdentitySeen, IdentityAction> = {
  name: 'identity',
  loop: 'storage',
  changesGluster: true,
  async observe(ctx) {
    firstLookMs ??= ctx.now;
    const info = (await readText(join(GLUSTERD_DIR, 'glusterd.info'))) ?? '';
    return { opVersion: /^operating-version=(\d+)$/m.exec(info)?.[1] ?? null, sinceMs: firstLookMs };
  },
  plan: (ctx, seen) => identityDecision(ctx, seen),
  async apply(ctx, actions, seen) {
    const write = async (a: IdentityIntent) => {
      // the UUID before the peers: started with peers but a new UUID, glusterd would greet
      // them as a stranger with our name; with the UUID and no peers yet it waits to be re-run
      await writeDurable(join(GLUSTERD_DIR, 'glusterd.info'), `UUID=${a.uuid}\n${seen.opVersion ? `operating-version=${seen.opVersion}\n` : ''}`, 0o600);
      boundary('identity:uuid');
      for (const p of a.peers) await writeDurable(join(GLUSTERD_DIR, 'peers', p.uuid), `uuid=${p.uuid}\nstate=3\nhostname1=${p.name}\n`, 0o600);
      boundary('identity:peers');
    };
    for (const a of actions) {
      log.warn(`replacing ${ctx.self.name}: adopting glusterd identity ${a.uuid} and the pool's peers ${a.peers.map((p) => p.name).join(', ')}`);
      // recorded first: after a crash part-way the peers our glusterd then has are known to be these
      ctx.state.data.identity = a;
      await ctx.state.save();
      boundary('identity:intent');
      // before glusterd's first start its files are simply written; a running one is restarted around them
      if (!ctx.obs.glusterdRunning) await write(a);
      else await restartGlusterd(recordGlusterdStart, () => write(a));
    }
  },
};
