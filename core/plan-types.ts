// The plan: every per-node fact the renderers and the image writers need, derived once from a
// validated ClusterConfig. It holds no raw secret, but it does hold the users' password hashes:
// the agent gets only `AgentPlan` (core/agent-plan.ts) as /etc/personal-cloud/cluster.json.
import type { EncryptionConfig } from './encryption-policy.js';
import type { Sealed } from './seal.js';
import type { BackupPlan } from './backup.js';
import type { BrickLayout, BridgeConfig, DiskSelector, NodeAddress, Release, UserConfig, VolumeName } from './config-types.js';

export interface BrickPlan {
  volume: VolumeName;
  /** 1-based per node and volume: brick1, brick2, … */
  index: number;
  disk: DiskSelector;
  layout: BrickLayout;
  /** LVM names are unique per node because device-mapper names are global on a host. */
  vg: string;
  thinPool: string;
  lv: string;
  /** XFS mount point, e.g. /data/glusterfs/gv0/brick1 */
  mountPoint: string;
  /** The brick directory inside the mount, e.g. /data/glusterfs/gv0/brick1/brick */
  path: string;
  arbiter: boolean;
}

export interface NodePlan {
  name: string;
  fqdn: string;
  network: NodeAddress;
  mac?: string;
  arbiter: boolean;
  osDisk: DiskSelector;
  bricks: BrickPlan[];
  /** corosync nodeid: the node's 1-based position in the plan (scale-out only appends). */
  nodeId?: number;
  ring1Address?: string;
  bmc?: { address: string; user: string };
}

export interface VolumeBrickRef {
  node: string;
  path: string;
  arbiter: boolean;
}

export interface VolumePlan {
  name: VolumeName;
  /** replicated volumes span nodes; `local` is a plain per-node XFS volume (bmv0). */
  kind: 'replicated' | 'local';
  replica: number;
  /** 1 for `replica 3 arbiter 1` layouts, else 0. */
  arbiterCount: number;
  /** Bricks in `gluster volume create` order: consecutive groups of `replica` are one set. */
  bricks: VolumeBrickRef[];
  mountPoint: string; // /mnt/gv0
  /** Folders created on the mounted volume, owned by libvirt-qemu, mode 0770. */
  folders: string[];
  options: Record<string, string>;
}

export interface Plan {
  schemaVersion: 1;
  cluster: {
    name: string;
    domain: string;
    release: Release;
    releaseVersion: 12 | 13;
    replica: 2 | 3;
    locale: string;
    keyboard: string;
    timezone: string;
    ntp: string[];
    mirror: { url: string; proxy?: string; securityUrl: string };
    /**
     * Brick encryption policy; absent = bricks in clear. `recoveryKey`: the X25519 public key
     * (base64url) each brick's recovery passphrase is sealed to; only the admin's CLI derives
     * its private half, from the cluster secret (core/recovery-key.ts).
     */
    encryption?: EncryptionConfig & { recoveryKey: string };
    /** Public fingerprint of the join key: lets a node tell "wrong cluster" from "wrong key". */
    keyId: string;
  };
  /** Debian packages every node gets: the preseed and the disk image read this one list. */
  packages: string[];
  root: { passwordHash?: string };
  users: UserConfig[];
  nodes: NodePlan[];
  volumes: VolumePlan[];
  /** The HA VM stack; absent in plans written before it existed (then: no HA step work). */
  ha?: HaPlan;
  /** VM backups (BorgBackup); absent = none configured. */
  backup?: BackupPlan;
}

export type FencingPlan =
  | { kind: 'sbd'; watchdog: string; watchdogTimeoutS: number }
  /** passwords: {node: BMC password} as JSON, sealed with the join key (firstboot/ha/seal.ts). */
  | { kind: 'ipmi'; passwords: Sealed }
  | { kind: 'agent'; agent: string; params: Record<string, string> }
  | { kind: 'none-unsafe' };

export interface HaPlan {
  enabled: boolean;
  fencing: FencingPlan;
  /**
   * corosync-qdevice's server. `node`: the node of the plan that runs corosync-qnetd (then `host`
   * is its address); it is no corosync member. Without `node` qnetd runs elsewhere, set up by hand.
   */
  qdevice?: { host: string; algorithm: 'ffsplit' | 'lms'; node?: string };
  /** knet links: 1, or 2 when every node has a ring1 address. */
  links: 1 | 2;
  bridges: BridgeConfig[];
  /** Where VM disks and domain XML live (on the Gluster FUSE mount, never libgfapi). */
  vmDir: string;
  /** libvirt migration transport between nodes: qemu+tls with the cluster CA. */
  migration: 'tls';
}

/** A node as the agent sees it: no install-time facts (OS disk, MAC). */
export type AgentNodePlan = Omit<NodePlan, 'mac' | 'osDisk'>;

/**
 * What the first-boot agent reads as cluster.json and peers exchange on the channel: the Plan
 * without what only the installer and the disk builder use (users and their password hashes,
 * root, packages, mirror, locale, keyboard, timezone, ntp, encryption, OS disks, MACs).
 * domain and release are kept for `personal-cloud inspect`, which reads cluster.json off a payload.
 */
export interface AgentPlan {
  schemaVersion: 1;
  cluster: Pick<Plan['cluster'], 'name' | 'domain' | 'release' | 'keyId' | 'encryption'>;
  nodes: AgentNodePlan[];
  volumes: VolumePlan[];
  ha?: HaPlan;
  backup?: BackupPlan;
}
