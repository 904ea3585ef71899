// Folders on the mounted volumes for libvirt (vm, iso), owned by libvirt-qemu, mode 0770.
// Only the leader creates a missing folder, and only while no brick of the cluster is being
// brought back: a client that briefly reaches just a blank brick sees the folder missing, and a
// mkdir then lands on the blank brick under a new gfid beside the real one — a directory in
// gfid split-brain (EIO on every node). A folder that exists with the wrong owner or mode is
// fixed by any node (metadata only).
import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import { LIBVIRT_QEMU_ID } from '../../core/ids.js';
import { boundary } from '../crash.js';
import { mountedAt } from '../disks.js';
import { done, todo, waiting, type Ctx, type Step } from './step.js';

export interface FoldersSeen {
  notMounted: string[];
  ready: string[];
  /** Exists with another owner or mode. */
  wrong: string[];
  missing: string[];
  /** Missing on this node's own local volume (nobody else's to create). */
  missingLocal: string[];
  /** stat failed otherwise (ENOTCONN, EIO): nothing is known about it. */
  unknown: { path: string; code: string }[];
}

export type FoldersAction = { create: string } | { fix: string };

async function look(path: string, local: boolean, seen: FoldersSeen): Promise<void> {
  try {
    const s = await stat(path);
    if (!(s.isDirectory() && s.uid === LIBVIRT_QEMU_ID && s.gid === LIBVIRT_QEMU_ID && (s.mode & 0o7777) === 0o770)) seen.wrong.push(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    if (code === 'ENOENT') (local ? seen.missingLocal : seen.missing).push(path); else seen.unknown.push({ path, code });
  }
}

/** Members whose bricks step is not done (a blank brick being brought back, or healing). */
function bricksBusy(ctx: Ctx): string[] {
  const own = ctx.state.data.brickResets && Object.keys(ctx.state.data.brickResets).length ? [ctx.self.name] : [];
  return [...own, ...ctx.members.live().filter((m) => { const st = m.remote!.steps.find((s) => s.name === 'bricks'); return st && st.state !== 'done'; }).map((m) => m.name)];
}

export const foldersStep: Step<FoldersSeen, FoldersAction> = {
  name: 'folders',
  loop: 'storage',
  async observe(ctx) {
    const seen: FoldersSeen = { notMounted: [], ready: [], wrong: [], missing: [], missingLocal: [], unknown: [] };
    for (const v of ctx.plan.volumes) {
      if (v.kind === 'local' && !v.bricks.some((b) => b.node === ctx.self.name)) continue;
      if (!(await mountedAt(v.mountPoint))) { seen.notMounted.push(v.name); continue; }
      for (const f of v.folders) {
        const p = `${v.mountPoint}/${f}`;
        seen.ready.push(p);
        await look(p, v.kind === 'local', seen);
      }
    }
    return seen;
  },
  plan(ctx, seen) {
    const actions: FoldersAction[] = [...seen.wrong.map((p) => ({ fix: p })), ...seen.missingLocal.map((p) => ({ create: p }))];
    const notes: string[] = [];
    if (seen.wrong.length) notes.push(`to fix owner/mode: ${seen.wrong.join(', ')}`);
    if (seen.missingLocal.length) notes.push(`to create: ${seen.missingLocal.join(', ')}`);
    if (seen.missing.length) {
      const busy = bricksBusy(ctx);
      if (ctx.leader !== ctx.self.name) notes.push(`missing: ${seen.missing.join(', ')} (the leader${ctx.leader ? ` ${ctx.leader}` : ''} creates them)`);
      else if (busy.length) notes.push(`missing: ${seen.missing.join(', ')} (created once the bricks of ${busy.join(', ')} are back)`);
      else { actions.push(...seen.missing.map((p) => ({ create: p }))); notes.push(`to create: ${seen.missing.join(', ')}`); }
    }
    if (seen.unknown.length) notes.push(`cannot look at ${seen.unknown.map((u) => `${u.path} (${u.code})`).join(', ')}`);
    if (seen.notMounted.length) notes.push(`waiting for mounts: ${seen.notMounted.join(', ')}`);
    if (actions.length) return todo(actions, notes.join('; '));
    if (notes.length) return waiting(notes.join('; '));
    return done(`${seen.ready.length} folders`);
  },
  async apply(_ctx, actions) {
    for (const a of actions) {
      const p = 'create' in a ? a.create : a.fix;
      // not recursive: the volume's root is there (mounted), a parent missing is not ours to make
      if ('create' in a) await mkdir(p);
      await chown(p, LIBVIRT_QEMU_ID, LIBVIRT_QEMU_ID);
      await chmod(p, 0o770);
      boundary('folders:create');
    }
  },
};
