// The Gluster-snapshot path (the how-to's): one `gluster snapshot create` of gv0 is the point in
// time of every VM at once, with the guests that run qemu-guest-agent frozen around it; the
// snapshot is activated and mounted read-only on the runner, borg reads the VMs from there, and
// the snapshot is unmounted, deactivated and deleted. The marker on gv0 names the snapshot and the
// frozen guests before they exist, so the cleanup of an interrupted run thaws and removes them;
// any snapshot of our prefix and any mount under SNAP_MOUNT_ROOT is removed by the next run too.
// (Shared storage — cluster.enable-shared-storage — is needed only by gluster's snapshot
// scheduler, which we do not use: the systemd timer is the schedule.)
import { mkdir, readFile } from 'node:fs/promises';
import { run, saidOneLine as said } from '../exec.js';
import { gluster, volumeStatus } from '../gluster.js';
import { log } from '../log.js';
import type { AgentPlan } from '../../core/plan-types.js';
import type { Frozen, RunLock, SnapshotRef } from './marker.js';
import { degradedWhy, notThinWhy, ourSnapshots, parseSnapshotList, SNAP_VOLUME, snapMount, snapMountsIn, snapshotName } from './snapshot-plan.js';
import { guestAgentAnswers, libvirtUri, virsh, whereVm } from './vm-backup.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** gluster's barrier holds the volume's writes for at most 2 min during a create: the guests stay frozen no longer. */
const CREATE_TIMEOUT_MS = 150_000;
const FREEZE_TIMEOUT_MS = 30_000;

/** seconds: freeze to mounted; createSeconds: `gluster snapshot create` alone (the guests' frozen time, less the freezes). */
export interface TakenSnapshot extends SnapshotRef { at: Date; quiesced: string[]; seconds: number; createSeconds: number }


/** Why this run cannot use a gluster snapshot (undefined: it can try). */
export async function snapshotUnusableWhy(plan: AgentPlan): Promise<string | undefined> {
  const thin = notThinWhy(plan);
  if (thin) return thin;
  const running = await volumeStatus(SNAP_VOLUME).catch((e: Error) => e);
  if (running instanceof Error) return `cannot tell whether ${SNAP_VOLUME}'s bricks run: ${running.message}`;
  return degradedWhy(plan, running);
}

async function thaw(f: Frozen, self: string): Promise<void> {
  let r = await virsh(libvirtUri(f.node, self), ['domfsthaw', f.vm], true, FREEZE_TIMEOUT_MS);
  if (r.code !== 0) {
    // it may have moved (live migration) or stopped since the freeze: thaw it where it runs now
    const now = await whereVm(f.vm, 60_000).catch(() => null);
    if (now && now !== f.node) r = await virsh(libvirtUri(now, self), ['domfsthaw', f.vm], true, FREEZE_TIMEOUT_MS);
  }
  if (r.code !== 0 && !/not frozen|domain is not running|failed to get domain|not running/i.test(said(r))) throw new Error(`thawing ${f.vm}'s filesystems on ${f.node}: ${said(r)}`);
}

/** Thaws every guest in the list; an error of one does not keep the others frozen. Returns what failed. */
export async function thawAll(frozen: Frozen[], self: string): Promise<string[]> {
  const failed: string[] = [];
  for (const f of frozen) await thaw(f, self).catch((e: Error) => { failed.push(e.message); log.warn(`backup: ${e.message}`); });
  return failed;
}

/**
 * Freezes the running guests that answer qemu-guest-agent, takes the snapshot, thaws them (also
 * when the create fails or times out), activates and mounts the snapshot. A failure after the
 * create removes the snapshot again before it throws.
 */
export async function takeSnapshot(plan: AgentPlan, self: string, lock: RunLock, vms: string[], at: Date): Promise<TakenSnapshot> {
  const t0 = Date.now();
  const name = snapshotName(at);
  const mount = snapMount();
  const frozen: Frozen[] = [];
  const quiesced: string[] = [];
  let createSeconds = 0;
  lock.m.snapshot = { name, node: self, mount };
  lock.m.frozen = frozen;
  await lock.save(); // named before it exists: a runner dying during the create is cleaned up after
  try {
    for (const vm of vms) {
      const node = await whereVm(vm, 60_000).catch(() => null);
      if (!node) continue;
      const uri = libvirtUri(node, self);
      if (!(await guestAgentAnswers(uri, vm))) continue;
      frozen.push({ vm, node });
      await lock.save();
      const r = await virsh(uri, ['domfsfreeze', vm], true, FREEZE_TIMEOUT_MS);
      // a guest that could not freeze is still taken crash-consistent at the same instant
      if (r.code !== 0) log.warn(`backup: freezing ${vm}'s filesystems on ${node}: ${said(r)}; it is taken crash-consistent`);
      else quiesced.push(vm);
    }
    const tc = Date.now();
    const c = await gluster(['snapshot', 'create', name, SNAP_VOLUME, 'no-timestamp', 'description', 'personal-cloud backup run'], true, CREATE_TIMEOUT_MS);
    createSeconds = (Date.now() - tc) / 1000;
    const thawFailed = await thawAll(frozen, self);
    if (c.code !== 0) throw new Error(`gluster snapshot create ${name} ${SNAP_VOLUME}: ${said(c)}`);
    if (thawFailed.length) log.warn(`backup: ${thawFailed.join('; ')}`);
  } catch (e) {
    await thawAll(frozen, self);
    lock.m.frozen = [];
    await dropSnapshot(lock.m.snapshot).catch(() => undefined);
    lock.m.snapshot = undefined;
    await lock.save();
    throw e;
  }
  lock.m.frozen = [];
  await lock.save();
  try {
    const a = await gluster(['snapshot', 'activate', name], true, 120_000);
    if (a.code !== 0 && !/already activated/i.test(said(a))) throw new Error(`gluster snapshot activate ${name}: ${said(a)}`);
    await mkdir(mount, { recursive: true, mode: 0o700 });
    // the snapshot's brick processes start with the activation: the first mounts may find none yet
    let m = { code: 1, stdout: '', stderr: '' };
    for (let i = 0; i < 10; i++) {
      m = await run('mount', ['-t', 'glusterfs', '-o', 'ro', `${self}:/snaps/${name}/${SNAP_VOLUME}`, mount], { allowFail: true, timeoutMs: 120_000 });
      if (m.code === 0) break;
      await sleep(2000);
    }
    if (m.code !== 0) throw new Error(`mounting snapshot ${name} (${self}:/snaps/${name}/${SNAP_VOLUME}) on ${mount}: ${said(m)}`);
  } catch (e) {
    await dropSnapshot(lock.m.snapshot).catch((x: Error) => log.warn(`backup: ${x.message}`));
    lock.m.snapshot = undefined;
    await lock.save();
    throw e;
  }
  return { name, node: self, mount, at, quiesced, seconds: (Date.now() - t0) / 1000, createSeconds };
}

async function unmount(mount: string): Promise<string | undefined> {
  const mounted = snapMountsIn(await readFile('/proc/mounts', 'utf8')).includes(mount);
  if (!mounted) return undefined;
  const u = await run('umount', [mount], { allowFail: true, timeoutMs: 60_000 });
  // a borg killed with the runner may still hold a file open: the lazy unmount detaches the mount now anyway
  if (u.code !== 0) await run('umount', ['-l', mount], { timeoutMs: 60_000 });
  return mount;
}

/** Unmounts (on this node), deactivates and deletes one snapshot; says what it did. */
export async function dropSnapshot(s: SnapshotRef | undefined, self?: string): Promise<string[]> {
  if (!s) return [];
  const out: string[] = [];
  if (!self || s.node === self) { const m = await unmount(s.mount); if (m) out.push(`unmounted ${m}`); }
  const l = await gluster(['snapshot', 'list', SNAP_VOLUME], true, 60_000);
  if (l.code !== 0) throw new Error(`gluster snapshot list ${SNAP_VOLUME}: ${said(l)}`);
  if (!parseSnapshotList(l.stdout).includes(s.name)) return out;
  await gluster(['snapshot', 'deactivate', s.name], true, 120_000); // "not activated" is fine
  const d = await gluster(['snapshot', 'delete', s.name], true, 300_000);
  if (d.code !== 0) throw new Error(`gluster snapshot delete ${s.name}: ${said(d)}`);
  out.push(`deleted gluster snapshot ${s.name}`);
  return out;
}

/** Snapshot mounts on this node: only a runner on this node uses them, so with none running they are stale. */
export async function sweepSnapMounts(): Promise<string[]> {
  const out: string[] = [];
  for (const m of snapMountsIn(await readFile('/proc/mounts', 'utf8').catch(() => ''))) {
    const u = await unmount(m).catch((e: Error) => { out.push(`could not unmount the stale snapshot mount ${m}: ${e.message}`); return undefined; });
    if (u) out.push(`unmounted a snapshot mount left by an interrupted run: ${u}`);
  }
  return out;
}

/**
 * What any interrupted run left (the caller holds the run lock, so nothing of this is in use):
 * snapshot mounts on this node and every gluster snapshot of our prefix. Says what it removed.
 */
export async function sweepSnapshots(plan: AgentPlan): Promise<string[]> {
  const out = await sweepSnapMounts();
  if (notThinWhy(plan)) return out;
  const l = await gluster(['snapshot', 'list', SNAP_VOLUME], true, 60_000);
  if (l.code !== 0) return out;
  for (const name of ourSnapshots(parseSnapshotList(l.stdout))) {
    await gluster(['snapshot', 'deactivate', name], true, 120_000);
    const d = await gluster(['snapshot', 'delete', name], true, 300_000);
    out.push(d.code === 0 ? `deleted gluster snapshot ${name} left by an interrupted run` : `could not delete the stale gluster snapshot ${name}: ${said(d)}`);
  }
  return out;
}
