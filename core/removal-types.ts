// Retiring nodes (`personal-cloud node remove NAME…`): what the admin CLI asks an agent, what the
// agents record before acting, and what the safety check looks at. Shared by the builder CLI
// (src/commands/node-remove.ts) and the agent (firstboot/removal*.ts).
import type { AgentPlan } from './plan-types.js';

/** Where a removal stands; every phase is re-entrant (a resumed run looks before it acts). */
export const REMOVAL_PHASES = ['recorded', 'drain', 'bricks', 'leave', 'detach', 'adopt', 'pacemaker', 'done'] as const;
export type RemovalPhase = (typeof REMOVAL_PHASES)[number];

/**
 * The intent, written to every node's state (survivors and the nodes leaving) before anything is
 * changed: while it exists the agents never probe those nodes again, never add their replica sets
 * back, and never adopt a plan that still lists them.
 */
export interface RemovalRecord {
  id: string;
  nodes: string[];
  /** The plan the survivors end with: the builder's plan of cluster.yaml without those nodes. */
  target: AgentPlan;
  targetDigest: string;
  /** Per replicated volume, the whole replica sets `remove-brick` takes out. */
  removeBricks: { volume: string; bricks: string[] }[];
  /** VMs stopped while their disk moves with a leaving set, started again after (--stop-vms). */
  stopVms: string[];
  phase: RemovalPhase;
  at: string;
  /** The agent that coordinates it (any survivor may take over when re-run). */
  by: string;
}

export interface RemovalRequest {
  action: 'check' | 'start' | 'status';
  nodes: string[];
  /** agentPlan(plan(cluster.yaml without `nodes`)), made on the admin machine. */
  target?: AgentPlan;
  /** Why cluster.yaml without those nodes is not a valid cluster (validate's errors). */
  targetProblem?: string;
  /** Stop the running VMs whose disk lies on a leaving replica set while it moves (--stop-vms). */
  stopVms?: boolean;
  /** status: progress lines from this index on. */
  since?: number;
}

/** One brick of a replicated volume as `gluster volume status` and `heal info` show it. */
export interface BrickSeen { brick: string; online: boolean; heal: number }

export interface VolumeSeen { name: string; exists: boolean; bricks: BrickSeen[]; tasks: string[] }

/** What the safety check decides from: the running plan, the target, and the live cluster. */
export interface RemovalSeen {
  plan: AgentPlan;
  nodes: string[];
  target: AgentPlan | null;
  targetProblem?: string;
  volumes: VolumeSeen[];
  /** Nodes of the plan whose agent did not answer. */
  unreachable: string[];
  /** Nodes of the plan that are not connected members of the Gluster pool. */
  notInPool: string[];
  /** corosync/Pacemaker as the coordinator sees it (HA enabled only). */
  ha?: { quorate: boolean; members: string[]; error?: string };
  /** Files on the non-replicated local volume (bmv0) of the nodes to remove: held nowhere else. */
  localFiles: { node: string; volume: string; files: number }[];
  /** A removal already recorded on the coordinator. */
  recorded?: { nodes: string[]; phase: RemovalPhase };
  /** Running VMs and the bricks their disk file lies on (Gluster's pathinfo). */
  runningVms?: { vm: string; file: string; bricks: string[] }[];
  stopVms?: boolean;
}

export interface RemovalDecision {
  nodes: string[];
  /** Why it must not be done; empty when it may. */
  refusals: string[];
  /** What would be done, in order, one line each. */
  actions: string[];
  /** Per replicated volume, the bricks `remove-brick` takes out (whole replica sets). */
  removeBricks: { volume: string; bricks: string[] }[];
  /** HA members to drain and take out of corosync/Pacemaker. */
  haMembers: string[];
  /** VMs to stop while their disk moves (only with stopVms). */
  stopVms: string[];
}

export interface RemovalProgress {
  id: string;
  nodes: string[];
  phase: RemovalPhase;
  running: boolean;
  /** Progress lines so far (the CLI prints those after `since`). */
  lines: string[];
  error?: string;
  done: boolean;
}

/** The answer to `start`/`check`/`status`. */
export type RemovalAnswer =
  | { kind: 'refused'; decision: RemovalDecision }
  | { kind: 'plan'; decision: RemovalDecision; recorded?: { nodes: string[]; phase: RemovalPhase } }
  | { kind: 'progress'; progress: RemovalProgress }
  | { kind: 'none' };
