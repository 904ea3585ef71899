// Who runs the cluster-wide commands (peer probe, volume create/add-brick). A pure function of
// what this node sees, built so that nodes with different (stale) views never both act:
// 1. A node already in a pool follows its pool: the lowest-named node connected to it.
// 2. A node outside any pool that sees a pooled member follows that pool (it waits to be probed).
// 3. Otherwise the lowest-named *configured* member leads. A lower-named member that cannot be
//    reached yet still blocks the others for a grace period (since our start or since it was
//    last seen), so two halves of a cluster booting at once cannot each pick their own leader.
//    A reachable member whose glusterd never comes up is passed over after a longer fallback.

export interface LeaderMember {
  name: string;
  /** Admitted and heard from recently. */
  live: boolean;
  glusterd: boolean;
  /** In a Gluster pool (has peers) or has a volume. */
  pooled: boolean;
  /** Last time it was live (ms), if ever. */
  lastLiveMs?: number;
  /** Since when it has been live with its glusterd not running (ms). */
  glusterdDownSinceMs?: number;
}

export interface LeaderView {
  self: string;
  /** Names of the configured members (the plan), this node included. */
  planNodes: string[];
  now: number;
  agentStartMs: number;
  graceMs: number;
  /** How long a reachable lower-named member may go without glusterd before it is passed over. */
  fallbackMs: number;
  selfPooled: boolean;
  /** Members connected to our glusterd in our pool (this node included) when pooled. */
  selfPool: string[];
  members: LeaderMember[];
}

export interface LeaderChoice { leader: string | null; why: string }

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function chooseLeader(v: LeaderView): LeaderChoice {
  if (v.selfPooled) {
    const pool = [...new Set([v.self, ...v.selfPool])].sort(byName);
    return { leader: pool[0], why: 'lowest-named node of our pool' };
  }
  const pooled = v.members.filter((m) => m.live && m.pooled).map((m) => m.name).sort(byName);
  if (pooled.length) return { leader: pooled[0], why: 'lowest-named reachable node of the existing pool' };
  const members = new Map(v.members.map((m) => [m.name, m]));
  for (const name of [...new Set([...v.planNodes, v.self])].sort(byName)) {
    if (name === v.self) return { leader: name, why: 'lowest-named configured member that is up' };
    const m = members.get(name);
    if (m?.live) {
      if (m.glusterd || m.glusterdDownSinceMs === undefined || v.now - m.glusterdDownSinceMs < v.fallbackMs) return { leader: name, why: 'lowest-named configured member that is up' };
      continue; // reachable, but its glusterd has not come up for a long time
    }
    const since = Math.max(v.agentStartMs, m?.lastLiveMs ?? 0);
    const left = v.graceMs - (v.now - since);
    if (left > 0) return { leader: null, why: `waiting up to ${Math.ceil(left / 1000)} s for ${name} (a lower-named member) to appear` };
  }
  return { leader: null, why: 'no member is up' };
}
