// Which node leads, as this node sees it, and since when: the pure choice is leader.ts; this
// keeps the answer between passes so steps can tell a settled leader from a fresh one.
import type { AgentPlan } from '../core/plan-types.js';
import { chooseLeader } from './leader.js';
import { log } from './log.js';
import type { Members } from './members.js';
import type { Observed } from './steps/step.js';

/** The same leader for this long: avoids two nodes probing at once while views converge. */
const STABLE_MS = 1000;

export interface LeadershipView {
  plan: AgentPlan;
  self: string;
  members: Members;
  obs: Observed;
  /** The names Gluster may show for a node (name, FQDN, address). */
  namesOf: (name: string) => string[];
  agentStartMs: number;
  graceSeconds: number;
  now: number;
}

export class Leadership {
  leader: string | null = null;
  why = '';
  private sinceMs = 0;

  stable(now: number): boolean { return this.leader !== null && now - this.sinceMs >= STABLE_MS; }

  update(v: LeadershipView): void {
    const live = new Set(v.members.live().map((m) => m.name));
    // peers in any state: a node being probed sees its prober as "Accepted peer request" first,
    // and must not take itself for its pool's leader meanwhile. A peer whose glusterd is
    // disconnected (restarting, busy) but whose agent answers still leads: else a survivor that
    // briefly lost the leader's glusterd would probe and create volumes beside it
    const selfPool = v.plan.nodes.map((n) => n.name).filter((name) => name === v.self || v.obs.peers.some((p) =>
      (p.connected || live.has(name)) && p.names.some((x) => v.namesOf(name).includes(x))));
    const choice = chooseLeader({
      self: v.self,
      planNodes: v.plan.nodes.map((n) => n.name),
      now: v.now,
      agentStartMs: v.agentStartMs,
      graceMs: v.graceSeconds * 1000,
      fallbackMs: 3 * v.graceSeconds * 1000,
      // an agent restarting (crash, upgrade) finds its glusterd still running and pooled: it
      // keeps following its pool instead of starting over
      selfPooled: v.obs.glusterdRunning && (v.obs.peers.length > 0 || v.obs.volumes.length > 0),
      selfPool,
      members: [...v.members.peers.values()].filter((m) => v.plan.nodes.some((n) => n.name === m.name)).map((m) => ({
        name: m.name,
        live: live.has(m.name),
        glusterd: Boolean(m.remote?.glusterd.running),
        pooled: Boolean(m.remote && (m.remote.glusterd.peers.length > 0 || m.remote.volumes.some((x) => x.exists && x.type !== 'local'))),
        ...(m.lastOkMs ? { lastLiveMs: m.lastOkMs } : {}),
        ...(m.glusterdDownSinceMs !== undefined ? { glusterdDownSinceMs: m.glusterdDownSinceMs } : {}),
      })),
    });
    this.why = choice.why;
    if (choice.leader !== this.leader) {
      log.info(choice.leader ? `leader: ${choice.leader}${choice.leader === v.self ? ' (this node)' : ''} — ${choice.why}` : `no leader: ${choice.why}`);
      this.leader = choice.leader;
      this.sinceMs = v.now;
    }
  }
}
