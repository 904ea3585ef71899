// Folders on the mounted volumes for libvirt (vm, iso), owned by libvirt-qemu, mode 0770.
import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import { LIBVIRT_QEMU_ID } from '../../core/ids.js';
import { boundary } from '../crash.js';
import { mountedAt } from '../disks.js';
import { done, todo, waiting, type Step } from './step.js';

async function right(path: string): Promise<boolean> {
  try {
    const s = await stat(path);
    return s.isDirectory() && s.uid === LIBVIRT_QEMU_ID && s.gid === LIBVIRT_QEMU_ID && (s.mode & 0o7777) === 0o770;
  } catch { return false; }
}

export interface FoldersSeen { notMounted: string[]; ready: string[]; wrong: string[] }

export const foldersStep: Step<FoldersSeen, { create: string }> = {
  name: 'folders',
  loop: 'storage',
  async observe(ctx) {
    const seen: FoldersSeen = { notMounted: [], ready: [], wrong: [] };
    for (const v of ctx.plan.volumes) {
      if (v.kind === 'local' && !v.bricks.some((b) => b.node === ctx.self.name)) continue;
      if (!(await mountedAt(v.mountPoint))) { seen.notMounted.push(v.name); continue; }
      for (const f of v.folders) {
        const p = `${v.mountPoint}/${f}`;
        seen.ready.push(p);
        if (!(await right(p))) seen.wrong.push(p);
      }
    }
    return seen;
  },
  plan(_ctx, seen) {
    if (seen.wrong.length) return todo(seen.wrong.map((p) => ({ create: p })), `to create: ${seen.wrong.join(', ')}`);
    if (seen.notMounted.length) return waiting(`waiting for mounts: ${seen.notMounted.join(', ')}`);
    return done(`${seen.ready.length} folders`);
  },
  async apply(_ctx, actions) {
    for (const { create: p } of actions) {
      await mkdir(p, { recursive: true });
      await chown(p, LIBVIRT_QEMU_ID, LIBVIRT_QEMU_ID);
      await chmod(p, 0o770);
      boundary('folders:create');
    }
  },
};
