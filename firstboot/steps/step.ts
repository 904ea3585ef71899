import type { AgentNodePlan, AgentPlan } from '../../core/plan-types.js';
import type { AgentEnv } from '../env.js';
import type { Peer, VolumeInfo } from '../gluster.js';
import type { Members } from '../members.js';
import type { StateStore } from '../state.js';

/** What one pass observed about this node before running steps (refreshed every pass). */
export interface Observed {
  glusterdRunning: boolean;
  /** glusterd runs but its CLI did not answer (busy, timeout): peers and volumes are the last known ones. */
  glusterUnanswered?: boolean;
  uuid?: string;
  peers: Peer[];
  volumes: VolumeInfo[];
  bricksReady: boolean;
  /** Prepared bricks of this node as `node:path`. */
  readyBricks: string[];
  cert: string | null;
  /** sha256 fingerprints of the certificates in our CA bundle. */
  caTrusts: string[];
}

export interface Ctx {
  plan: AgentPlan;
  self: AgentNodePlan;
  env: AgentEnv;
  state: StateStore;
  members: Members;
  obs: Observed;
  leader: string | null;
  /** Why this leader (or why none yet), for status. */
  leaderWhy?: string;
  /** The same leader for a few seconds: avoids two nodes probing at once while views converge. */
  leaderStable: boolean;
  agentStartMs: number;
  /** When this node first saw itself as leader with a formable replica set (ms), for the grace period. */
  formableSince?: number;
}

export type Check = { ok: true; detail?: string } | { ok: false; waiting?: boolean; detail: string };

export interface Step {
  name: string;
  check(ctx: Ctx): Promise<Check>;
  /** Does what can be done now; false when it had nothing to do (waiting on others). */
  apply(ctx: Ctx): Promise<boolean | void>;
}

/** An error that is the user's to fix (e.g. a disk with data); shown as the step's state. */
export class NeedsAttention extends Error {}
