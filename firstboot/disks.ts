// Brick disks: which device a selector means, what is already on it, and the commands that
// lay it out. Nothing here wipes a disk that carries any signature unless the selector says
// `wipe: true` — or the disk carries the signature this agent itself recorded it would write.
import { readdir, readFile, realpath } from 'node:fs/promises';
import type { DiskMatch, DiskSelector } from '../core/config-types.js';
import { run } from './exec.js';
import { readProc } from './fsx.js';

export const ARBITER_DISK_ID = 'arbiter:os-disk';

export interface Signature { kind: string; detail: string; uuid?: string }

/** Signatures blkid finds on the device itself (partition table, filesystem, LVM, LUKS). */
export async function probeSignatures(device: string): Promise<Signature[]> {
  const r = await run('blkid', ['-p', '-o', 'export', device], { allowFail: true });
  if (r.code === 2) return []; // nothing found
  if (r.code !== 0) throw new Error(`blkid -p ${device}: ${r.stderr.trim() || `exit ${r.code}`}`);
  const kv: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) { const i = line.indexOf('='); if (i > 0) kv[line.slice(0, i)] = line.slice(i + 1); }
  const out: Signature[] = [];
  if (kv.PTTYPE) out.push({ kind: 'partition-table', detail: `${kv.PTTYPE} partition table` });
  if (kv.TYPE) out.push({ kind: kv.TYPE, detail: `${kv.TYPE}${kv.UUID ? ` (UUID ${kv.UUID})` : ''}${kv.LABEL ? ` label "${kv.LABEL}"` : ''}`, ...(kv.UUID ? { uuid: kv.UUID } : {}) });
  return out;
}

async function sysText(path: string): Promise<string | undefined> {
  try { return (await readFile(path, 'utf8')).trim(); } catch { return undefined; }
}

function glob(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(value);
}

export interface BlockDevice { name: string; path: string; bytes: number; rotational: boolean; model: string; serial: string }

export async function listDisks(sysBlock = '/sys/block'): Promise<BlockDevice[]> {
  const out: BlockDevice[] = [];
  for (const name of (await readdir(sysBlock)).sort()) {
    if (/^(loop|ram|zram|dm-|sr|md|nbd)/.test(name)) continue;
    const d = `${sysBlock}/${name}`;
    out.push({
      name,
      path: `/dev/${name}`,
      bytes: Number((await sysText(`${d}/size`)) ?? 0) * 512,
      rotational: (await sysText(`${d}/queue/rotational`)) === '1',
      model: (await sysText(`${d}/device/model`)) ?? '',
      serial: (await sysText(`${d}/device/serial`)) ?? (await sysText(`${d}/serial`)) ?? '',
    });
  }
  return out;
}

export function matches(m: DiskMatch, d: BlockDevice): boolean {
  if (m.minBytes !== undefined && d.bytes < m.minBytes) return false;
  if (m.maxBytes !== undefined && d.bytes > m.maxBytes) return false;
  if (m.type === 'ssd' && d.rotational) return false;
  if (m.type === 'hdd' && !d.rotational) return false;
  if (m.model && !glob(m.model, d.model)) return false;
  if (m.serial && !glob(m.serial, d.serial)) return false;
  return true;
}

/** A disk that is not there: its device node gone, or present with no medium (size 0: an emptied slot, a detached loop). */
export async function diskGone(device: string): Promise<boolean> {
  let real: string;
  try { real = await realpath(device); } catch { return true; }
  const size = await sysText(`/sys/class/block/${real.slice(real.lastIndexOf('/') + 1)}/size`);
  return size !== undefined && Number(size) === 0;
}

/**
 * The device a selector names. `id` is a /dev/disk/by-id name or an absolute device path;
 * `match` picks the first matching disk not already taken (by another brick or the OS).
 */
export async function resolveDisk(sel: DiskSelector, taken: Set<string>, sysBlock = '/sys/block'): Promise<string> {
  if ('id' in sel) {
    const p = sel.id.startsWith('/') ? sel.id : `/dev/disk/by-id/${sel.id}`;
    try { return await realpath(p); } catch { throw new Error(`disk ${sel.id}: ${p} does not exist`); }
  }
  const all = (await listDisks(sysBlock)).filter((d) => matches(sel.match, d));
  const free = all.filter((d) => !taken.has(d.path));
  if (!free.length) throw new Error(`no free disk matches ${JSON.stringify(sel.match)} (matching: ${all.map((d) => d.path).join(', ') || 'none'})`);
  return free[0].path;
}

/** Devices holding the root filesystem or other mounted filesystems: never brick candidates. */
export async function busyDevices(): Promise<Set<string>> {
  const out = new Set<string>();
  const info = await readProc('/proc/self/mountinfo');
  for (const line of info.split('\n')) {
    const src = line.split(' - ')[1]?.split(' ')[1];
    if (src?.startsWith('/dev/')) {
      out.add(src);
      const base = /^\/dev\/((?:nvme\d+n\d+|mmcblk\d+)|[a-z]+)/.exec(src);
      if (base) out.add(`/dev/${base[1]}`);
    }
  }
  return out;
}

/** Thin pool sizing from the how-to: metadata 16 GiB, capped to fit small disks (1/64 of the VG, ≥ 64 MiB). */
export function thinPoolSizes(vgFreeBytes: number): { metadataBytes: number; dataBytes: number } {
  const MiB = 1 << 20;
  const metadata = Math.max(64 * MiB, Math.min(16 * 1024 * MiB, Math.floor(vgFreeBytes / 64 / MiB) * MiB));
  // room for the pool metadata and its spare copy (lvconvert --repair needs it), plus 4 extents slack
  const data = Math.floor((vgFreeBytes - 2 * metadata - 16 * MiB) / MiB) * MiB;
  if (data <= 0) throw new Error(`disk too small for a thin pool (${vgFreeBytes} bytes free)`);
  return { metadataBytes: metadata, dataBytes: data };
}

/** mkfs.xfs as the how-to has it; the UUID is chosen up front so a half-done mkfs is recognisably ours. */
export function mkfsXfsArgs(device: string, uuid: string, label: string): string[] {
  return ['-f', '-i', 'size=512', '-n', 'size=8192', '-m', `uuid=${uuid}`, '-L', label, device];
}

export async function mountedAt(mountPoint: string): Promise<{ fstype: string; source: string } | null> {
  const info = await readProc('/proc/self/mountinfo');
  let found: { fstype: string; source: string } | null = null;
  for (const line of info.split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!post) continue;
    const mp = pre.split(' ')[4]?.replace(/\\040/g, ' ');
    if (mp === mountPoint) { const [fstype, source] = post.split(' '); found = { fstype, source }; }
  }
  return found;
}
