// One VM's point in time into borg. A running VM (on whichever node) gets an external disk-only
// snapshot through that node's libvirtd — quiesced when qemu-guest-agent answers — so its disk
// file stops changing while borg reads it; the overlay is then committed back (blockcommit
// --active --pivot) where the VM runs by then (it may have live-migrated meanwhile). A stopped VM's
// disk is read as it is. The archive holds the disk(s) and the domain XML, relative to the VM folder.
import { readFile, unlink, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { archiveName, type BackupMethod, type VmBackupResult } from '../../core/backup.js';
import type { AgentPlan } from '../../core/plan-types.js';
import { run } from '../exec.js';
import { log } from '../log.js';
import { crmMon, whereRuns } from '../ha/pcmk.js';
import { vmResourceId } from '../ha/cib.js';
import { vmDir } from '../virt/vm.js';
import { borg, borgSaid, type Borg } from './borg.js';
import type { Overlay, RunLock } from './marker.js';
import { exists } from '../fsx.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const OVERLAY = 'backup-overlay.qcow2';

/** libvirt's URI for the node running a VM (TLS with the cluster's CA between nodes). */
export const libvirtUri = (node: string, self: string) => (node === self ? 'qemu:///system' : `qemu+tls://${node}/system`);

export const virsh = (uri: string, args: string[], allowFail = false, timeoutMs = 120_000) => run('virsh', ['-c', uri, ...args], { allowFail, timeoutMs });

/** Where Pacemaker has the VM now: one node, none (stopped) — waits out a live migration (two nodes, or a transition). */
export async function whereVm(name: string, timeoutMs = 240_000): Promise<string | null> {
  const id = vmResourceId(name);
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await crmMon();
    const r = s.resources.find((x) => x.id === id);
    if (!r) throw new Error(`no VM named ${name}`);
    const w = whereRuns(s, id);
    const settled = !/Migrat|Starting|Stopping/i.test(r.role);
    if (settled && w.length === 1 && r.role === 'Started') return w[0];
    if (settled && w.length === 0 && !r.active) return null;
    if (Date.now() > end) throw new Error(`${name} did not settle on one node within ${timeoutMs / 1000} s (role ${r.role} on ${w.join(',') || 'none'})`);
    await sleep(500);
  }
}

export interface DiskDev { target: string; source: string }

/** The writable file disks of a domain definition (cdroms and read-only disks are not backed up). Pure. */
export function diskSources(xml: string): DiskDev[] {
  const out: DiskDev[] = [];
  for (const d of xml.matchAll(/<disk type=['"]file['"] device=['"]disk['"][\s\S]*?<\/disk>/g)) {
    if (/<readonly\s*\/>/.test(d[0])) continue;
    const src = /<source file=['"]([^'"]+)['"]/.exec(d[0])?.[1];
    const tgt = /<target dev=['"]([^'"]+)['"]/.exec(d[0])?.[1];
    if (src && tgt) out.push({ target: tgt, source: src });
  }
  return out;
}

/** The running domain's disks, as its libvirtd has them now (an overlay shows here). */
export async function disks(uri: string, name: string): Promise<DiskDev[]> {
  return diskSources((await virsh(uri, ['dumpxml', name])).stdout);
}

export async function guestAgentAnswers(uri: string, name: string): Promise<boolean> {
  const r = await virsh(uri, ['qemu-agent-command', name, '{"execute":"guest-ping"}', '--timeout', '3'], true, 15_000);
  return r.code === 0;
}

/**
 * Commits an overlay back into its base wherever the VM runs now, and removes it. Used after each
 * backup and by the cleanup of an interrupted one; says what it did.
 */
export async function commitOverlay(plan: AgentPlan, self: string, o: Overlay): Promise<string> {
  let lastError = '';
  for (let attempt = 1; attempt <= 8; attempt++) {
    try {
      const node = await whereVm(o.vm);
      if (node) {
        const uri = libvirtUri(node, self);
        const d = (await disks(uri, o.vm)).find((x) => x.target === o.target);
        if (d?.source === o.file) {
          const r = await virsh(uri, ['blockcommit', o.vm, o.target, '--active', '--pivot', '--wait'], true, 600_000);
          if (r.code !== 0) throw new Error(`blockcommit of ${o.vm} ${o.target} on ${node}: ${(r.stderr || r.stdout).trim()}`);
          await unlink(o.file).catch(() => undefined);
          return `committed ${o.vm}'s backup overlay into ${o.base} on ${node}`;
        }
      }
      // not running on the overlay (stopped, or restarted from its definition): the overlay's writes
      // are not part of the disk the VM uses now — kept aside rather than merged into a disk that moved on
      if (await exists(o.file)) {
        const aside = `${o.file}.orphaned-${Date.now()}`;
        await rename(o.file, aside);
        return `${o.vm} no longer runs on its backup overlay: kept it as ${aside}`;
      }
      return `${o.vm}'s backup overlay was already gone`;
    } catch (e) {
      // e.g. a live migration between our look and the commit: the domain left that node, or its job lock is held
      lastError = (e as Error).message;
      log.warn(`backup: committing ${o.vm}'s overlay, attempt ${attempt}: ${lastError}`);
      await sleep(1500 * attempt);
    }
  }
  throw new Error(`could not commit ${o.vm}'s backup overlay ${o.file}: ${lastError}`);
}

/** borg create as every backup runs it (and bench-backup measures it): lz4, JSON stats, progress lines. */
export const borgCreateArgs = (repo: string, archive: string, comment: string, paths: string[]) =>
  ['create', '--json', '--progress', '--log-json', '--compression', 'lz4', '--comment', comment, `${repo}::${archive}`, ...paths];

export async function backupVm(plan: AgentPlan, self: string, b: Borg, lock: RunLock, name: string, onBytes: (n: number) => void): Promise<VmBackupResult> {
  const t0 = Date.now();
  const at = new Date();
  const dir = vmDir(plan, name);
  const xml = join(dir, `${name}.xml`);
  if (!(await exists(xml))) throw new Error(`${xml} is missing: nothing to back up`);
  const node = await whereVm(name);
  let method: BackupMethod = 'stopped-vm';
  const overlays: Overlay[] = [];
  let files: string[];
  if (node) {
    const uri = libvirtUri(node, self);
    const ds = await disks(uri, name);
    if (!ds.length) throw new Error(`${name} has no file disk to back up`);
    for (const d of ds) {
      if (!d.source.startsWith(`${dir}/`)) throw new Error(`${name}: disk ${d.target} (${d.source}) is not in ${dir}: not backed up`);
      if (d.source.endsWith(`.${OVERLAY}`)) throw new Error(`${name}: disk ${d.target} already runs on a backup overlay (${d.source}): an interrupted backup not cleaned up`);
    }
    const quiesce = await guestAgentAnswers(uri, name);
    // a new file name each run: another node's Gluster client may still see the previous overlay, just deleted
    const stamp = at.getTime();
    for (const d of ds) overlays.push({ vm: name, target: d.target, base: d.source, file: join(dir, `${d.target}.${stamp}.${OVERLAY}`) });
    lock.m.overlays.push(...overlays);
    await lock.save(); // recorded before it exists: a runner dying right after the snapshot is cleaned up
    const specs = overlays.flatMap((o) => ['--diskspec', `${o.target},snapshot=external,file=${o.file}`]);
    const args = ['snapshot-create-as', name, '--name', `pc-backup-${Date.now()}`, '--disk-only', '--atomic', '--no-metadata', ...specs];
    const r = await virsh(uri, quiesce ? [...args, '--quiesce'] : args, true);
    if (r.code !== 0) {
      lock.m.overlays = lock.m.overlays.filter((o) => !overlays.includes(o));
      await lock.save();
      throw new Error(`snapshot of ${name} on ${node}: ${(r.stderr || r.stdout).trim()}`);
    }
    method = quiesce ? 'libvirt-snapshot-quiesced' : 'libvirt-snapshot';
    files = ds.map((d) => d.source.slice(dir.length + 1));
  } else {
    const ds = diskSources(await readFile(xml, 'utf8'));
    for (const d of ds) {
      if (!d.source.startsWith(`${dir}/`)) throw new Error(`${name}: disk ${d.target} (${d.source}) is not in ${dir}: not backed up`);
      if (!(await exists(d.source))) throw new Error(`${name}: disk ${d.target} (${d.source}) is missing`);
    }
    if (!ds.length) throw new Error(`${name} has no file disk to back up`);
    files = ds.map((d) => d.source.slice(dir.length + 1));
  }
  const archive = archiveName(name, at);
  try {
    const out = await borg(b, borgCreateArgs(b.repo, archive, `method=${method} node=${node ?? '-'}`, [...files.map((f) => `${name}/${f}`), `${name}/${name}.xml`]), { cwd: plan.ha!.vmDir, allowFail: true, onProgress: (p) => { if (p.originalBytes) onBytes(p.originalBytes); } });
    // borg's warning (exit 1) that a file changed while read: fatal for a stopped VM's disk (it was started meanwhile);
    // with the snapshot the disk's data is frozen and only its inode changes (libvirt relabels the backing file when
    // the VM live-migrates), so that one warning is not a failure there
    const warnings = out.stderr.split('\n').filter((l) => l.trim());
    const frozenOk = node !== null && warnings.every((l) => /file changed while we backed it up/.test(l));
    if (out.code > 1 || (out.code === 1 && !frozenOk)) throw new Error(`borg create of ${name} (exit ${out.code}): ${await borgSaid(b, out.stderr)}`);
    if (out.code === 1) log.info(`backup: ${name}: ${warnings.join(' | ')} (the disk itself is frozen under the snapshot)`);
    const stats = JSON.parse(out.stdout).archive.stats as { original_size: number; deduplicated_size: number };
    return { vm: name, ok: true, at: at.toISOString(), seconds: (Date.now() - t0) / 1000, archive, method, node: node ?? undefined, originalBytes: stats.original_size, addedBytes: stats.deduplicated_size };
  } finally {
    for (const o of overlays) {
      await commitOverlay(plan, self, o);
      lock.m.overlays = lock.m.overlays.filter((x) => x !== o);
      await lock.save();
    }
  }
}

/**
 * One VM out of the mounted gluster snapshot of gv0: its definition and disk(s) as they were at
 * the snapshot's instant (read-only; nothing changes under borg, so any borg warning fails it).
 * The archive has the same layout as the per-VM path's: NAME/disk…, NAME/NAME.xml.
 */
export async function backupVmFromSnapshot(plan: AgentPlan, self: string, b: Borg, snap: { name: string; at: Date; vmRoot: string; quiesced: boolean }, name: string, onBytes: (n: number) => void): Promise<VmBackupResult> {
  const t0 = Date.now();
  const at = snap.at; // the instant of the snapshot: every VM's archive of the run names the same time
  const dir = vmDir(plan, name);
  const xml = join(snap.vmRoot, name, `${name}.xml`);
  if (!(await exists(xml))) throw new Error(`${name}'s definition is not in gluster snapshot ${snap.name} (${xml}): nothing to back up`);
  const ds = diskSources(await readFile(xml, 'utf8'));
  if (!ds.length) throw new Error(`${name} has no file disk to back up`);
  for (const d of ds) {
    if (!d.source.startsWith(`${dir}/`)) throw new Error(`${name}: disk ${d.target} (${d.source}) is not in ${dir}: not backed up`);
    if (!(await exists(join(snap.vmRoot, d.source.slice(plan.ha!.vmDir.length + 1))))) throw new Error(`${name}: disk ${d.target} (${d.source}) is not in gluster snapshot ${snap.name}`);
  }
  const files = ds.map((d) => d.source.slice(plan.ha!.vmDir.length + 1));
  const method: BackupMethod = snap.quiesced ? 'gluster-snapshot-quiesced' : 'gluster-snapshot';
  const archive = archiveName(name, at);
  const out = await borg(b, borgCreateArgs(b.repo, archive, `method=${method} snapshot=${snap.name} node=${self}`, [...files, `${name}/${name}.xml`]),
    { cwd: snap.vmRoot, strict: true, onProgress: (p) => { if (p.originalBytes) onBytes(p.originalBytes); } });
  const stats = JSON.parse(out.stdout).archive.stats as { original_size: number; deduplicated_size: number };
  return { vm: name, ok: true, at: at.toISOString(), seconds: (Date.now() - t0) / 1000, archive, method, snapshot: snap.name, node: self, originalBytes: stats.original_size, addedBytes: stats.deduplicated_size };
}
