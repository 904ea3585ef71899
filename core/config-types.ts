// The cluster description after validation and defaulting: every field present, every
// default applied. This is the contract between `config/` (loads + validates cluster.yaml)
// and `plan/` (derives per-node facts). The YAML spelling is snake_case; these are the
// same names in camelCase.
import type { EncryptionConfig } from './encryption-policy.js';

export type Release = 'trixie' | 'bookworm';
export const RELEASES: Record<Release, { version: 12 | 13; nodejs: string }> = {
  bookworm: { version: 12, nodejs: '18' },
  trixie: { version: 13, nodejs: '20' },
};

/** Selects a disk by a stable identifier or by a filter, never by /dev/sdX alone. */
export type DiskSelector =
  | { id: string; wipe: boolean }
  | { match: DiskMatch; wipe: boolean };

export interface DiskMatch {
  /** e.g. ">=500G", "<=2T", "100G-200G" — parsed into bytes. */
  minBytes?: number;
  maxBytes?: number;
  /** shell-style globs (*, ?) matched against /sys/block/X/device/{model,serial}. */
  model?: string;
  serial?: string;
  /** rotational (hdd) or not (ssd/nvme). */
  type?: 'ssd' | 'hdd';
}

export type VolumeName = 'gv0' | 'gv1' | 'bmv0';

export interface NodeDisks {
  os: DiskSelector;
  /** Brick disks per volume. gv0: one per data node; gv1: two per node; bmv0: local, optional. */
  gv0: DiskSelector[];
  gv1: DiskSelector[];
  bmv0: DiskSelector[];
}

export type NodeAddress =
  | { dhcp: true }
  | { dhcp: false; address: string; prefix: number; gateway?: string; dns: string[] };

export interface NodeConfig {
  name: string;
  network: NodeAddress;
  mac?: string; // lower-case aa:bb:cc:dd:ee:ff
  /** Holds only arbiter bricks (replica 2 + arbiter clusters). */
  arbiter: boolean;
  disks: NodeDisks;
  /** corosync's second ring (knet link 1) on a second network. */
  ring1Address?: string;
  /** Baseboard management controller for fence_ipmilan. */
  bmc?: { address: string; user: string; password: string };
}

export interface UserConfig {
  name: string;
  fullName: string;
  /** crypt(3) hash: $6$ (sha512crypt), $y$ (yescrypt), $5$, $2b$. Never plaintext. */
  passwordHash: string;
  sshKeys: string[];
  groups: string[];
}

/**
 * How a brick disk is laid out: `lvm-thin` as the how-to does (VG, thin pool, thin LV, XFS), or
 * `xfs` straight on the disk (for hosts without device-mapper, e.g. the namespace test harness).
 */
export type BrickLayout = 'lvm-thin' | 'xfs';

export interface VolumeConfig {
  enabled: boolean;
  /** Bricks each data node contributes to this volume. */
  bricksPerNode: number;
  brickLayout: BrickLayout;
}

export interface ClusterConfig {
  name: string;
  domain: string;
  release: Release;
  /** 3, or 2 (then one node, or every third brick, is an arbiter). */
  replica: 2 | 3;
  /** The join token; raw form stays on the admin machine — images carry derived keys only. */
  secret: string;
  locale: string;
  keyboard: string;
  timezone: string;
  ntp: string[];
  mirror: { url: string; proxy?: string; securityUrl: string };
  root: { passwordHash?: string }; // undefined = root login disabled
  users: UserConfig[];
  /** Brick encryption (LUKS2 + clevis); absent = bricks in clear. */
  encryption?: EncryptionConfig;
  volumes: Record<VolumeName, VolumeConfig>;
  nodes: NodeConfig[];
  /** HA VM stack (corosync, pacemaker, fencing, bridges); absent = defaults (see plan/ha.ts). */
  ha?: HaConfig;
  /** VM backups into BorgBackup (core/backup.ts); absent = no backups. */
  backup?: BackupConfig;
}

export type { BackupPlan as BackupConfig } from './backup.js';
import type { BackupPlan as BackupConfig } from './backup.js';

/**
 * How a node that stops answering is fenced before its VMs restart elsewhere.
 * `sbd`: diskless SBD with each node's hardware watchdog (3+ nodes); `ipmi`: fence_ipmilan on
 * each node's BMC; `agent`: any fence agent (fence_*) with parameters (the test harness uses
 * one that powers off a simulated node); `none-unsafe`: no fencing — a node that only looks
 * dead may still write to a VM disk that another node has restarted (disk corruption).
 */
export type FencingConfig =
  | { kind: 'sbd'; watchdog: string }
  | { kind: 'ipmi' }
  | { kind: 'agent'; agent: string; params: Record<string, string> }
  | { kind: 'none-unsafe' };

/** An Open vSwitch bridge: on a NIC (br0), a standalone one (wan0), or a VLAN fake bridge on a parent. */
export interface BridgeConfig {
  name: string;
  nic?: string;
  parent?: string;
  vlan?: number;
}

export interface HaConfig {
  enabled: boolean;
  fencing: FencingConfig;
  /**
   * corosync-qnetd on a small third box: the tie-breaker vote of a 2-node cluster. `node`: the
   * node of the cluster that `host` names (the arbiter) — its agent runs corosync-qnetd and
   * signs the members' certificates, and it is no corosync member itself.
   */
  qdevice?: { host: string; node?: string };
  bridges: BridgeConfig[];
}
