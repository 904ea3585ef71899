// The edge of the disk builder: root, host tools, loop devices, mounts, chroot. Every resource
// taken is registered on a Teardown, which releases it in reverse order even after a failure
// or Ctrl-C, so a failed build leaves no mount or loop device behind.
import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import { EXIT, UserError } from '../../core/errors.js';
import { run } from '../util/exec.js';

/** host tool → the Debian package that has it */
export const DISK_TOOLS: Record<string, string> = {
  debootstrap: 'debootstrap',
  sgdisk: 'gdisk',
  losetup: 'mount',
  'mkfs.ext4': 'e2fsprogs',
  'mkfs.vfat': 'dosfstools',
  mcopy: 'mtools',
  partx: 'util-linux',
  'qemu-img': 'qemu-utils',
  tar: 'tar',
  chroot: 'coreutils',
};

export function requireRoot(what: string, uid = process.getuid?.() ?? 0): void {
  if (uid !== 0) {
    throw new UserError(`${what} needs root: it attaches loop devices, mounts filesystems and runs debootstrap/chroot`, EXIT.refused,
      'run it as root, e.g. `sudo personal-cloud build disk …`');
  }
}

export async function requireTools(tools = Object.keys(DISK_TOOLS)): Promise<void> {
  const missing: string[] = [];
  for (const t of tools) {
    const r = await execa('sh', ['-c', `command -v ${t}`], { reject: false, env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
    if (r.exitCode !== 0) missing.push(t);
  }
  if (missing.length) {
    const pkgs = [...new Set(missing.map((t) => DISK_TOOLS[t] ?? t))];
    throw new UserError(`missing tools for building disk images: ${missing.join(', ')}`, EXIT.tool, `apt-get install ${pkgs.join(' ')}`);
  }
}

/** Runs a long tool, passing each output line to `onLine`; on failure the error shows the tail. */
export async function runLines(cmd: string, args: string[], onLine: (line: string) => void, env: Record<string, string> = {}): Promise<void> {
  const tail: string[] = [];
  const p = execa(cmd, args, { reject: false, all: true, env: { ...env }, extendEnv: true, stdin: 'ignore' });
  let buf = '';
  p.all?.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).replace(/\r/g, '');
      buf = buf.slice(i + 1);
      tail.push(line);
      if (tail.length > 40) tail.shift();
      onLine(line);
    }
  });
  const r = await p;
  if (r.exitCode !== 0) {
    if ((r as { code?: string }).code === 'ENOENT') throw new UserError(`'${cmd}' is not installed`, EXIT.tool, DISK_TOOLS[cmd] ? `apt-get install ${DISK_TOOLS[cmd]}` : undefined);
    throw new UserError(`${cmd} ${args.slice(0, 3).join(' ')}… failed (exit ${r.exitCode}):\n${[...tail, buf].join('\n').trim()}`, EXIT.tool);
  }
}

type Undo = { label: string; fn: () => void };

/** Resources to release, newest first. Synchronous so it also runs from a signal handler. */
export class Teardown {
  private undo: Undo[] = [];
  private onSignal = (sig: NodeJS.Signals) => { this.releaseAll(); process.exit(sig === 'SIGINT' ? 130 : 143); };

  constructor() {
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  add(label: string, fn: () => void): void { this.undo.push({ label, fn }); }

  /** Releases the newest resource now (normal path), e.g. an unmount before the next step. */
  releaseLast(): void {
    const u = this.undo.pop();
    if (u) u.fn();
  }

  releaseAll(): string[] {
    const errors: string[] = [];
    while (this.undo.length) {
      const u = this.undo.pop()!;
      try { u.fn(); } catch (e) { errors.push(`${u.label}: ${(e as Error).message}`); }
    }
    process.removeListener('SIGINT', this.onSignal);
    process.removeListener('SIGTERM', this.onSignal);
    return errors;
  }
}

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** umount with a few retries: a just-exited chroot process may still hold the mount for a moment. */
export function umountSync(path: string): void {
  for (let i = 0; ; i++) {
    try { sh('umount', [path]); return; } catch (e) {
      if (i >= 10) { sh('umount', ['-l', path]); return; }
      execFileSync('sleep', ['0.3']);
      void e;
    }
  }
}

export async function mount(td: Teardown, args: string[], target: string): Promise<void> {
  await run('mount', [...args, target]);
  td.add(`umount ${target}`, () => umountSync(target));
}

/** /proc, /sys, /dev (and /dev/pts) inside `root`, for package scripts and grub-install. */
export async function mountSystem(td: Teardown, root: string): Promise<void> {
  await mount(td, ['-t', 'proc', 'proc'], `${root}/proc`);
  await mount(td, ['-t', 'sysfs', 'sysfs'], `${root}/sys`);
  await mount(td, ['--bind', '/dev'], `${root}/dev`);
  await mount(td, ['-t', 'devpts', '-o', 'newinstance,ptmxmode=0666', 'devpts'], `${root}/dev/pts`);
}

/**
 * A loop device with its partitions as /dev/loopNpM. Some kernels attach loop devices with
 * partscan on yet parse no partition table (this build host): then partx adds them (BLKPG).
 */
export async function attachLoop(td: Teardown, file: string, partitions: number, readOnly = false): Promise<string> {
  const { stdout } = await run('losetup', ['--find', '--show', '--partscan', ...(readOnly ? ['--read-only'] : []), file]);
  const dev = stdout.trim();
  td.add(`losetup -d ${dev}`, () => {
    try { sh('partx', ['-d', dev]); } catch { /* none added */ }
    sh('losetup', ['-d', dev]);
  });
  const { existsSync } = await import('node:fs');
  for (let i = 0; i < 10 && !existsSync(`${dev}p${partitions}`); i++) await new Promise((r) => setTimeout(r, 100));
  if (!existsSync(`${dev}p${partitions}`)) await run('partx', ['-a', dev]);
  for (let n = 1; n <= partitions; n++) await waitForDevice(`${dev}p${n}`);
  return dev;
}

/** Partition device nodes appear asynchronously after `losetup -P`. */
export async function waitForDevice(path: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  const { existsSync } = await import('node:fs');
  while (!existsSync(path)) {
    if (Date.now() > end) throw new UserError(`${path} did not appear (loop device partitions)`, EXIT.tool);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const CHROOT_ENV: Record<string, string> = {
  DEBIAN_FRONTEND: 'noninteractive',
  DEBCONF_NONINTERACTIVE_SEEN: 'true',
  LC_ALL: 'C.UTF-8',
  LANG: 'C.UTF-8',
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
};

export async function inChroot(root: string, args: string[], onLine: (l: string) => void = () => {}): Promise<void> {
  await runLines('chroot', [root, ...args], onLine, CHROOT_ENV);
}

export async function chrootOut(root: string, args: string[]): Promise<string> {
  return (await run('chroot', [root, ...args], { env: CHROOT_ENV, extendEnv: false })).stdout;
}

/** Mount points at or below `dir` (from /proc/self/mountinfo). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const { readFile } = await import('node:fs/promises');
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const d = dir.replace(/\/+$/, '');
  return info.split('\n').map((l) => l.split(' ')[4]?.replace(/\\040/g, ' ')).filter((m): m is string => Boolean(m) && (m === d || m!.startsWith(`${d}/`)));
}

/** rm -rf that refuses while anything is mounted below (a bind-mounted /dev would be emptied). */
export async function removeTree(dir: string): Promise<void> {
  const { rm } = await import('node:fs/promises');
  const busy = await mountsUnder(dir);
  if (busy.length) throw new UserError(`not removing ${dir}: still mounted there: ${busy.join(', ')} (unmount them, then remove it)`, EXIT.failure);
  await rm(dir, { recursive: true, force: true });
}
