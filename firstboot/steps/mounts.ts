// Client mounts on every node: the replicated volumes over FUSE from fstab (_netdev, with the
// other members as backup volfile servers), the local volume as a bind mount of its brick.
import { mkdir } from 'node:fs/promises';
import type { VolumePlan } from '../../core/plan-types.js';
import { boundary } from '../crash.js';
import { mountedAt } from '../disks.js';
import { fstabLine, setFstabLine } from '../fstab.js';
import { mountFromFstab } from '../mount.js';
import { run } from '../exec.js';
import { done, todo, waiting, type Ctx, type Step } from './step.js';

function line(ctx: Ctx, v: VolumePlan): string | null {
  if (v.kind === 'local') {
    const mine = v.bricks.find((b) => b.node === ctx.self.name);
    return mine ? `${mine.path} ${v.mountPoint} none bind,nofail 0 0` : null;
  }
  const others = [...new Set(v.bricks.map((b) => b.node))].filter((n) => n !== ctx.self.name).sort();
  const backup = others.length ? `,backup-volfile-servers=${others.join(':')}` : '';
  return `${ctx.self.name}:/${v.name} ${v.mountPoint} glusterfs defaults,_netdev${backup} 0 0`;
}

function usable(ctx: Ctx, v: VolumePlan): string | null {
  if (v.kind === 'local') return ctx.obs.bricksReady ? null : 'local brick not ready';
  const info = ctx.obs.volumes.find((x) => x.name === v.name);
  if (!info) return 'volume not created yet';
  if (!info.started) return 'volume not started yet';
  return null;
}

async function mounted(v: VolumePlan): Promise<boolean> {
  const m = await mountedAt(v.mountPoint);
  return Boolean(m && (v.kind === 'local' || m.fstype === 'fuse.glusterfs'));
}

/** A FUSE mount whose client died (node crash) stays in the table but answers ENOTCONN. */
async function dead(v: VolumePlan): Promise<boolean> {
  if (!(await mounted(v))) return false;
  const r = await run('stat', ['-t', v.mountPoint], { allowFail: true, timeoutMs: 10_000 });
  return r.code !== 0;
}

export interface MountSeen { volume: string; fstab: string | undefined; mounted: boolean; dead: boolean }
export type MountAction = { do: 'fstab'; volume: VolumePlan; line: string } | { do: 'umount-dead' | 'mount'; volume: VolumePlan };

export const mountsStep: Step<MountSeen[], MountAction> = {
  name: 'mounts',
  loop: 'storage',
  async observe(ctx) {
    const out: MountSeen[] = [];
    for (const v of ctx.plan.volumes) {
      if (!line(ctx, v) || usable(ctx, v)) continue;
      out.push({ volume: v.name, fstab: await fstabLine(v.mountPoint), mounted: await mounted(v), dead: await dead(v) });
    }
    return out;
  },
  plan(ctx, seen) {
    const wait: string[] = [];
    const actions: MountAction[] = [];
    const todoNames: string[] = [];
    for (const v of ctx.plan.volumes) {
      const l = line(ctx, v);
      if (!l) continue;
      const why = usable(ctx, v);
      if (why) { wait.push(`${v.name}: ${why}`); continue; }
      const m = seen.find((x) => x.volume === v.name);
      if (!m) continue;
      const before = actions.length;
      if (m.fstab !== l) actions.push({ do: 'fstab', volume: v, line: l });
      if (m.dead) actions.push({ do: 'umount-dead', volume: v });
      if (!m.mounted || m.dead) actions.push({ do: 'mount', volume: v });
      if (actions.length > before) todoNames.push(v.name);
    }
    if (actions.length) return todo(actions, `to mount: ${todoNames.join(', ')}`);
    if (wait.length) return waiting(wait.join('; '));
    return done(ctx.plan.volumes.map((v) => v.mountPoint).join(', '));
  },
  async apply(_ctx, actions) {
    for (const a of actions) {
      switch (a.do) {
        case 'fstab': await setFstabLine(a.volume.mountPoint, a.line); boundary('mounts:fstab'); break;
        case 'umount-dead': await run('umount', ['-l', a.volume.mountPoint]); boundary('mounts:umount-dead'); break;
        case 'mount':
          await mkdir(a.volume.mountPoint, { recursive: true });
          await mountFromFstab(a.volume.mountPoint);
          boundary('mounts:mount');
          break;
      }
    }
  },
};
