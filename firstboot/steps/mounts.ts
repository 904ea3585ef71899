// Client mounts on every node: the replicated volumes over FUSE from fstab (_netdev, with the
// other members as backup volfile servers), the local volume as a bind mount of its brick.
import { mkdir } from 'node:fs/promises';
import type { VolumePlan } from '../../core/plan-types.js';
import { boundary } from '../crash.js';
import { mountedAt } from '../disks.js';
import { fstabLine, setFstabLine } from '../fstab.js';
import { mountFromFstab } from '../mount.js';
import { run } from '../exec.js';
import type { Ctx, Step } from './step.js';

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

export const mountsStep: Step = {
  name: 'mounts',
  async check(ctx) {
    const waiting: string[] = [];
    const todo: string[] = [];
    for (const v of ctx.plan.volumes) {
      const l = line(ctx, v);
      if (!l) continue;
      const why = usable(ctx, v);
      if (why) { waiting.push(`${v.name}: ${why}`); continue; }
      if ((await fstabLine(v.mountPoint)) !== l || !(await mounted(v)) || (await dead(v))) todo.push(v.name);
    }
    if (todo.length) return { ok: false, detail: `to mount: ${todo.join(', ')}` };
    if (waiting.length) return { ok: false, waiting: true, detail: waiting.join('; ') };
    return { ok: true, detail: ctx.plan.volumes.map((v) => v.mountPoint).join(', ') };
  },
  async apply(ctx) {
    for (const v of ctx.plan.volumes) {
      const l = line(ctx, v);
      if (!l || usable(ctx, v)) continue;
      if ((await fstabLine(v.mountPoint)) !== l) { await setFstabLine(v.mountPoint, l); boundary('mounts:fstab'); }
      if (await dead(v)) { await run('umount', ['-l', v.mountPoint]); boundary('mounts:umount-dead'); }
      if (!(await mounted(v))) {
        await mkdir(v.mountPoint, { recursive: true });
        await mountFromFstab(v.mountPoint);
        boundary('mounts:mount');
      }
    }
  },
};
