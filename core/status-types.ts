// What an agent reports about itself: `personal-cloud-agent status --json`, the `status`
// operation of the authenticated channel, and `personal-cloud status` on the admin machine.
import type { HaStatus } from './ha-status.js';

/** `attention`: the step refuses to go on until a person acts (e.g. a brick disk holds data). */
export type StepState = 'done' | 'waiting' | 'error' | 'attention' | 'pending';

export interface StepStatus { name: string; state: StepState; detail: string; at: string }

export interface MemberStatus {
  name: string;
  address: string;
  /** How we learned the address: the plan's static address or a signed beacon. */
  source: 'plan' | 'beacon';
  admitted: boolean;
  lastSeen?: string;
  error?: string;
  /** The glusterd UUID its agent reported at the last answer (tells a reinstalled box from its namesake). */
  glusterdUuid?: string;
  /** Its steps and whether it converged, as it last answered (the web console shows every node's agent). */
  steps?: StepStatus[];
  converged?: boolean;
}

export interface RefusalStatus { from: string; address: string; reason: string; at: string; count: number }

export interface VolumeStatus {
  name: string;
  exists: boolean;
  started: boolean;
  type?: string;
  bricks: string[];
  /** Entries pending heal per brick (from `gluster volume heal VOL info`). */
  heal?: { brick: string; connected: boolean; entries: number }[];
  mounted: boolean;
  /** Size and space left of the volume as this node's mount sees it (bytes; `df`, at most a minute old). */
  space?: VolumeSpace;
}

export interface VolumeSpace { size: number; free: number; at: string }

/**
 * Kinds of trouble that leave the cluster less safe than its steps say (new kinds are added here;
 * status and `personal-cloud status` show any kind the same way).
 */
export type DegradationKind = 'brick-offline' | 'peer-rejected' | 'peer-disconnected' | 'brick-returning' | 'heal-pending' | 'replica-incomplete';

/** One thing wrong with the cluster as this node sees it, even when every step is done. */
export interface Degradation {
  what: DegradationKind;
  /** What is degraded, e.g. `gv0 node3:/data/glusterfs/gv0/brick1/brick` or a node name. */
  subject: string;
  /** In plain words: what is wrong, what is being done about it, what to do. */
  detail: string;
  /** When this agent first saw it (set by the agent, not by the evaluation). */
  since?: string;
}

/** Entries in one of this node's bricks (the brick directory walked, `.glusterfs` left out), last two counts. */
export interface BrickCount {
  volume: string;
  /** `node:path` as the volume names it. */
  brick: string;
  entries: number;
  at: string;
  /** Heal info, asked just before the count, showed every brick of the volume connected and nothing pending. */
  settled: boolean;
  previous?: { entries: number; at: string; settled: boolean };
  /** The walk stopped at its bound: the count is a lower limit, not compared. */
  capped?: boolean;
}

/** A blank brick of this node brought back into its volume (new disk, reinstalled node), until healed. */
export interface ReturningBrick {
  volume: string;
  /** `node:path` as the volume names it. */
  brick: string;
  since: string;
  /** Entries on it now (counted every few seconds while it heals). */
  entries?: number;
}

export interface NodeStatus {
  node: string;
  cluster: string;
  keyId: string;
  startedAt: string;
  planNodes: string[];
  /** sha256 of cluster.json's plan, lets peers notice a newer plan. */
  planDigest: string;
  leader: string | null;
  converged: boolean;
  glusterd: {
    running: boolean;
    uuid?: string;
    /** `names`: every name Gluster knows the peer by (older agents send `name` only). */
    peers: { name: string; names?: string[]; uuid?: string; connected: boolean; state: string }[];
  };
  /** Bricks of this node prepared (disk formatted, mounted, brick directory present). */
  bricksReady: boolean;
  /** The bricks (`node:path`) of this node that are prepared: volumes form from ready replica sets. */
  readyBricks?: string[];
  /** This node's Gluster TLS certificate (public) and the fingerprints its CA bundle trusts. */
  cert: string | null;
  caTrusts: string[];
  members: MemberStatus[];
  refused: RefusalStatus[];
  steps: StepStatus[];
  volumes: VolumeStatus[];
  lastError: { step: string; message: string; at: string } | null;
  /** Degradations as this node sees them (absent from older agents); `converged` says nothing about them. */
  health?: { degraded: Degradation[]; checkedAt: string };
  /** Entry counts of this node's bricks (replica completeness is compared across members). */
  brickCounts?: BrickCount[];
  /** This node's bricks coming back blank and healing (every node shows them as `brick-returning`). */
  returning?: ReturningBrick[];
  /** Brick processes per started volume as this node last asked `volume status` (the leader asks; the others read its answer). */
  brickStatus?: { at: string; volumes: Record<string, { brick: string; online: boolean; pid?: number }[]> };
}

/**
 * `personal-cloud-agent status --json` on a node (what the web console reads): the node's status,
 * whether it is the agent's answer or the status it saved last, and its view of the HA stack.
 */
export interface StatusReport extends NodeStatus {
  /** The agent did not answer (why): this is the status it saved after its last pass. */
  unanswered?: string;
  /** HA enabled: corosync, Pacemaker and the VMs as this node's agent sees them, or why it did not answer. */
  ha?: HaStatus | { error: string };
}
