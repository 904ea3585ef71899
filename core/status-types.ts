// What an agent reports about itself: `personal-cloud-agent status --json`, the `status`
// operation of the authenticated channel, and `personal-cloud status` on the admin machine.

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
}
