// Gluster processes read /etc/ssl/glusterfs.ca only when they start. When the bundle grows
// (a node joins later) this node's brick servers would refuse the newcomer's clients and this
// node's clients (FUSE mounts, self-heal daemon) would refuse the newcomer's bricks. So every
// Gluster process of ours that started before the bundle last changed is restarted: bricks and
// self-heal daemon through `volume start force` (one node at a time, only while the volume's
// other bricks are online, so replicas stay available), FUSE mounts by a lazy remount (open
// files, e.g. running VMs, keep their old client until they close).
import { readdir, readFile, readlink } from 'node:fs/promises';
import { boundary } from '../crash.js';
import { run } from '../exec.js';
import { gluster } from '../gluster.js';
import { log } from '../log.js';
import { mountFromFstab } from '../mount.js';
import { mtimeMs, processStartMs } from '../service.js';
import { CA } from '../tls.js';
import { blocks, text } from '../xml.js';
import type { Ctx, Step } from './step.js';

/** Slack for the one-second resolution of the boot time process start times derive from. */
const SLACK_MS = 1500;
/** Nodes restart their bricks one after another, this far apart (by position in the plan). */
const STAGGER_MS = 10_000;

interface Proc { pid: number; online: boolean; local: boolean; kind: 'brick' | 'shd' }

async function volumeProcs(ctx: Ctx, volume: string): Promise<Proc[]> {
  const r = await gluster(['volume', 'status', volume, '--xml'], true, 60_000);
  if (r.code !== 0) return [];
  const out: Proc[] = [];
  for (const b of blocks(r.stdout, 'node')) {
    const host = text(b, 'hostname') ?? '';
    const kind = (text(b, 'path') ?? '').startsWith('/') ? 'brick' : host === 'Self-heal Daemon' ? 'shd' : null;
    if (kind) out.push({ pid: Number(text(b, 'pid') ?? -1), online: text(b, 'status') === '1', local: text(b, 'peerid') === ctx.obs.uuid, kind });
  }
  return out;
}

async function startedBefore(pid: number, ms: number): Promise<boolean> {
  try { return (await processStartMs(pid)) + SLACK_MS < ms; } catch { return false; }
}

/** The FUSE client serving a mount point in *our* mount namespace (pid namespaces may be shared). */
async function fuseClient(mountPoint: string): Promise<number | null> {
  const ownNs = await readlink('/proc/self/ns/mnt');
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = (await readFile(`/proc/${d}/cmdline`, 'utf8')).split('\0').filter(Boolean);
      if (!argv[0]?.endsWith('glusterfs') || argv[argv.length - 1] !== mountPoint) continue;
      if ((await readlink(`/proc/${d}/ns/mnt`)) === ownNs) return Number(d);
    } catch { /* gone meanwhile */ }
  }
  return null;
}

interface Stale { volume: string; procs: Proc[]; mount: boolean; othersOnline: boolean }

async function stale(ctx: Ctx): Promise<{ caMs: number; items: Stale[] }> {
  const caMs = (await mtimeMs(CA)) ?? 0;
  const items: Stale[] = [];
  if (!ctx.obs.glusterdRunning || !caMs) return { caMs, items };
  for (const v of ctx.plan.volumes.filter((x) => x.kind === 'replicated')) {
    const info = ctx.obs.volumes.find((x) => x.name === v.name);
    if (!info?.started) continue;
    const procs = await volumeProcs(ctx, v.name);
    const old: Proc[] = [];
    for (const p of procs) if (p.local && p.online && p.pid > 0 && (await startedBefore(p.pid, caMs))) old.push(p);
    const client = await fuseClient(v.mountPoint);
    const mount = client !== null && (await startedBefore(client, caMs));
    if (old.length || mount) items.push({ volume: v.name, procs: old, mount, othersOnline: procs.filter((p) => !p.local && p.kind === 'brick').every((p) => p.online) });
  }
  return { caMs, items };
}

export const tlsReloadStep: Step = {
  name: 'tls-reload',
  async check(ctx) {
    const { items } = await stale(ctx);
    if (!items.length) return { ok: true, detail: 'Gluster processes use the current CA bundle' };
    return { ok: false, detail: `started before the CA bundle changed: ${items.map((i) => `${i.volume} (${[...i.procs.map((p) => p.kind), ...(i.mount ? ['mount'] : [])].join(', ')})`).join('; ')}` };
  },
  async apply(ctx) {
    const { caMs, items } = await stale(ctx);
    const position = ctx.plan.nodes.map((n) => n.name).sort().indexOf(ctx.self.name);
    let acted = false;
    for (const i of items) {
      if (i.procs.length && i.othersOnline && Date.now() >= caMs + position * STAGGER_MS) {
        log.info(`restarting ${i.procs.map((p) => `${p.kind} ${p.pid}`).join(', ')} of ${i.volume}: the CA bundle changed after they started`);
        for (const p of i.procs) { try { process.kill(p.pid, 'SIGTERM'); } catch { /* already gone */ } }
        for (let t = 0; t < 50 && i.procs.some((p) => { try { process.kill(p.pid, 0); return true; } catch { return false; } }); t++) await new Promise((r) => setTimeout(r, 200));
        await gluster(['volume', 'start', i.volume, 'force'], false, 120_000);
        boundary('tls-reload:bricks');
        acted = true;
      }
      if (i.mount) {
        const mp = ctx.plan.volumes.find((v) => v.name === i.volume)!.mountPoint;
        log.info(`remounting ${mp}: its client started before the CA bundle changed`);
        await run('umount', ['-l', mp]);
        boundary('tls-reload:umount');
        await mountFromFstab(mp);
        boundary('tls-reload:mount');
        acted = true;
      }
    }
    return acted;
  },
};
