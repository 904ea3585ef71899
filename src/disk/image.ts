// One node's disk: GPT (BIOS boot + ESP + root ext4) in a sparse raw file on a loop device,
// the cached base tree unpacked into it, the node's files and users on top, GRUB for BIOS
// (i386-pc in the BIOS boot partition) and UEFI (removable path EFI/BOOT/BOOTX64.EFI).
import { existsSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile, chmod, chown, truncate } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { NodePlan, Plan } from '../../core/plan-types.js';
import { LATE_GROUPS } from '../render/preseed.js';
import type { NodeFilesContext } from '../build/context.js';
import { run } from '../util/exec.js';
import type { Progress } from '../util/progress.js';
import { attachLoop, CHROOT_ENV, chrootOut, inChroot, mount, mountSystem, removeTree, runLines, Teardown } from './host.js';
import { diskIdentity, type DiskIdentity } from './ids.js';
import { DISABLED_UNITS, ENABLED_UNITS, nodeDiskFiles } from './node-files.js';
import { removePerMachineFiles } from './rootfs.js';

export const BIOS_BOOT_MIB = 1;
export const ESP_MIB = 255;

export interface NodeImageRequest extends NodeFilesContext {
  node: NodePlan;
  epoch: number;
  rootfsTarball: string;
  rawPath: string;
  sizeBytes: number;
  workDir: string;
  progress: Progress;
  kernelOpts?: string;
}

async function partition(raw: string, sizeBytes: number, ids: DiskIdentity): Promise<void> {
  await rm(raw, { force: true });
  await writeFile(raw, '', { mode: 0o600 });
  await truncate(raw, sizeBytes);
  await run('sgdisk', [
    '--zap-all', `--disk-guid=${ids.diskGuid}`,
    '-n', `1:2048:+${BIOS_BOOT_MIB}M`, '-t', '1:EF02', '-c', '1:bios-boot', '-u', `1:${ids.partGuids[0]}`,
    '-n', `2:0:+${ESP_MIB}M`, '-t', '2:EF00', '-c', '2:esp', '-u', `2:${ids.partGuids[1]}`,
    '-n', '3:0:0', '-t', '3:8304', '-c', '3:root', '-u', `3:${ids.partGuids[2]}`,
    raw,
  ]);
}

async function writeNodeFiles(root: string, req: NodeImageRequest, ids: DiskIdentity): Promise<void> {
  for (const f of nodeDiskFiles({ plan: req.plan, node: req.node, joinKey: req.joinKey, agent: req.agent, ids, kernelOpts: req.kernelOpts })) {
    const p = join(root, f.path);
    await mkdir(dirname(p), { recursive: true });
    await rm(p, { force: true }); // may be a symlink (resolv.conf) in the base tree
    await writeFile(p, f.content, { mode: f.mode });
    await chmod(p, f.mode);
  }
  await mkdir(join(root, 'var/lib/personal-cloud'), { recursive: true, mode: 0o700 });
  await chmod(join(root, 'var/lib/personal-cloud'), 0o700);
}

async function ids(root: string, user: string): Promise<{ uid: number; gid: number; home: string } | null> {
  const out = await chrootOut(root, ['getent', 'passwd', user]).catch(() => '');
  if (!out) return null;
  const f = out.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]), home: f[5] };
}

/** The same accounts late.sh and user-setup make: hashes from the plan, groups, SSH keys. */
async function configureUsers(root: string, plan: Plan): Promise<void> {
  const chpasswd = (line: string) => run('chroot', [root, 'chpasswd', '-e'], { input: `${line}\n`, env: CHROOT_ENV, extendEnv: false });
  if (plan.root.passwordHash) await chpasswd(`root:${plan.root.passwordHash}`);
  else await run('chroot', [root, 'passwd', '--lock', 'root'], { env: CHROOT_ENV, extendEnv: false });
  for (const [i, u] of plan.users.entries()) {
    if (!(await ids(root, u.name))) await run('chroot', [root, 'useradd', '--create-home', '--shell', '/bin/bash', '--comment', u.fullName, u.name], { env: CHROOT_ENV, extendEnv: false });
    await chpasswd(`${u.name}:${u.passwordHash}`);
    // user-setup puts the first user in sudo when root login is disabled
    const groups = i === 0 && !plan.root.passwordHash && !u.groups.includes('sudo') ? [...u.groups, 'sudo'] : u.groups;
    for (const g of groups) {
      const exists = await chrootOut(root, ['getent', 'group', g]).then(() => true, () => false);
      if (exists) await run('chroot', [root, 'usermod', '-aG', g, u.name], { env: CHROOT_ENV, extendEnv: false });
      else if (!LATE_GROUPS.includes(g)) throw new Error(`group '${g}' of user ${u.name} does not exist in the image`);
    }
    const who = (await ids(root, u.name))!;
    const ssh = join(root, who.home, '.ssh');
    await mkdir(ssh, { recursive: true, mode: 0o700 });
    await chmod(ssh, 0o700);
    await chown(ssh, who.uid, who.gid);
    if (u.sshKeys.length) {
      const ak = join(ssh, 'authorized_keys');
      await writeFile(ak, u.sshKeys.map((k) => `${k}\n`).join(''), { mode: 0o600 });
      await chmod(ak, 0o600);
      await chown(ak, who.uid, who.gid);
    }
  }
}

async function uuidLink(td: Teardown, uuid: string, device: string): Promise<void> {
  const link = `/dev/disk/by-uuid/${uuid}`;
  if (existsSync(link)) return;
  await mkdir('/dev/disk/by-uuid', { recursive: true });
  await symlink(device, link);
  td.add(`rm ${link}`, () => rmSync(link, { force: true }));
}

/** Modules built into the UEFI GRUB image: enough to find the root filesystem and read grub.cfg there. */
const EFI_MODULES = ['part_gpt', 'part_msdos', 'ext2', 'fat', 'search', 'search_fs_uuid', 'configfile', 'normal', 'linux', 'echo', 'serial', 'terminfo', 'test', 'efi_gop', 'all_video'];

/**
 * UEFI GRUB on the removable path (EFI/BOOT/BOOTX64.EFI) — what grub-install --removable does,
 * without mounting the ESP: build hosts may have no vfat in their kernel, so the FAT is written
 * with mtools. The image finds the root by UUID and reads /boot/grub/grub.cfg (update-grub's).
 */
async function installEfiGrub(root: string, espDevice: string, rootUuid: string): Promise<void> {
  const early = join(root, 'tmp/personal-cloud-early.cfg');
  await writeFile(early, `search --no-floppy --fs-uuid --set=root ${rootUuid}\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n`);
  await mkdir(join(root, 'boot/grub/x86_64-efi'), { recursive: true });
  await inChroot(root, ['sh', '-c', 'cp /usr/lib/grub/x86_64-efi/*.mod /usr/lib/grub/x86_64-efi/*.lst /boot/grub/x86_64-efi/']);
  await inChroot(root, ['grub-mkimage', '-O', 'x86_64-efi', '-o', '/tmp/BOOTX64.EFI', '-p', '/boot/grub', '-c', '/tmp/personal-cloud-early.cfg', ...EFI_MODULES]);
  await run('mmd', ['-i', espDevice, '::/EFI', '::/EFI/BOOT']);
  await run('mcopy', ['-i', espDevice, join(root, 'tmp/BOOTX64.EFI'), '::/EFI/BOOT/BOOTX64.EFI']);
  await rm(join(root, 'tmp/BOOTX64.EFI'));
  await rm(early);
}

export interface NodeImageResult { rawPath: string; ids: DiskIdentity; seconds: number }

export async function buildNodeImage(req: NodeImageRequest): Promise<NodeImageResult> {
  const t0 = Date.now();
  const { plan, node, progress } = req;
  const id = diskIdentity(plan.cluster.keyId, node.name);
  const td = new Teardown();
  const mnt = await mkdtemp(join(req.workDir, `${node.name}-root-`));
  try {
    progress.step(`${node.name}: partitioning ${(req.sizeBytes / 2 ** 30).toFixed(1)} GiB (GPT: BIOS boot, ESP, root)`);
    await partition(req.rawPath, req.sizeBytes, id);
    const loop = await attachLoop(td, req.rawPath, 3);
    await run('mkfs.vfat', ['-F', '32', '-n', 'EFI', '-i', id.espVolumeId.replace('-', ''), `${loop}p2`]);
    await run('mkfs.ext4', ['-q', '-F', '-L', 'root', '-U', id.rootUuid, '-E', `hash_seed=${id.rootUuid}`, `${loop}p3`], { env: { E2FSPROGS_FAKE_TIME: String(req.epoch) } });
    await mount(td, [`${loop}p3`], mnt);

    progress.step(`${node.name}: unpacking the base tree`);
    await runLines('tar', ['--extract', '--file', req.rootfsTarball, '--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '-C', mnt], () => {});
    await removePerMachineFiles(mnt);
    await mkdir(join(mnt, 'boot/efi'), { recursive: true });

    progress.step(`${node.name}: hostname, network, users, agent`);
    await writeNodeFiles(mnt, req, id);
    await run('ln', ['-sfn', `/usr/share/zoneinfo/${plan.cluster.timezone}`, join(mnt, 'etc/localtime')]);
    await mountSystem(td, mnt);
    await configureUsers(mnt, plan);
    await inChroot(mnt, ['locale-gen']);
    await inChroot(mnt, ['systemctl', 'enable', ...ENABLED_UNITS]);
    const present = DISABLED_UNITS.filter((u) => existsSync(join(mnt, 'usr/lib/systemd/system', u)) || existsSync(join(mnt, 'lib/systemd/system', u)));
    if (present.length) await inChroot(mnt, ['systemctl', 'disable', ...present]);

    progress.step(`${node.name}: GRUB for BIOS and UEFI`);
    await inChroot(mnt, ['grub-install', '--target=i386-pc', '--boot-directory=/boot', loop]);
    await installEfiGrub(mnt, `${loop}p2`, id.rootUuid);
    // grub-mkconfig writes root=UUID=… only when /dev/disk/by-uuid/UUID exists (udev makes it;
    // build hosts and containers may run no udev): provide the link while it runs.
    await uuidLink(td, id.rootUuid, `${loop}p3`);
    await inChroot(mnt, ['update-grub']);
    const cfg = await readFile(join(mnt, 'boot/grub/grub.cfg'), 'utf8');
    if (!cfg.includes(`root=UUID=${id.rootUuid}`)) throw new Error(`grub.cfg does not boot root=UUID=${id.rootUuid}`);
    await run('sync', []);
    const errors = td.releaseAll();
    if (errors.length) throw new Error(`releasing the image: ${errors.join('; ')}`);
  } finally {
    td.releaseAll();
    await removeTree(mnt).catch(() => undefined);
  }
  return { rawPath: req.rawPath, ids: id, seconds: (Date.now() - t0) / 1000 };
}
