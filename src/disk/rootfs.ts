// The base tree of every node disk: debootstrap (required + important, as the installer's
// base-installer) plus plan.packages and what d-i adds by itself (kernel, boot loaders,
// ifupdown). Slow (minutes), so it is cached as a tarball per (release, mirror, package list,
// recipe); node-specific files go on top of a copy. Nothing node- or cluster-specific and no
// generated secret (host keys, machine-id, glusterd UUID) is left in it.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile, chmod, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Plan } from '../../core/plan-types.js';
import type { Release } from '../../core/config-types.js';
import { sha256, sha256File } from '../util/hash.js';
import type { Progress } from '../util/progress.js';
import { aptSources } from './node-files.js';
import { inChroot, mountSystem, removeTree, runLines, Teardown } from './host.js';

/** Bump when the way the tree is made changes: old cache entries are then not reused. */
const RECIPE = 3;

/** What the Debian installer installs without being asked (base-installer, grub-installer, netcfg). */
export function imageBasePackages(release: Release): string[] {
  return [
    'linux-image-amd64', 'initramfs-tools', 'grub-efi-amd64', 'grub-pc-bin', 'efibootmgr',
    'ifupdown', release === 'bookworm' ? 'isc-dhcp-client' : 'dhcpcd-base', 'locales', 'fdisk', 'dosfstools',
  ];
}

export function rootfsPackages(plan: Plan): string[] {
  return [...new Set([...imageBasePackages(plan.cluster.release), ...plan.packages])].sort();
}

export function rootfsKey(plan: Plan): string {
  return sha256(JSON.stringify({
    recipe: RECIPE, release: plan.cluster.release, mirror: plan.cluster.mirror.url, security: plan.cluster.mirror.securityUrl,
    packages: rootfsPackages(plan),
  })).slice(0, 20);
}

export interface RootfsResult { tarball: string; key: string; sha256: string; cached: boolean; seconds: number }

/** Files that must be unique per machine: removed so every node makes its own at first boot. */
const PER_MACHINE = [
  'etc/ssh/ssh_host_*', 'var/lib/dbus/machine-id', 'var/lib/systemd/random-seed', 'var/lib/glusterd/glusterd.info',
  'etc/openvswitch/conf.db', 'etc/openvswitch/system-id.conf', 'var/lib/openvswitch/conf.db',
  // pacemaker's postinst makes a cluster key: a cached tree would hand the same one to every cluster
  'etc/pacemaker/authkey', 'etc/corosync/authkey',
];

/** Removes what must be unique per machine or cluster (also run on every node's copy). */
export async function removePerMachineFiles(root: string): Promise<void> {
  for (const pattern of PER_MACHINE) {
    const dir = join(root, pattern.slice(0, pattern.lastIndexOf('/')));
    const base = pattern.slice(pattern.lastIndexOf('/') + 1);
    if (!existsSync(dir)) continue;
    const re = new RegExp(`^${base.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
    for (const f of await readdir(dir)) if (re.test(f)) await rm(join(dir, f), { force: true });
  }
}

async function cleanTree(root: string): Promise<void> {
  await removePerMachineFiles(root);
  // empty, not absent: systemd treats an empty machine-id as "first boot" and writes a new one
  await writeFile(join(root, 'etc/machine-id'), '');
  await rm(join(root, 'usr/sbin/policy-rc.d'), { force: true });
  await rm(join(root, 'var/cache/apt/archives'), { recursive: true, force: true });
  await mkdir(join(root, 'var/cache/apt/archives/partial'), { recursive: true });
  await rm(join(root, 'var/lib/apt/lists'), { recursive: true, force: true });
  await mkdir(join(root, 'var/lib/apt/lists/partial'), { recursive: true });
  for (const d of ['var/log', 'tmp', 'var/tmp']) {
    const p = join(root, d);
    if (!existsSync(p)) continue;
    for (const f of await readdir(p)) if (d !== 'var/log' || /\.log$|\.gz$|^\w+\.\d$/.test(f)) await rm(join(p, f), { recursive: true, force: true });
  }
}

function progressLines(progress: Progress, prefix: string): (l: string) => void {
  let last = 0;
  return (line) => {
    // debootstrap: "I: Retrieving libc6 2.36-9"; apt: "Unpacking x (1.2) ...", "Setting up x (1.2) ..."
    const m = /^(I: \w+ \S+|Unpacking \S+|Setting up \S+|Get:\d+ \S+ \S+ \S+ \S+)/.exec(line);
    if (!m || Date.now() - last < 3000) return;
    last = Date.now();
    progress.step(`${prefix}: ${m[1]}`);
  };
}

/**
 * The cached base tree for this plan (tarball with xattrs and numeric owners), built when
 * missing: debootstrap from the plan's mirror, then apt-get installs the package list.
 */
export async function ensureRootfs(plan: Plan, cacheDir: string, progress: Progress): Promise<RootfsResult> {
  const key = rootfsKey(plan);
  const dir = join(cacheDir, 'rootfs');
  const tarball = join(dir, `${plan.cluster.release}-${key}.tar`);
  const sumFile = `${tarball}.sha256`;
  if (existsSync(tarball) && existsSync(sumFile)) return { tarball, key, sha256: (await readFile(sumFile, 'utf8')).trim(), cached: true, seconds: 0 };
  const t0 = Date.now();
  await mkdir(dir, { recursive: true });
  const work = join(dir, `${plan.cluster.release}-${key}.build`);
  await removeTree(work);
  await mkdir(work, { recursive: true });
  const td = new Teardown();
  try {
    const pkgs = rootfsPackages(plan);
    progress.step(`debootstrap ${plan.cluster.release} from ${plan.cluster.mirror.url} (cached afterwards as ${key})`);
    await runLines('debootstrap', ['--arch=amd64', '--components=main', '--merged-usr', plan.cluster.release, work, plan.cluster.mirror.url],
      progressLines(progress, 'debootstrap'), { ...(plan.cluster.mirror.proxy ? { http_proxy: plan.cluster.mirror.proxy } : {}) });

    await writeFile(join(work, 'etc/apt/sources.list'), aptSources(plan));
    if (plan.cluster.mirror.proxy) await writeFile(join(work, 'etc/apt/apt.conf.d/80proxy'), `Acquire::http::Proxy "${plan.cluster.mirror.proxy}";\n`);
    // No service may start inside the build chroot.
    await writeFile(join(work, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n');
    await chmod(join(work, 'usr/sbin/policy-rc.d'), 0o755);
    await writeFile(join(work, 'etc/apt/apt.conf.d/00personal-cloud-norecommends'), 'APT::Install-Recommends "false";\n');
    await mountSystem(td, work);
    progress.step(`installing ${pkgs.length} packages (plan.packages + kernel, boot loaders, ifupdown)`);
    await inChroot(work, ['apt-get', 'update'], progressLines(progress, 'apt'));
    await inChroot(work, ['apt-get', 'install', '-y', '--no-install-recommends', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold', ...pkgs],
      progressLines(progress, 'apt'));
    await inChroot(work, ['apt-get', 'clean']);
    for (const e of td.releaseAll()) throw new Error(e);
    await cleanTree(work);

    progress.step('saving the base tree to the cache');
    const tmp = `${tarball}.tmp`;
    await runLines('tar', ['--create', '--file', tmp, '--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--sort=name', '-C', work, '.'], () => {});
    await writeFile(sumFile, `${await sha256File(tmp)}\n`);
    await rename(tmp, tarball);
  } finally {
    td.releaseAll();
    await removeTree(work);
  }
  return { tarball, key, sha256: (await readFile(sumFile, 'utf8')).trim(), cached: false, seconds: (Date.now() - t0) / 1000 };
}
