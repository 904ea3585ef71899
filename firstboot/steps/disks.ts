// Brick disks: refuse anything that holds data (unless `wipe: true`), then VG + thin pool +
// thin LV (layout lvm-thin) or the bare disk (layout xfs), XFS, fstab, mount, brick directory.
import { randomUUID } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import type { BrickPlan } from '../../src/plan/types.js';
import { boundary } from '../crash.js';
import { ARBITER_DISK_ID, busyDevices, fsUuid, mkfsXfsArgs, mountedAt, probeSignatures, resolveDisk, thinPoolSizes } from '../disks.js';
import { run } from '../exec.js';
import { fstabLine, setFstabLine } from '../fstab.js';
import { mountFromFstab } from '../mount.js';
import { log } from '../log.js';
import type { DiskIntent } from '../state.js';
import { NeedsAttention, type Ctx, type Step } from './step.js';

const exists = (p: string) => stat(p).then(() => true, () => false);
const onOsDisk = (b: BrickPlan) => 'id' in b.disk && b.disk.id === ARBITER_DISK_ID;
const fstabFor = (uuid: string, b: BrickPlan) => `UUID=${uuid} ${b.mountPoint} xfs inode64,noatime,nofail 0 2`;

async function brickReady(ctx: Ctx, b: BrickPlan): Promise<string | null> {
  if (onOsDisk(b)) return (await exists(b.path)) ? null : 'brick directory missing';
  const intent = ctx.state.data.disks[b.mountPoint];
  if (!intent) return 'not prepared';
  const m = await mountedAt(b.mountPoint);
  if (!m || m.fstype !== 'xfs') return 'not mounted';
  if ((await fstabLine(b.mountPoint)) !== fstabFor(intent.uuid, b)) return 'fstab entry missing';
  if (!(await exists(b.path))) return 'brick directory missing';
  return null;
}

/**
 * Where LUKS will slot in (later issue): open the encrypted container on `device` and return
 * the mapper device; the layers above stay the same. Today bricks are not encrypted.
 */
async function openEncryption(device: string): Promise<string> {
  return device;
}

async function lvmThin(b: BrickPlan, device: string): Promise<string> {
  const lv = `/dev/${b.vg}/${b.lv}`;
  const has = async (args: string[]) => (await run(args[0], args.slice(1), { allowFail: true })).code === 0;
  if (!(await has(['pvs', device]))) { await run('pvcreate', ['-y', device]); boundary('disks:pvcreate'); }
  if (!(await has(['vgs', b.vg]))) { await run('vgcreate', [b.vg, device]); boundary('disks:vgcreate'); }
  if (!(await has(['lvs', `${b.vg}/${b.thinPool}`]))) {
    const free = Number((await run('vgs', ['--noheadings', '--units', 'b', '--nosuffix', '-o', 'vg_free', b.vg])).stdout.trim());
    const { metadataBytes, dataBytes } = thinPoolSizes(free);
    await run('lvcreate', ['--type', 'thin-pool', '-L', `${dataBytes}b`, '--chunksize', '256k', '--poolmetadatasize', `${metadataBytes}b`, '--zero', 'n', '-n', b.thinPool, b.vg]);
    boundary('disks:thinpool');
  }
  if (!(await has(['lvs', `${b.vg}/${b.lv}`]))) {
    const size = Number((await run('lvs', ['--noheadings', '--units', 'b', '--nosuffix', '-o', 'lv_size', `${b.vg}/${b.thinPool}`])).stdout.trim());
    await run('lvcreate', ['--type', 'thin', '-V', `${size}b`, '--thinpool', b.thinPool, '-n', b.lv, b.vg]);
    boundary('disks:thinlv');
  }
  return lv;
}

async function prepare(ctx: Ctx, b: BrickPlan, taken: Set<string>): Promise<void> {
  if (onOsDisk(b)) { await mkdir(b.path, { recursive: true }); boundary('disks:brickdir'); return; }
  let intent: DiskIntent | undefined = ctx.state.data.disks[b.mountPoint];
  const device = intent?.device ?? await resolveDisk(b.disk, taken);
  taken.add(device);
  if (!intent) {
    const busy = await busyDevices();
    if (busy.has(device)) throw new NeedsAttention(`refusing ${device} for ${b.volume} brick${b.index}: it is in use (mounted)`);
    const sigs = await probeSignatures(device);
    if (sigs.length) {
      const what = sigs.map((s) => s.detail).join(', ');
      if (!b.disk.wipe) throw new NeedsAttention(`refusing ${device} for ${b.volume} brick${b.index}: it holds ${what}; left untouched (set wipe: true on this disk in cluster.yaml to allow erasing it)`);
      log.warn(`wiping ${device} (${what}) for ${b.volume} brick${b.index}: the config allows it (wipe: true)`);
      await run('wipefs', ['-a', device]);
      boundary('disks:wipe');
    }
    // Recorded before the first write: after a crash the half-made layout is known to be ours.
    intent = { device, uuid: randomUUID(), layout: b.layout, ...(b.layout === 'lvm-thin' ? { vg: b.vg } : {}) };
    ctx.state.data.disks[b.mountPoint] = intent;
    await ctx.state.save();
    boundary('disks:intent');
  }
  const opened = await openEncryption(intent.device);
  const target = intent.layout === 'lvm-thin' ? await lvmThin(b, opened) : opened;
  if ((await fsUuid(target)) !== intent.uuid || !(await probeSignatures(target)).some((s) => s.kind === 'xfs')) {
    if ((await mountedAt(b.mountPoint))) throw new NeedsAttention(`${b.mountPoint} is mounted but not from the disk this agent prepared`);
    await run('mkfs.xfs', mkfsXfsArgs(target, intent.uuid, `${b.volume}b${b.index}`));
    boundary('disks:mkfs');
  }
  if ((await fstabLine(b.mountPoint)) !== fstabFor(intent.uuid, b)) { await setFstabLine(b.mountPoint, fstabFor(intent.uuid, b)); boundary('disks:fstab'); }
  await mkdir(b.mountPoint, { recursive: true });
  if (!(await mountedAt(b.mountPoint))) { await mountFromFstab(b.mountPoint); boundary('disks:mount'); }
  if (!(await exists(b.path))) { await mkdir(b.path, { recursive: true }); boundary('disks:brickdir'); }
}

/** This node's prepared bricks as `node:path` (a disk that needs attention holds back only its own bricks). */
export async function readyBrickRefs(ctx: Ctx): Promise<string[]> {
  const out: string[] = [];
  for (const b of ctx.self.bricks) if (!(await brickReady(ctx, b))) out.push(`${ctx.self.name}:${b.path}`);
  return out;
}

export const disksStep: Step = {
  name: 'disks',
  async check(ctx) {
    const pending: string[] = [];
    for (const b of ctx.self.bricks) { const why = await brickReady(ctx, b); if (why) pending.push(`${b.volume} brick${b.index}: ${why}`); }
    return pending.length ? { ok: false, detail: pending.join('; ') } : { ok: true, detail: `${ctx.self.bricks.length} bricks ready` };
  },
  async apply(ctx) {
    const taken = await busyDevices();
    for (const i of Object.values(ctx.state.data.disks)) taken.add(i.device);
    const problems: string[] = [];
    for (const b of ctx.self.bricks) {
      if (!(await brickReady(ctx, b))) continue;
      try { await prepare(ctx, b, taken); } catch (e) { problems.push((e as Error).message); if (!(e instanceof NeedsAttention)) break; }
    }
    if (problems.length) throw new NeedsAttention(problems.join('; '));
  },
};
