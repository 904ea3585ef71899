// The decisions of the Gluster-snapshot path, pure: whether gv0 can be snapshotted at all (every
// brick on its own thin LV, as the how-to lays them out), whether it can be now (every brick up:
// gluster needs them for a snapshot it can activate later), the snapshot's name and mount, where
// a VM's folder is inside the mounted snapshot, and what an interrupted run left (by name prefix).
import { relative } from 'node:path';
import type { AgentPlan } from '../../core/plan-types.js';
import type { BrickProcess } from '../gluster.js';

/** The volume the VMs live on: the one snapshot covers them all. */
export const SNAP_VOLUME = 'gv0';
/** Every snapshot the runner makes carries this prefix: anything of that name is ours to remove. */
export const SNAP_PREFIX = 'pc-backup-';
/** The runner's read-only mount of the snapshot (a fixed path: borg's files cache sees the same names each run). */
export const SNAP_MOUNT_ROOT = '/run/personal-cloud/backup-snap';
export const snapMount = (volume = SNAP_VOLUME) => `${SNAP_MOUNT_ROOT}/${volume}`;

/** `pc-backup-20261207T213000Z`: the prefix and the UTC time (gluster's own timestamp suffix is turned off). */
export const snapshotName = (at: Date) => `${SNAP_PREFIX}${at.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '')}`;

/**
 * Why gv0 cannot be snapshotted by gluster (undefined: it can). gluster snapshots are thin LVM
 * snapshots of each brick's LV; an arbiter brick is a folder on the OS disk, a `xfs` brick a bare disk.
 */
export function notThinWhy(plan: AgentPlan, volume = SNAP_VOLUME): string | undefined {
  const v = plan.volumes.find((x) => x.name === volume);
  if (!v) return `${volume} is not in the plan`;
  if (!plan.ha || !plan.ha.vmDir.startsWith(`${v.mountPoint}/`)) return `the VM folder ${plan.ha?.vmDir ?? '(none)'} is not on ${volume}`;
  const bricks = plan.nodes.flatMap((n) => n.bricks.filter((b) => b.volume === volume).map((b) => ({ node: n.name, b })));
  if (!bricks.length) return `${volume} has no brick in the plan`;
  const odd = bricks.filter(({ b }) => b.arbiter || b.layout !== 'lvm-thin')
    .map(({ node, b }) => `${node}:${b.path} (${b.arbiter ? 'arbiter folder' : b.layout})`);
  if (odd.length) return `${volume}'s bricks are not all on thin LVM: ${odd.join(', ')}`;
  return undefined;
}

/**
 * Why gv0 cannot be snapshotted now (undefined: every brick of the plan runs). A snapshot of a
 * degraded volume lacks the missing brick's LV and needs `activate force`; the per-VM path reads
 * through the FUSE mount, which a replica set serves with a brick down — so the run falls back.
 */
export function degradedWhy(plan: AgentPlan, running: BrickProcess[], volume = SNAP_VOLUME): string | undefined {
  const v = plan.volumes.find((x) => x.name === volume);
  if (!v) return `${volume} is not in the plan`;
  const up = new Set(running.filter((b) => b.online).map((b) => b.brick));
  const down = v.bricks.map((b) => `${b.node}:${b.path}`).filter((b) => !up.has(b));
  return down.length ? `${volume} is degraded (brick${down.length > 1 ? 's' : ''} not running: ${down.join(', ')}); gluster snapshots need every brick` : undefined;
}

/** `gluster snapshot list VOL` → names; "No snapshots present" is none. */
export function parseSnapshotList(out: string): string[] {
  return out.split('\n').map((l) => l.trim()).filter((l) => l && !/^No snapshots present/i.test(l));
}

/** Our snapshots among them: each one left by a run that did not finish (the caller holds the run lock). */
export const ourSnapshots = (names: string[]) => names.filter((n) => n.startsWith(SNAP_PREFIX));

/** Mount points under SNAP_MOUNT_ROOT in /proc/mounts (octal escapes of spaces decoded). */
export function snapMountsIn(procMounts: string): string[] {
  return procMounts.split('\n').map((l) => l.split(' ')[1]).filter((m): m is string => Boolean(m))
    .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === SNAP_MOUNT_ROOT || m.startsWith(`${SNAP_MOUNT_ROOT}/`));
}

/** The VMs' folder inside the mounted snapshot (/mnt/gv0/vm → MOUNT/vm). */
export function snapVmRoot(plan: AgentPlan, mount: string, volume = SNAP_VOLUME): string {
  const v = plan.volumes.find((x) => x.name === volume)!;
  return `${mount}/${relative(v.mountPoint, plan.ha!.vmDir)}`;
}
