// What the reconcile steps must respect while and after nodes are retired (`node remove`): the
// nodes named in a recorded removal, and those retired before, are never probed again, their
// replica sets never added back, and a plan that still lists them never adopted. The survivors
// switch to the removal's target plan (cluster.yaml without those nodes) once their bricks and
// peers are gone.
import type { AgentNodePlan, AgentPlan } from '../core/plan-types.js';
import { planDigest, replicaSets } from './plan-adopt.js';
import type { StateStore } from './state.js';
import type { Ctx } from './steps/step.js';

/** Nodes being removed or removed before, by this node's durable state. */
export function leavingNodes(state: StateStore): Set<string> {
  return new Set([...(state.data.removal?.nodes ?? []), ...(state.data.retired ?? [])]);
}

/** The plan's nodes that stay members. */
export function activeNodes(ctx: Ctx): AgentNodePlan[] {
  const gone = leavingNodes(ctx.state);
  return ctx.plan.nodes.filter((n) => !gone.has(n.name));
}

/** The plan's replica sets of a volume that stay (none of their nodes is leaving). */
export function keptSets(ctx: Ctx, volume: string): string[][] {
  const gone = leavingNodes(ctx.state);
  return replicaSets(ctx.plan, volume).filter((set) => !set.some((ref) => gone.has(ref.slice(0, ref.indexOf(':')))));
}

/** Why this node's steps must not form anything (it is being removed), or null. */
export function retiredSelf(ctx: Ctx): string | null {
  return leavingNodes(ctx.state).has(ctx.self.name) ? 'this node is being removed from the cluster (node remove): nothing to form' : null;
}

/**
 * The plan a survivor switches to: the recorded removal's target once its coordinator says so
 * (phase adopt or later), as long as our plan still lists a node being removed.
 */
export function removalTarget(state: StateStore, plan: AgentPlan, self: string): AgentPlan | null {
  const r = state.data.removal;
  if (!r || r.nodes.includes(self) || !['adopt', 'pacemaker', 'done'].includes(r.phase)) return null;
  if (!plan.nodes.some((n) => r.nodes.includes(n.name)) || planDigest(plan) === r.targetDigest) return null;
  return r.target;
}
