// Folders on the mounted volumes for libvirt (vm, iso), owned by libvirt-qemu, mode 0770.
import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import { LIBVIRT_QEMU_ID } from '../../core/ids.js';
import { boundary } from '../crash.js';
import { mountedAt } from '../disks.js';
import type { Ctx, Step } from './step.js';

async function wanted(ctx: Ctx): Promise<{ ready: string[]; notMounted: string[] }> {
  const ready: string[] = [];
  const notMounted: string[] = [];
  for (const v of ctx.plan.volumes) {
    if (v.kind === 'local' && !v.bricks.some((b) => b.node === ctx.self.name)) continue;
    if (!(await mountedAt(v.mountPoint))) { notMounted.push(v.name); continue; }
    for (const f of v.folders) ready.push(`${v.mountPoint}/${f}`);
  }
  return { ready, notMounted };
}

async function right(path: string): Promise<boolean> {
  try {
    const s = await stat(path);
    return s.isDirectory() && s.uid === LIBVIRT_QEMU_ID && s.gid === LIBVIRT_QEMU_ID && (s.mode & 0o7777) === 0o770;
  } catch { return false; }
}

export const foldersStep: Step = {
  name: 'folders',
  async check(ctx) {
    const { ready, notMounted } = await wanted(ctx);
    const bad = [];
    for (const p of ready) if (!(await right(p))) bad.push(p);
    if (bad.length) return { ok: false, detail: `to create: ${bad.join(', ')}` };
    if (notMounted.length) return { ok: false, waiting: true, detail: `waiting for mounts: ${notMounted.join(', ')}` };
    return { ok: true, detail: `${ready.length} folders` };
  },
  async apply(ctx) {
    for (const p of (await wanted(ctx)).ready) {
      if (await right(p)) continue;
      await mkdir(p, { recursive: true });
      await chown(p, LIBVIRT_QEMU_ID, LIBVIRT_QEMU_ID);
      await chmod(p, 0o770);
      boundary('folders:create');
    }
  },
};
