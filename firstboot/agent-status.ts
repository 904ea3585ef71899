// What this agent reports about its node (status operation, status.json, `status` CLI).
import { keyIdOf } from '../core/auth.js';
import type { AgentPlan } from '../core/plan-types.js';
import type { NodeStatus, StepStatus, VolumeSpace, VolumeStatus } from '../core/status-types.js';
import { mountedAt } from './disks.js';
import type { HealBrick } from './gluster.js';
import type { Members } from './members.js';
import { planDigest } from './plan-adopt.js';
import type { Observed } from './steps/step.js';

export interface StatusParts {
  plan: AgentPlan;
  node: string;
  key: string;
  startedAt: string;
  leader: string | null;
  obs: Observed;
  members: Members;
  /** Every step's status, in the order of the steps. */
  steps: StepStatus[];
  heal: Map<string, { bricks: HealBrick[] }>;
  space?: Map<string, VolumeSpace>;
  lastError: NodeStatus['lastError'];
  health: NodeStatus['health'];
  brickCounts: NodeStatus['brickCounts'];
  returning?: NodeStatus['returning'];
  brickStatus?: NodeStatus['brickStatus'];
}

/**
 * The last error after one step's turn: a new error replaces it; the step that set it clears it
 * when it next runs without error and is done or only waiting (a stale error misleads).
 */
export function lastErrorAfter(prev: NodeStatus['lastError'], step: string, outcome: { state: StepStatus['state']; error?: string; at: string }): NodeStatus['lastError'] {
  if (outcome.error !== undefined) return { step, message: outcome.error, at: outcome.at };
  if (prev?.step === step && (outcome.state === 'done' || outcome.state === 'waiting')) return null;
  return prev;
}

export async function nodeStatus(p: StatusParts): Promise<NodeStatus> {
  const vols: VolumeStatus[] = [];
  for (const v of p.plan.volumes) {
    const info = p.obs.volumes.find((x) => x.name === v.name);
    const m = await mountedAt(v.mountPoint);
    const heal = p.heal.get(v.name)?.bricks;
    vols.push({
      name: v.name, exists: v.kind === 'local' ? true : Boolean(info), started: v.kind === 'local' ? true : Boolean(info?.started),
      ...(info ? { type: info.type } : v.kind === 'local' ? { type: 'local' } : {}),
      bricks: info?.bricks.map((b) => b.name) ?? [],
      ...(heal ? { heal } : {}),
      mounted: Boolean(m),
      ...(m && p.space?.get(v.name) ? { space: p.space.get(v.name) } : {}),
    });
  }
  return {
    node: p.node,
    cluster: p.plan.cluster.name,
    keyId: keyIdOf(p.key),
    startedAt: p.startedAt,
    planNodes: p.plan.nodes.map((n) => n.name),
    planDigest: planDigest(p.plan),
    leader: p.leader,
    converged: p.steps.every((s) => s.state === 'done'),
    glusterd: {
      running: p.obs.glusterdRunning,
      ...(p.obs.uuid ? { uuid: p.obs.uuid } : {}),
      peers: p.obs.peers.map((x) => ({ name: x.hostname, names: x.names, uuid: x.uuid, connected: x.connected, state: x.state })),
    },
    bricksReady: p.obs.bricksReady,
    readyBricks: p.obs.readyBricks,
    cert: p.obs.cert,
    caTrusts: p.obs.caTrusts,
    members: p.members.statuses(),
    refused: [...p.members.refused.values()],
    steps: p.steps,
    volumes: vols,
    lastError: p.lastError,
    ...(p.health ? { health: p.health } : {}),
    ...(p.brickCounts ? { brickCounts: p.brickCounts } : {}),
    ...(p.returning?.length ? { returning: p.returning } : {}),
    ...(p.brickStatus ? { brickStatus: p.brickStatus } : {}),
  };
}
