// The leader creates, configures and starts the replicated volumes, and grows them by whole
// replica sets when nodes arrive later (then rebalances). Everyone else waits for it.
import type { VolumePlan } from '../../core/plan-types.js';
import { boundary } from '../crash.js';
import { ARBITER_DISK_ID } from '../disks.js';
import { gluster, groupOptions, normOption, volumeDefaults, volumeInfo, type VolumeInfo } from '../gluster.js';
import { log } from '../log.js';
import { replicaSets } from '../plan-adopt.js';
import { glusterdPid } from '../service.js';
import { inPool, meshGaps } from './peers.js';
import { NeedsAttention, type Ctx, type Step } from './step.js';


function brickReady(ctx: Ctx, ref: string): boolean {
  const name = ref.slice(0, ref.indexOf(':'));
  if (name === ctx.self.name) return ctx.obs.readyBricks.includes(ref);
  const r = ctx.members.get(name)?.remote;
  return inPool(ctx, name) && Boolean(r && (r.readyBricks ? r.readyBricks.includes(ref) : r.bricksReady));
}

/** Replica sets of the plan, each with whether all its nodes are ready and whether the volume has it. */
function sets(ctx: Ctx, v: VolumePlan, info?: VolumeInfo) {
  const have = new Set(info?.bricks.map((b) => b.name) ?? []);
  return replicaSets(ctx.plan, v.name).map((bricks) => ({
    bricks,
    ready: bricks.every((b) => brickReady(ctx, b)),
    present: bricks.every((b) => have.has(b)),
  }));
}

function needsForce(ctx: Ctx, bricks: string[]): boolean {
  // Arbiter bricks live on the OS disk by design; Gluster wants `force` for a brick on the root fs.
  return bricks.some((ref) => {
    const [node, path] = [ref.slice(0, ref.indexOf(':')), ref.slice(ref.indexOf(':') + 1)];
    const b = ctx.plan.nodes.find((n) => n.name === node)?.bricks.find((x) => x.path === path);
    return Boolean(b && 'id' in b.disk && b.disk.id === ARBITER_DISK_ID);
  });
}

async function desiredOptions(ctx: Ctx, v: VolumePlan): Promise<{ group?: string; options: Record<string, string> }> {
  const options: Record<string, string> = {};
  const { group, ...rest } = v.options;
  Object.assign(options, rest, {
    'client.ssl': 'on',
    'server.ssl': 'on',
    'auth.ssl-allow': ctx.plan.nodes.map((n) => n.name).sort().join(','),
  });
  return group ? { group, options } : { options };
}

/** A volume's unset options per glusterd process: a restarted glusterd may be an upgrade with other defaults. */
const defaultsCache = new Map<string, Record<string, string>>();

async function defaultsOf(info: VolumeInfo): Promise<Record<string, string>> {
  const key = `${info.name}@${await glusterdPid()}`;
  let d = defaultsCache.get(key);
  if (!d) {
    // a glusterd that does not answer now: compare with nothing, i.e. set every option we want
    try { d = await volumeDefaults(info.name, info.options); } catch { return {}; }
    defaultsCache.set(key, d);
  }
  return d;
}

/**
 * Options whose value on the volume (set, or glusterd's default) differs from ours; a `group` is
 * expanded from its file so one transaction sets everything, and keys already at their value are
 * left out: each key costs a volfile rebuild on every peer.
 */
async function optionDiff(ctx: Ctx, v: VolumePlan, info: VolumeInfo): Promise<[string, string][]> {
  const want = await desiredOptions(ctx, v);
  const all: Record<string, string> = { ...(want.group ? await groupOptions(want.group) : {}), ...want.options };
  const defaults = await defaultsOf(info);
  return Object.entries(all).filter(([k, val]) => {
    const have = info.options[k] ?? defaults[k];
    return have === undefined || normOption(have) !== normOption(val);
  });
}

const replicated = (ctx: Ctx) => ctx.plan.volumes.filter((v) => v.kind === 'replicated');

function createArgs(v: VolumePlan): string[] {
  return ['replica', String(v.replica), ...(v.arbiterCount ? ['arbiter', String(v.arbiterCount)] : [])];
}

export const volumesStep: Step = {
  name: 'volumes',
  async check(ctx) {
    const notes: string[] = [];
    let waiting = false;
    for (const v of replicated(ctx)) {
      const info = ctx.obs.volumes.find((x) => x.name === v.name);
      if (!info) {
        const notReady = sets(ctx, v).flatMap((x) => x.bricks).filter((b) => !brickReady(ctx, b));
        const gaps = ctx.leader === ctx.self.name && !notReady.length ? meshGaps(ctx) : [];
        notes.push(`${v.name}: not created${notReady.length ? ` (bricks not ready: ${notReady.join(' ')})` : ''}${gaps.length ? ` (peers not yet connected to each other: ${gaps.join(', ')})` : ''}`);
        waiting ||= ctx.leader !== ctx.self.name;
        continue;
      }
      const s = sets(ctx, v, info);
      const missingReady = s.filter((x) => !x.present && x.ready).length;
      const missingWait = s.filter((x) => !x.present && !x.ready).length;
      if (ctx.leader === ctx.self.name) {
        const d = await optionDiff(ctx, v, info);
        if (d.length) notes.push(`${v.name}: ${d.length} options to set`);
        if (ctx.state.data.rebalancePending.includes(v.name)) notes.push(`${v.name}: rebalance to start`);
      }
      if (!info.started) notes.push(`${v.name}: not started`);
      if (missingReady) {
        const gaps = ctx.leader === ctx.self.name ? meshGaps(ctx) : [];
        notes.push(`${v.name}: ${missingReady} replica set(s) to add${gaps.length ? ` (once peers are connected to each other: ${gaps.join(', ')})` : ''}`);
      }
      if (missingWait) { notes.push(`${v.name}: ${missingWait} replica set(s) wait for their nodes`); waiting = true; }
    }
    if (!notes.length) return { ok: true, detail: replicated(ctx).map((v) => `${v.name} ${ctx.obs.volumes.find((x) => x.name === v.name)?.type}`).join(', ') };
    const onlyWaiting = notes.every((n) => /wait for their nodes|not created/.test(n));
    if (ctx.leader !== ctx.self.name) return { ok: false, waiting: true, detail: `${notes.join('; ')} (leader: ${ctx.leader ?? 'none yet'})` };
    return { ok: false, waiting: waiting && onlyWaiting, detail: notes.join('; ') };
  },
  async apply(ctx) {
    if (ctx.leader !== ctx.self.name || !ctx.leaderStable) return false;
    let acted = false;
    for (const v of replicated(ctx)) {
      let info = ctx.obs.volumes.find((x) => x.name === v.name);
      const s = sets(ctx, v, info);
      if (!info) {
        const ready = s.filter((x) => x.ready);
        if (!ready.length) continue;
        if (ready.length < s.length) {
          ctx.formableSince ??= Date.now();
          if (Date.now() - ctx.formableSince < ctx.env.formGraceSeconds * 1000) continue;
        }
        const elsewhere = ctx.members.live().find((m) => !inPool(ctx, m.name) && m.remote!.volumes.some((x) => x.name === v.name && x.exists));
        if (elsewhere) { log.warn(`not creating ${v.name}: ${elsewhere.name} (outside our pool) already has one; waiting to be absorbed`); continue; }
        if (meshGaps(ctx).length) continue;
        acted = true;
        // Created with one replica set: options are set while it has few bricks (each key rebuilds
        // every brick's volfile on every peer), the other sets are added before the first start.
        // Our view is a pass old (and a leader that took over may not have seen it at all):
        // glusterd's "already exists" counts as created.
        const bricks = ready[0].bricks;
        const r = await gluster(['volume', 'create', v.name, ...createArgs(v), ...bricks, ...(needsForce(ctx, bricks) ? ['force'] : [])], true, 120_000);
        const out = (r.stderr || r.stdout).trim();
        if (r.code !== 0 && /already part of a volume/i.test(r.stdout + r.stderr)) {
          // glusterd marks bricks while staging and does not unmark them when a later peer fails
          throw new NeedsAttention(`volume create ${v.name}: ${out} — left by an earlier create that failed part-way; if that brick holds no data, remove the mark on its node: setfattr -x trusted.glusterfs.volume-id BRICK`);
        }
        if (r.code !== 0 && !/already exists/i.test(r.stdout + r.stderr)) throw new Error(`volume create ${v.name}: ${out}`);
        boundary('volumes:create');
        info = await volumeInfo(v.name);
        if (!info) throw new Error(`volume ${v.name}: not found after volume create`);
      }
      const d = await optionDiff(ctx, v, info);
      if (d.length) { acted = true; await gluster(['volume', 'set', v.name, ...d.flat()], false, 120_000); boundary('volumes:options'); }
      const add = sets(ctx, v, info).filter((x) => x.ready && !x.present);
      if (add.length && meshGaps(ctx).length) {
        if (info.neverStarted) continue; // started now, the sets added later would need a rebalance
      } else if (add.length) {
        const bricks = add.flatMap((x) => x.bricks);
        acted = true;
        // a volume never started holds no data: nothing to rebalance
        if (!info.neverStarted && !ctx.state.data.rebalancePending.includes(v.name)) { ctx.state.data.rebalancePending.push(v.name); await ctx.state.save(); }
        await gluster(['volume', 'add-brick', v.name, ...createArgs(v), ...bricks, ...(needsForce(ctx, bricks) ? ['force'] : [])], false, 120_000);
        boundary('volumes:add-brick');
        info = (await volumeInfo(v.name))!;
      }
      if (!info.started) {
        acted = true;
        const r = await gluster(['volume', 'start', v.name], true, 120_000);
        if (r.code !== 0 && !/already started/i.test(r.stdout + r.stderr)) throw new Error(`volume start ${v.name}: ${(r.stderr || r.stdout).trim()}`);
        boundary('volumes:start');
      }
      if (ctx.state.data.rebalancePending.includes(v.name)) {
        acted = true;
        const r = await gluster(['volume', 'rebalance', v.name, 'start'], true, 120_000);
        if (r.code !== 0 && !/already|in progress/i.test(r.stdout + r.stderr)) throw new Error(`rebalance ${v.name}: ${(r.stderr || r.stdout).trim()}`);
        boundary('volumes:rebalance');
        ctx.state.data.rebalancePending = ctx.state.data.rebalancePending.filter((x) => x !== v.name);
        await ctx.state.save();
      }
    }
    return acted;
  },
};
