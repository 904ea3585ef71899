// A backup run: the run lock, the cleanup of an interrupted run, each VM in turn (one failing
// VM does not stop the others), prune with the configured retention, compact, the offsite copy,
// and the shared record that `status` and the Prometheus textfile read.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promText, type BackupRecord, type VmBackupResult } from '../../core/backup.js';
import type { AgentPlan } from '../../core/plan-types.js';
import { run } from '../exec.js';
import { writeDurable } from '../fsx.js';
import { crmMon } from '../ha/pcmk.js';
import { log } from '../log.js';
import { vmList } from '../virt/vm.js';
import { borg, borgFor, ensureRepo, type Borg } from './borg.js';
import { RunLock, stateDir, type RunMarker } from './marker.js';
import { backupVm, backupVmFromSnapshot, commitOverlay } from './vm-backup.js';
import { dropSnapshot, snapshotUnusableWhy, sweepSnapshots, takeSnapshot, thawAll, type TakenSnapshot } from './gluster-snapshot.js';
import { notThinWhy, snapVmRoot } from './snapshot-plan.js';

export const PROM_FILE = '/var/lib/prometheus/node-exporter/personal_cloud_backup.prom';

/** How the run took its point in time: one gluster snapshot of gv0, or each VM on its own (and why). */
export interface PointInTime { method: 'gluster-snapshot' | 'per-vm'; snapshot?: string; seconds?: number; createSeconds?: number; quiesced?: string[]; why?: string }

export interface RunResult { node: string; cleaned: string[]; pointInTime?: PointInTime; results: VmBackupResult[]; pruned?: string; offsite?: string; repoInitialized?: boolean; problems: string[] }

export interface RunContext { plan: AgentPlan; self: string; joinKey: string; agentStateDir: string }

export const recordPath = (plan: AgentPlan) => join(stateDir(plan), 'record.json');

export async function readRecord(plan: AgentPlan): Promise<BackupRecord> {
  try { return JSON.parse(await readFile(recordPath(plan), 'utf8')); } catch { return { vms: {} }; }
}

/** Writes the textfile collector's file on this node (atomically: node-exporter never reads half a file). */
export async function writeProm(rec: BackupRecord): Promise<void> {
  await writeDurable(PROM_FILE, promText(rec)).catch((e) => log.warn(`${PROM_FILE}: ${(e as Error).message}`));
}

/** Undoes what an interrupted run left: overlays committed back, borg's lock broken; each step said. */
export async function cleanUp(ctx: RunContext, b: Borg, stale: RunMarker): Promise<string[]> {
  const said: string[] = [];
  const vms = [...new Set([...stale.overlays.map((o) => o.vm), ...(stale.frozen ?? []).map((f) => f.vm)])];
  // guests frozen for a snapshot are thawed first: they stand still until then
  const thawFailed = await thawAll(stale.frozen ?? [], ctx.self);
  if (stale.frozen?.length) said.push(`thawed the filesystems of ${stale.frozen.map((f) => `${f.vm} (on ${f.node})`).join(', ')}, frozen for its snapshot`);
  said.push(...thawFailed.map((t) => `could not thaw: ${t}`));
  if (stale.snapshot) {
    try { said.push(...await dropSnapshot(stale.snapshot, ctx.self)); } catch (e) { said.push(`could not remove gluster snapshot ${stale.snapshot.name}: ${(e as Error).message}`); }
  }
  for (const o of stale.overlays) {
    try { said.push(await commitOverlay(ctx.plan, ctx.self, o)); } catch (e) { said.push(`could not commit ${o.vm}'s overlay ${o.file}: ${(e as Error).message}`); }
  }
  await borg(b, ['break-lock', b.repo], { allowFail: true, timeoutMs: 120_000 });
  said.unshift(`cleaned up after an interrupted backup${vms.length ? ` of ${vms.join(', ')}` : ''} (${stale.what}, started on ${stale.node} at ${stale.startedAt}, last heard of ${stale.heartbeatAt})`);
  said.push('broke the repository lock the interrupted run held');
  return said;
}

export async function backupRun(ctx: RunContext, only: string[] | undefined, onProgress: (m: RunMarker['progress']) => void = () => undefined): Promise<RunResult> {
  const { plan, self } = ctx;
  if (!plan.backup) throw new Error('backups are not configured (no backup: section in cluster.yaml)');
  const b = await borgFor(plan, ctx.joinKey, ctx.agentStateDir);
  const all = vmList(await crmMon()).map((v) => v.name);
  const missing = (only ?? []).filter((v) => !all.includes(v));
  if (missing.length) throw new Error(`no VM named ${missing.join(', ')} (VMs: ${all.join(', ') || 'none'})`);
  const vms = only?.length ? only : all;
  const { lock, stale } = await RunLock.acquire(plan, self, `backup of ${vms.join(', ') || 'no VM'}`);
  try {
    const cleaned = stale ? await cleanUp(ctx, b, stale) : [];
    lock.m.overlays = [];
    lock.m.frozen = [];
    lock.m.snapshot = undefined;
    // by name: a snapshot or mount of a run whose marker was lost (or a cleanup that failed)
    cleaned.push(...await sweepSnapshots(plan));
    for (const c of cleaned) log.warn(`backup: ${c}`);
    const repoInitialized = await ensureRepo(b, plan.backup.encryption);
    const results: VmBackupResult[] = [];
    const problems: string[] = [];
    // one gluster snapshot of gv0 for all VMs where its bricks are thin LVM; else (or when it cannot be taken) each VM on its own
    const thinWhy = notThinWhy(plan);
    let why = vms.length ? thinWhy ?? await snapshotUnusableWhy(plan) : 'no VM to back up';
    let snap: TakenSnapshot | undefined;
    if (!why) {
      lock.m.progress = { phase: 'snapshot' }; onProgress(lock.m.progress);
      try { snap = await takeSnapshot(plan, self, lock, vms, new Date()); } catch (e) { why = `the gluster snapshot failed: ${(e as Error).message}`; }
    }
    const fallback = thinWhy ? undefined : why;
    if (fallback) log.warn(`backup: no gluster snapshot this run, each VM on its own: ${fallback}`);
    const pointInTime: PointInTime = snap
      ? { method: 'gluster-snapshot', snapshot: snap.name, seconds: snap.seconds, createSeconds: snap.createSeconds, quiesced: snap.quiesced }
      : { method: 'per-vm', ...(why ? { why } : {}) };
    if (snap) log.info(`backup: gluster snapshot ${snap.name} of gv0 taken in ${snap.seconds.toFixed(1)} s (create ${snap.createSeconds.toFixed(1)} s)${snap.quiesced.length ? `, ${snap.quiesced.join(', ')} frozen around it` : ''}; mounted on ${snap.mount}`);
    try {
    for (const [i, vm] of vms.entries()) {
      const progress = (bytes?: number) => { lock.m.progress = { vm, phase: 'backup', done: i, of: vms.length, ...(bytes ? { bytes } : {}) }; onProgress(lock.m.progress); };
      progress();
      let r: VmBackupResult;
      const t0 = Date.now();
      try {
        r = snap
          ? await backupVmFromSnapshot(plan, self, b, { name: snap.name, at: snap.at, vmRoot: snapVmRoot(plan, snap.mount), quiesced: snap.quiesced.includes(vm) }, vm, progress)
          : { ...await backupVm(plan, self, b, lock, vm, progress), ...(fallback ? { fallback } : {}) };
        log.info(`backup: ${vm} → ${r.archive} (${r.method}, ${r.seconds.toFixed(1)} s, ${((r.originalBytes ?? 0) / 1e6).toFixed(1)} MB read, ${((r.addedBytes ?? 0) / 1e6).toFixed(1)} MB added)`);
      } catch (e) {
        r = { vm, ok: false, at: new Date(t0).toISOString(), seconds: (Date.now() - t0) / 1000, node: self, error: (e as Error).message, ...(fallback ? { fallback } : {}) };
        log.warn(`backup of ${vm} failed: ${r.error}`);
      }
      results.push(r);
      const rec = await readRecord(plan);
      rec.vms[vm] = { last: r, ...(r.ok ? { lastOk: r } : rec.vms[vm]?.lastOk ? { lastOk: rec.vms[vm].lastOk } : {}) };
      await writeDurable(recordPath(plan), `${JSON.stringify(rec, null, 2)}\n`);
    }
    } finally {
      if (snap) {
        lock.m.progress = { phase: 'snapshot removal' }; onProgress(lock.m.progress);
        // when this fails the next run's sweep finds the snapshot by its prefix, removes it and says so
        try { await dropSnapshot(snap, self); lock.m.snapshot = undefined; await lock.save(); } catch (e) { problems.push(`removing gluster snapshot ${snap.name} FAILED: ${(e as Error).message}`); log.warn(`backup: ${problems.at(-1)}`); }
      }
    }
    lock.m.progress = { phase: 'prune' }; onProgress(lock.m.progress);
    // prune/compact failing (e.g. the volume too full for compact's transaction) does not undo the archives just made
    const pruned = await prune(b, plan).catch((e: Error) => { problems.push(`prune/compact FAILED: ${e.message}`); log.warn(`backup: ${problems.at(-1)}`); return undefined; });
    let offsite: string | undefined;
    if (plan.backup.offsite) {
      lock.m.progress = { phase: 'offsite' }; onProgress(lock.m.progress);
      offsite = await syncOffsite(plan).catch((e: Error) => { problems.push(`offsite copy FAILED: ${e.message}`); return undefined; });
    }
    await writeProm(await readRecord(plan));
    return { node: self, cleaned, pointInTime, results, ...(pruned ? { pruned } : {}), ...(offsite ? { offsite } : {}), ...(repoInitialized ? { repoInitialized } : {}), problems };
  } finally {
    await lock.release();
  }
}

/** borg prune per VM (archive prefix NAME.) with the configured retention, then compact to free the space. */
async function prune(b: Borg, plan: AgentPlan): Promise<string> {
  const names = (await borg(b, ['list', '--short', b.repo], { timeoutMs: 600_000 })).stdout.split('\n').filter(Boolean);
  const vms = [...new Set(names.map((n) => n.split('.')[0]))];
  const k = plan.backup!.retention;
  let removed = 0;
  for (const vm of vms) {
    const r = await borg(b, ['prune', '--list', '--glob-archives', `${vm}.*`, `--keep-daily=${k.daily}`, `--keep-weekly=${k.weekly}`, `--keep-monthly=${k.monthly}`, b.repo], { timeoutMs: 3600_000 });
    removed += (r.stderr.match(/^Pruning archive/gm) ?? []).length;
  }
  await borg(b, ['compact', b.repo], { timeoutMs: 6 * 3600_000 });
  return `pruned ${removed} archive${removed === 1 ? '' : 's'} (keep daily ${k.daily}, weekly ${k.weekly}, monthly ${k.monthly})`;
}

async function syncOffsite(plan: AgentPlan): Promise<string> {
  const conf = '/etc/personal-cloud/rclone.conf';
  if (plan.backup!.repository.startsWith('ssh://')) return 'offsite copy skipped: the repository is remote already (ssh)';
  const r = await run('rclone', ['--config', conf, 'sync', plan.backup!.repository, plan.backup!.offsite!], { allowFail: true, timeoutMs: 24 * 3600_000 });
  if (r.code !== 0) throw new Error(`rclone sync to ${plan.backup!.offsite}: ${(r.stderr || r.stdout).trim().split('\n').slice(-1)[0]}`);
  return `synced to ${plan.backup!.offsite}`;
}
