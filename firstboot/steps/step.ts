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
  /** Whether each brick's process runs, by volume and `node:path` (the leader's recent `volume status`, or this node's own). */
  brickOnline?: Record<string, Record<string, boolean>>;
  /** The pid glusterd gives for each brick it calls online, from the same answer. */
  brickPids?: Record<string, Record<string, number>>;
}

export interface Ctx {
  plan: AgentPlan;
  self: AgentNodePlan;
  /** The derived join key: authenticates calls to the other agents. */
  key: string;
  env: AgentEnv;
  state: StateStore;
  members: Members;
  obs: Observed;
  leader: string | null;
  /** Why this leader (or why none yet), for status. */
  leaderWhy?: string;
  /** The same leader for a few seconds: avoids two nodes probing at once while views converge. */
  leaderStable: boolean;
  /** When this pass began (ms): plans compare times against it, never against the clock. */
  now: number;
}

/**
 * What a step decided from one observation: the actions to run now (none: done or waiting),
 * and what status shows. `waiting`: nothing this node can do until something else changes.
 */
export interface Decision<A> {
  actions: A[];
  detail: string;
  waiting?: boolean;
}

/** Which loop runs a step: storage never waits behind virtualisation and HA. */
export type Loop = 'storage' | 'virt';

/**
 * One reconcile step: `observe` only looks (files, processes, CLIs), `plan` decides from what
 * was seen and nothing else, `apply` carries out what was decided. Re-running a finished step
 * observes, plans no action, and does nothing.
 */
export interface Step<S = unknown, A = unknown> {
  name: string;
  loop: Loop;
  /** Its actions change glusterd's peers or volumes: the agent looks at glusterd again after them. */
  changesGluster?: boolean;
  /** It decides from the pool and volumes glusterd reports: it waits while glusterd does not answer. */
  needsGluster?: boolean;
  observe(ctx: Ctx): Promise<S>;
  plan(ctx: Ctx, seen: S): Decision<A>;
  apply(ctx: Ctx, actions: A[], seen: S): Promise<void>;
}

export const done = <A>(detail: string): Decision<A> => ({ actions: [], detail });
export const waiting = <A>(detail: string): Decision<A> => ({ actions: [], detail, waiting: true });
export const todo = <A>(actions: A[], detail: string): Decision<A> => ({ actions, detail });

/** An error that is the user's to fix (e.g. a disk with data); shown as the step's state. */
export class NeedsAttention extends Error {}
