// The leader creates, configures and starts the replicated volumes, and grows them by whole
// replica sets when nodes arrive later (then rebalances). Everyone else waits for it.
import type { AgentPlan, VolumePlan } from '../../core/plan-types.js';
import { tlsVolumeOptions } from '../../core/volume-options.js';
import { boundary } from '../crash.js';
import { ARBITER_DISK_ID } from '../disks.js';
import { gluster, normOption, volumeDefaults, type VolumeInfo } from '../gluster.js';
import { keptSets, retiredSelf } from '../removal-hooks.js';
import { glusterdPid } from '../service.js';
import { inPool, meshGaps } from './peers.js';
import { NeedsAttention, todo, waiting, done, type Ctx, type Step } from './step.js';

function brickReady(ctx: Ctx, ref: string): boolean {
  const name = ref.slice(0, ref.indexOf(':'));
  if (name === ctx.self.name) return ctx.obs.readyBricks.includes(ref);
  const r = ctx.members.get(name)?.remote;
  return inPool(ctx, name) && Boolean(r && (r.readyBricks ? r.readyBricks.includes(ref) : r.bricksReady));
}

/** Replica sets of the plan, each with whether all its nodes are ready and whether the volume has it. */
function sets(ctx: Ctx, v: VolumePlan, info?: VolumeInfo) {
  const have = new Set(info?.bricks.map((b) => b.name) ?? []);
  return keptSets(ctx, v.name).map((bricks) => ({
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

/** The options the agent sets on a replicated volume: the plan's (core/volume-options.ts) and TLS naming the plan's nodes. */
export function agentVolumeOptions(plan: Pick<AgentPlan, 'nodes'>, v: VolumePlan): Record<string, string> {
  // plans of earlier builds name the virt group: no volume option has that name, so a diff against it never ends
  const { group: _earlierPlansGroup, ...options } = v.options;
  return { ...options, ...tlsVolumeOptions(plan.nodes.map((n) => n.name)) };
}

/** What the leader knows of one existing volume's options: glusterd's defaults. */
interface OptionsSeen { defaults: Record<string, string> }

/**
 * Options whose value on the volume (set, or glusterd's default) differs from ours, all set in one
 * transaction; keys already at their value are left out: each key costs a volfile rebuild on every peer.
 */
function optionDiff(ctx: Ctx, v: VolumePlan, info: VolumeInfo, seen: OptionsSeen): [string, string][] {
  return Object.entries(agentVolumeOptions(ctx.plan, v)).filter(([k, val]) => {
    const have = info.options[k] ?? seen.defaults[k];
    return have === undefined || normOption(have) !== normOption(val);
  });
}

const replicated = (ctx: Ctx) => ctx.plan.volumes.filter((v) => v.kind === 'replicated');

function createArgs(v: VolumePlan): string[] {
  return ['replica', String(v.replica), ...(v.arbiterCount ? ['arbiter', String(v.arbiterCount)] : [])];
}

export type VolumeAction =
  | { do: 'create'; volume: string; args: string[] }
  | { do: 'set'; volume: string; options: [string, string][] }
  | { do: 'add-brick'; volume: string; args: string[]; rebalance: boolean }
  | { do: 'start'; volume: string }
  | { do: 'rebalance'; volume: string };

export interface VolumesSeen {
  /** Per existing volume, on the leader only. */
  options: Record<string, OptionsSeen>;
  /** When this leader first saw a volume formable with only some of its replica sets (ms). */
  formableSince?: number;
}

function notCreatedNote(ctx: Ctx, v: VolumePlan, s: ReturnType<typeof sets>): string {
  const notReady = s.flatMap((x) => x.bricks).filter((b) => !brickReady(ctx, b));
  return `${v.name}: not created${notReady.length ? ` (bricks not ready: ${notReady.join(' ')})` : ''}`;
}

/** Every replicated volume with its type: what a finished step shows. */
const summary = (ctx: Ctx) => replicated(ctx).map((v) => `${v.name} ${ctx.obs.volumes.find((x) => x.name === v.name)?.type}`).join(', ');

/** The leader's actions for one volume, or why it waits; null when the volume is as planned. */
function volumeActions(ctx: Ctx, v: VolumePlan, seen: VolumesSeen): { actions: VolumeAction[]; note?: string; wait?: boolean } | null {
  const info = ctx.obs.volumes.find((x) => x.name === v.name);
  const s = sets(ctx, v, info);
  const force = (bricks: string[]) => (needsForce(ctx, bricks) ? ['force'] : []);
  const gaps = meshGaps(ctx);
  if (!info) {
    const ready = s.filter((x) => x.ready);
    const note = notCreatedNote(ctx, v, s);
    if (!ready.length) return { actions: [], note, wait: true };
    if (ready.length < s.length && ctx.now - (seen.formableSince ?? ctx.now) < ctx.env.formGraceSeconds * 1000) return { actions: [], note: `${note} (waiting up to ${ctx.env.formGraceSeconds} s for every node)`, wait: true };
    const elsewhere = ctx.members.live().find((m) => !inPool(ctx, m.name) && m.remote!.volumes.some((x) => x.name === v.name && x.exists));
    if (elsewhere) return { actions: [], note: `${v.name}: not creating: ${elsewhere.name} (outside our pool) already has one; waiting to be absorbed`, wait: true };
    if (gaps.length) return { actions: [], note: `${note} (peers not yet connected to each other: ${gaps.join(', ')})`, wait: true };
    // Created with one replica set: options are set while it has few bricks (each key rebuilds
    // every brick's volfile on every peer), the other sets are added before the first start.
    return { actions: [{ do: 'create', volume: v.name, args: [...createArgs(v), ...ready[0].bricks, ...force(ready[0].bricks)] }], note };
  }
  const actions: VolumeAction[] = [];
  const notes: string[] = [];
  const opts = seen.options[v.name];
  const diff = opts ? optionDiff(ctx, v, info, opts) : [];
  if (diff.length) { actions.push({ do: 'set', volume: v.name, options: diff }); notes.push(`${v.name}: ${diff.length} options to set`); }
  const add = s.filter((x) => x.ready && !x.present);
  const waitSets = s.filter((x) => !x.present && !x.ready).length;
  let holdStart = false;
  if (add.length) {
    notes.push(`${v.name}: ${add.length} replica set(s) to add${gaps.length ? ` (once peers are connected to each other: ${gaps.join(', ')})` : ''}`);
    if (!gaps.length) {
      const bricks = add.flatMap((x) => x.bricks);
      // a volume never started holds no data: nothing to rebalance
      actions.push({ do: 'add-brick', volume: v.name, args: [...createArgs(v), ...bricks, ...force(bricks)], rebalance: !info.neverStarted });
    } else if (info.neverStarted) holdStart = true; // started now, the sets added later would need a rebalance
  }
  if (!info.started) { notes.push(`${v.name}: not started`); if (!holdStart) actions.push({ do: 'start', volume: v.name }); }
  const rebalance = ctx.state.data.rebalancePending.includes(v.name) || actions.some((a) => a.do === 'add-brick' && a.rebalance);
  if (rebalance && !holdStart) { notes.push(`${v.name}: rebalance to start`); actions.push({ do: 'rebalance', volume: v.name }); }
  if (waitSets) notes.push(`${v.name}: ${waitSets} replica set(s) wait for their nodes`);
  return notes.length ? { actions, note: notes.join('; '), wait: !actions.length } : null;
}

/** Notes of a node that is not the leader: what the leader still has to do, as far as it can tell. */
function followerNote(ctx: Ctx, v: VolumePlan): string | null {
  const info = ctx.obs.volumes.find((x) => x.name === v.name);
  const s = sets(ctx, v, info);
  if (!info) return notCreatedNote(ctx, v, s);
  const notes: string[] = [];
  if (!info.started) notes.push(`${v.name}: not started`);
  const missingReady = s.filter((x) => !x.present && x.ready).length;
  const missingWait = s.filter((x) => !x.present && !x.ready).length;
  if (missingReady) notes.push(`${v.name}: ${missingReady} replica set(s) to add`);
  if (missingWait) notes.push(`${v.name}: ${missingWait} replica set(s) wait for their nodes`);
  return notes.length ? notes.join('; ') : null;
}

export const volumesStep: Step<VolumesSeen, VolumeAction> & { defaults: Map<string, Record<string, string>>; formableSince?: number } = {
  name: 'volumes',
  loop: 'storage',
  changesGluster: true,
  needsGluster: true,
  /** A volume's unset options per glusterd process: a restarted glusterd may be an upgrade with other defaults. */
  defaults: new Map(),
  async observe(ctx) {
    const options: Record<string, OptionsSeen> = {};
    if (ctx.leader !== ctx.self.name) return { options };
    for (const v of replicated(ctx)) {
      const info = ctx.obs.volumes.find((x) => x.name === v.name);
      if (!info) {
        if (sets(ctx, v).some((x) => x.ready)) this.formableSince ??= ctx.now;
        continue;
      }
      const key = `${info.name}@${await glusterdPid()}`;
      let defaults = this.defaults.get(key);
      if (!defaults) {
        // a glusterd that does not answer now: compare with nothing, i.e. set every option we want
        try { defaults = await volumeDefaults(info.name, info.options); this.defaults.set(key, defaults); } catch { defaults = {}; }
      }
      options[v.name] = { defaults };
    }
    return { options, ...(this.formableSince !== undefined ? { formableSince: this.formableSince } : {}) };
  },
  plan(ctx, seen) {
    const retired = retiredSelf(ctx);
    if (retired) return done(retired);
    const vols = replicated(ctx);
    if (ctx.leader !== ctx.self.name) {
      const notes = vols.map((v) => followerNote(ctx, v)).filter((n): n is string => Boolean(n));
      return notes.length ? waiting(`${notes.join('; ')} (leader: ${ctx.leader ?? 'none yet'})`) : done(summary(ctx));
    }
    const per = vols.map((v) => volumeActions(ctx, v, seen)).filter((x): x is NonNullable<typeof x> => Boolean(x));
    if (!per.length) return done(summary(ctx));
    const detail = per.map((p) => p.note).filter(Boolean).join('; ');
    const actions = per.flatMap((p) => p.actions);
    if (actions.length && !ctx.leaderStable) return waiting(`${detail} (leadership settling)`);
    return actions.length ? todo(actions, detail) : waiting(detail);
  },
  async apply(ctx, actions) {
    for (const a of actions) {
      switch (a.do) {
        case 'create': {
          // Our view is a pass old (and a leader that took over may not have seen it at all):
          // glusterd's "already exists" counts as created.
          const r = await gluster(['volume', 'create', a.volume, ...a.args], true, 120_000);
          const out = (r.stderr || r.stdout).trim();
          if (r.code !== 0 && /already part of a volume/i.test(r.stdout + r.stderr)) {
            // glusterd marks bricks while staging and does not unmark them when a later peer fails
            throw new NeedsAttention(`volume create ${a.volume}: ${out} — left by an earlier create that failed part-way; if that brick holds no data, remove the mark on its node: setfattr -x trusted.glusterfs.volume-id BRICK`);
          }
          if (r.code !== 0 && !/already exists/i.test(r.stdout + r.stderr)) throw new Error(`volume create ${a.volume}: ${out}`);
          boundary('volumes:create');
          break;
        }
        case 'set':
          await gluster(['volume', 'set', a.volume, ...a.options.flat()], false, 120_000);
          boundary('volumes:options');
          break;
        case 'add-brick':
          if (a.rebalance && !ctx.state.data.rebalancePending.includes(a.volume)) { ctx.state.data.rebalancePending.push(a.volume); await ctx.state.save(); }
          await gluster(['volume', 'add-brick', a.volume, ...a.args], false, 120_000);
          boundary('volumes:add-brick');
          break;
        case 'start': {
          const r = await gluster(['volume', 'start', a.volume], true, 120_000);
          if (r.code !== 0 && !/already started/i.test(r.stdout + r.stderr)) throw new Error(`volume start ${a.volume}: ${(r.stderr || r.stdout).trim()}`);
          boundary('volumes:start');
          break;
        }
        case 'rebalance': {
          const r = await gluster(['volume', 'rebalance', a.volume, 'start'], true, 120_000);
          if (r.code !== 0 && !/already|in progress/i.test(r.stdout + r.stderr)) throw new Error(`rebalance ${a.volume}: ${(r.stderr || r.stdout).trim()}`);
          boundary('volumes:rebalance');
          ctx.state.data.rebalancePending = ctx.state.data.rebalancePending.filter((x) => x !== a.volume);
          await ctx.state.save();
          break;
        }
      }
    }
  },
};
