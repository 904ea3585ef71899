// Scale-out: nodes built from a newer cluster.yaml carry a plan with more nodes. An admitted
// peer's plan replaces ours only if it *extends* it — same cluster and key, every node we
// know unchanged, every replica set we know still present — so nothing we built is undone.
// The one way a plan shrinks is a recorded `node remove` (removal-hooks.ts), and a plan that
// lists a retired node is never adopted again.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { call } from '../core/channel.js';
import { agentPlan } from '../core/agent-plan.js';
import type { AgentPlan } from '../core/plan-types.js';
import { writeDurable } from './fsx.js';
import { log } from './log.js';
import type { Members } from './members.js';
import { leavingNodes, removalTarget } from './removal-hooks.js';
import type { StateStore } from './state.js';

export function planDigest(plan: AgentPlan): string {
  return createHash('sha256').update(JSON.stringify(plan)).digest('hex').slice(0, 16);
}

export function replicaSets(plan: AgentPlan, volume: string): string[][] {
  const v = plan.volumes.find((x) => x.name === volume);
  if (!v || v.kind !== 'replicated') return [];
  const out: string[][] = [];
  for (let i = 0; i < v.bricks.length; i += v.replica) out.push(v.bricks.slice(i, i + v.replica).map((b) => `${b.node}:${b.path}`));
  return out;
}

/** Why `next` may not replace `current`, or null when it is a proper extension. */
export function extensionProblem(current: AgentPlan, next: AgentPlan, retired: Set<string> = new Set()): string | null {
  if (next.schemaVersion !== 1) return 'not a schemaVersion 1 plan';
  const back = next.nodes.filter((n) => retired.has(n.name)).map((n) => n.name);
  if (back.length) return `lists ${back.join(', ')}, removed from this cluster (node remove)`;
  if (next.cluster.name !== current.cluster.name || next.cluster.keyId !== current.cluster.keyId) return 'different cluster or key';
  if (next.nodes.length <= current.nodes.length) return 'does not add nodes';
  for (const n of current.nodes) {
    const m = next.nodes.find((x) => x.name === n.name);
    if (!m) return `drops node ${n.name}`;
    if (JSON.stringify(m) !== JSON.stringify(n)) return `changes node ${n.name}`;
  }
  for (const v of current.volumes) {
    const w = next.volumes.find((x) => x.name === v.name);
    if (!w) return `drops volume ${v.name}`;
    if (w.replica !== v.replica || w.arbiterCount !== v.arbiterCount || w.kind !== v.kind) return `changes the layout of ${v.name}`;
    const known = new Set(replicaSets(next, v.name).map((s) => s.join(' ')));
    for (const s of replicaSets(current, v.name)) if (!known.has(s.join(' '))) return `breaks replica set ${s.join(' ')} of ${v.name}`;
  }
  return null;
}

export interface AdoptionInput {
  plan: AgentPlan;
  key: string;
  self: string;
  members: Members;
  configDir: string;
  /** This node's durable state: a recorded removal's target plan, the retired nodes. */
  state?: StateStore;
}

/** Fetches and writes the plan of an admitted peer that extends ours (scale-out); null when none does. */
export async function adoptNewerPlan(o: AdoptionInput): Promise<AgentPlan | null> {
  const shrunk = o.state ? removalTarget(o.state, o.plan, o.self) : null;
  if (shrunk) {
    await writeDurable(join(o.configDir, 'cluster.json'), `${JSON.stringify(shrunk, null, 2)}\n`, 0o600);
    log.info(`adopted the plan without ${o.state!.data.removal!.nodes.join(', ')} (node remove): ${shrunk.nodes.length} nodes (${shrunk.nodes.map((n) => n.name).join(', ')})`);
    return shrunk;
  }
  const retired = o.state ? leavingNodes(o.state) : new Set<string>();
  for (const m of o.members.live()) {
    const r = m.remote!;
    if (retired.has(m.name)) continue;
    if (r.planDigest === planDigest(o.plan) || r.planNodes.length <= o.plan.nodes.length) continue;
    try {
      const { data: served } = await call<AgentPlan>(o.key, o.self, m.address, m.port, 'plan');
      if (served?.schemaVersion !== 1) { log.warn(`not adopting the plan of ${m.name}: not a schemaVersion 1 plan`); continue; }
      // a peer built by an older builder serves the whole Plan (password hashes included): keep our part
      const data = agentPlan(served);
      const problem = extensionProblem(o.plan, data, retired);
      if (problem) { log.warn(`not adopting the plan of ${m.name}: it ${problem}`); continue; }
      await writeDurable(join(o.configDir, 'cluster.json'), `${JSON.stringify(data, null, 2)}\n`, 0o600);
      log.info(`adopted the plan of ${m.name}: ${data.nodes.length} nodes (${data.nodes.map((n) => n.name).join(', ')})`);
      return data;
    } catch (e) { log.warn(`fetching the plan of ${m.name}: ${(e as Error).message}`); }
  }
  return null;
}
