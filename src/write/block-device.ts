import { readFile, readlink, realpath, stat } from 'node:fs/promises';
import { basename } from 'node:path';

// Facts about a block device from /sys and /proc, for write-usb's safety checks.

export interface BlockDeviceInfo {
  path: string;
  /** Kernel name of the whole disk, e.g. sdb (for a partition, its parent). */
  disk: string;
  isPartition: boolean;
  sizeBytes: number;
  removable: boolean;
  usb: boolean;
  model: string;
}

async function readSys(path: string): Promise<string> {
  return (await readFile(path, 'utf8').catch(() => '')).trim();
}

function majMin(rdev: number): string {
  // glibc's dev_t encoding; JS bit operators are 32-bit, so the high word is split off first
  const high = Math.floor(rdev / 2 ** 32);
  const low = rdev >>> 0;
  const major = ((low >>> 8) & 0xfff) | ((high & 0xfffff000) >>> 0);
  const minor = (low & 0xff) | ((low >>> 12) & 0xfff00);
  return `${major}:${minor}`;
}

/** /sys/dev/block/M:m resolves to …/block/sdb or …/block/sdb/sdb1. */
async function sysPathOf(rdev: number): Promise<string> {
  return realpath(`/sys/dev/block/${majMin(rdev)}`);
}

export async function blockDeviceInfo(path: string): Promise<BlockDeviceInfo | undefined> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isBlockDevice()) return undefined;
  const sys = await sysPathOf(st.rdev);
  const isPartition = (await readSys(`${sys}/partition`)) !== '';
  const diskSys = isPartition ? sys.replace(/\/[^/]+$/, '') : sys;
  const devLink = await readlink(`${diskSys}/device`).catch(() => '');
  const realDevice = await realpath(`${diskSys}/device`).catch(() => devLink);
  return {
    path,
    disk: basename(diskSys),
    isPartition,
    sizeBytes: Number(await readSys(`${sys}/size`)) * 512,
    removable: (await readSys(`${diskSys}/removable`)) === '1',
    usb: /\/usb\d*\//.test(realDevice),
    model: await readSys(`${diskSys}/device/model`),
  };
}

/** Whole-disk names of everything mounted (and swap): a disk in this set is in use. */
export async function disksInUse(): Promise<{ inUse: Map<string, string>; rootDisk?: string }> {
  const inUse = new Map<string, string>();
  let rootDisk: string | undefined;
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    if (f.length < 5) continue;
    const [maj, min] = f[2].split(':');
    if (maj === '0') continue; // virtual filesystems
    const sys = await realpath(`/sys/dev/block/${maj}:${min}`).catch(() => undefined);
    if (!sys) continue;
    const isPart = (await readSys(`${sys}/partition`)) !== '';
    const disk = basename(isPart ? sys.replace(/\/[^/]+$/, '') : sys);
    if (!inUse.has(disk)) inUse.set(disk, f[4]);
    if (f[4] === '/') rootDisk = disk;
  }
  const swaps = await readFile('/proc/swaps', 'utf8').catch(() => '');
  for (const line of swaps.split('\n').slice(1)) {
    const dev = line.split(/\s+/)[0];
    if (!dev) continue;
    const info = await blockDeviceInfo(dev).catch(() => undefined);
    if (info) inUse.set(info.disk, 'swap');
  }
  return { inUse, rootDisk };
}
