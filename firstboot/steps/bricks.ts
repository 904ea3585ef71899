// A brick of ours whose process stays down is started again (`volume start … force`); a process
// of it that accepts no connections — glusterd calling it online, or offline while it lives — is
// killed first (brick-listen.ts).
// A brick of ours that its volume lists but whose directory is blank (a replaced disk, or a node
// reinstalled in its old place) is brought back with `reset-brick … commit force` — which also
// marks the volume's root on the other copies as owed to it, so the self-heal copies *every* file
// back, not only those written while it was away — then a full heal. Never on a directory that
// holds anything, never while no other copy of its replica set is online to heal from.
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { VolumePlan } from '../../core/plan-types.js';
import { countEntries } from '../brick-count.js';
import { brickPort, brickProcesses, portRefuses, processGone } from '../brick-listen.js';
import { boundary } from '../crash.js';
import { brickVolumeId, gluster, healInfo, volumeStatus } from '../gluster.js';
import { saidOneLine } from '../exec.js';
import { log } from '../log.js';
import { replicaSets } from '../plan-adopt.js';
import { glusterdStart, restartGlusterd } from '../service.js';
import { recordGlusterdStart } from '../glusterd-started.js';
import { done, NeedsAttention, todo, waiting, type Ctx, type Decision, type Step } from './step.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// glfsheal costs seconds of CPU, volume status locks the volume: while a brick is brought back, ask at most this often
const HEAL_EVERY_MS = 10_000;
const lastHeal = new Map<string, { at: number; pending: number }>();

// `volume status` takes every glusterd's lock on the volume: asked often it makes other commands fail
const lastOnline = new Map<string, { at: number; online: Record<string, boolean> }>();

async function onlineBricks(volume: string): Promise<Record<string, boolean>> {
  const prev = lastOnline.get(volume);
  if (prev && Date.now() - prev.at < HEAL_EVERY_MS) return prev.online;
  const online = await volumeStatus(volume).then((bs) => Object.fromEntries(bs.map((b) => [b.brick, b.online])), () => null);
  if (!online) return prev?.online ?? {};
  lastOnline.set(volume, { at: Date.now(), online });
  return online;
}

/** Entries on this node's healing bricks by `node:path` (status shows how far along they are). */
export const returningEntries = new Map<string, number>();
const lastCount = new Map<string, number>();

async function countHealing(ref: string, path: string): Promise<void> {
  if (Date.now() - (lastCount.get(ref) ?? 0) < HEAL_EVERY_MS) return;
  lastCount.set(ref, Date.now());
  const c = await countEntries(path).catch(() => null);
  if (c && !c.capped) returningEntries.set(ref, c.entries);
}

async function healPending(volume: string): Promise<number | undefined> {
  const prev = lastHeal.get(volume);
  if (prev && Date.now() - prev.at < HEAL_EVERY_MS) return prev.pending;
  const heal = await healInfo(volume).catch(() => null);
  if (!heal) return undefined;
  const pending = heal.reduce((n, h) => n + (h.connected ? Math.max(0, h.entries) : 1), 0);
  lastHeal.set(volume, { at: Date.now(), pending });
  return pending;
}

/** One brick of this node as its volume lists it, and what is on its directory. */
export interface BrickSeen {
  volume: string;
  ref: string;
  path: string;
  /** Volume id on the directory (null: unmarked, i.e. blank). */
  markedWith: string | null;
  /** Entries in the directory besides Gluster's own `.glusterfs`. */
  entries: number;
  /** Whether each brick of the volume runs (asked only when one of ours is blank or healing). */
  online?: Record<string, boolean>;
  /** Heal entries pending on the volume's bricks (asked only while one of ours heals). */
  healPending?: number;
  /** Seconds since its process was first seen not running, or since the agent last tried to start it (absent: running, or not known). */
  downSeconds?: number;
  /** How often the agent tried to start it since it went down. */
  startsTried?: number;
  /** Its process glusterd calls online (pid), and for how many seconds it has accepted no connections on its port. */
  pid?: number;
  deafSeconds?: number;
}

export interface BricksSeen { bricks: BrickSeen[] }

export type BricksAction = { do: 'reset'; volume: string; ref: string; path: string } | { do: 'healed'; ref: string }
  | { do: 'start'; volume: string; refs: string[] } | { do: 'restart-glusterd'; refs: string[] }
  | { do: 'kill-deaf'; volume: string; ref: string; pid: number; glusterdSays: 'online' | 'offline' };

/**
 * Since when each brick of ours is down, and how often the agent tried to start it (each try
 * restarts the clock: the next one waits as long again). glusterd starts bricks only when it
 * starts or regains server quorum: a brick that died later stays down until someone runs `volume
 * start … force`. And when a node comes back to a volume its peers changed meanwhile, glusterd
 * starts the brick, then restarts it for each newer copy of the volume it receives — and a brick
 * killed while starting leaves glusterd believing its start is under way: `start force` then does
 * nothing (seen when node2 came back while node3 was replaced); only a glusterd restart clears that.
 */
const down = new Map<string, { since: number; tries: number }>();

/** Since when the process glusterd calls online has refused connections, per brick; `checked`: when last asked. */
const deaf = new Map<string, { pid: number; since: number; checked: number; answers: boolean }>();
const DEAF_CHECK_MS = 5_000;

async function deafSeconds(ref: string, volume: string, pid: number): Promise<number | undefined> {
  const prev = deaf.get(ref);
  if (prev?.pid === pid && Date.now() - prev.checked < DEAF_CHECK_MS) return prev.answers ? undefined : (Date.now() - prev.since) / 1000;
  const port = await brickPort(pid, volume, ref);
  // not (or no longer) that brick's process: glusterd's answer is older than what runs now
  if (!port) { deaf.delete(ref); return undefined; }
  const answers = !(await portRefuses(ref.slice(0, ref.indexOf(':')), port));
  const since = prev?.pid === pid && !prev.answers ? prev.since : Date.now();
  deaf.set(ref, { pid, since, checked: Date.now(), answers });
  return answers ? undefined : (Date.now() - since) / 1000;
}

const replicated = (ctx: Ctx): VolumePlan[] => ctx.plan.volumes.filter((v) => v.kind === 'replicated');

function volumeId(ctx: Ctx, volume: string): string | undefined {
  return ctx.obs.volumes.find((x) => x.name === volume)?.id || undefined;
}

function brickDecision(ctx: Ctx, b: BrickSeen): { action?: BricksAction; note?: string; wait?: boolean } {
  const id = volumeId(ctx, b.volume);
  const resetting = ctx.state.data.brickResets?.[b.ref];
  if (b.markedWith === id && resetting?.phase !== 'reset') {
    if (!resetting) {
      const after = ctx.env.brickRestartSeconds;
      if (b.deafSeconds !== undefined && b.pid) {
        const s = Math.round(b.deafSeconds);
        const says = b.downSeconds === undefined ? 'online' : 'offline';
        if (b.deafSeconds < after) {
          return { note: says === 'online' ? `${b.ref}: glusterd calls its brick process (pid ${b.pid}) online, but it has accepted no connections for ${s} s (replaced after ${after} s)`
            : `${b.ref}: glusterd calls its brick offline; its process (pid ${b.pid}) lives but has accepted no connections for ${s} s, and glusterd starts no other while it lives (replaced after ${after} s)`, wait: true };
        }
        return { action: { do: 'kill-deaf', volume: b.volume, ref: b.ref, pid: b.pid, glusterdSays: says }, note: `${b.ref}: its brick process (pid ${b.pid}) has accepted no connections for ${s} s although glusterd calls it ${says === 'online' ? 'online' : 'offline and starts no other while it lives'}: killing it and starting it again (volume start ${b.volume} force)` };
      }
      if (b.downSeconds === undefined) return {};
      const tries = b.startsTried ?? 0;
      // a brick that dies on every start (a failing disk, say) is tried less often after a while
      const wait = tries >= 6 ? after * 10 : after;
      if (b.downSeconds < wait) return { note: `${b.ref}: its brick process is not running (${Math.round(b.downSeconds)} s${tries ? `, ${tries} starts tried` : ''}; started again after ${wait} s${tries >= 6 ? `: see /var/log/glusterfs/bricks/ on ${ctx.self.name}` : ''})`, wait: true };
      // every other try restarts glusterd: a `start force` that did not help met a start glusterd believes under way
      if (tries % 2 === 1) return { action: { do: 'restart-glusterd', refs: [b.ref] }, note: `${b.ref}: still not running ${Math.round(b.downSeconds)} s after \`volume start ${b.volume} force\`: restarting glusterd (running bricks and clients are not touched)` };
      return { action: { do: 'start', volume: b.volume, refs: [b.ref] }, note: `${b.ref}: its brick process has not run for ${Math.round(b.downSeconds)} s: starting it (volume start ${b.volume} force)` };
    }
    if (b.healPending === 0) return { action: { do: 'healed', ref: b.ref }, note: `${b.ref}: healed` };
    return { note: `${b.ref}: healing${b.healPending !== undefined ? ` (${b.healPending} entries pending)` : ''}`, wait: true };
  }
  if (b.markedWith && b.markedWith !== id) throw new NeedsAttention(`${b.ref}: its directory is marked for another volume (${b.markedWith}, ${b.volume} is ${id}); left untouched`);
  // a reset interrupted after glusterd marked the directory: marked, maybe already healing into
  if (b.entries > 0 && !resetting) throw new NeedsAttention(`${b.ref}: ${b.volume} lists it, its directory is not marked as a brick but holds ${b.entries} entries; left untouched (move them away to let the agent bring the brick back)`);
  const info = ctx.obs.volumes.find((x) => x.name === b.volume);
  if (!info?.started) return { note: `${b.ref}: blank, ${b.volume} not started`, wait: true };
  const set = replicaSets(ctx.plan, b.volume).find((s) => s.includes(b.ref)) ?? [];
  const sources = set.filter((r) => r !== b.ref && b.online?.[r]);
  if (!sources.length) return { note: `${b.ref}: blank, and no other copy of its replica set is online to heal from (${set.filter((r) => r !== b.ref).join(', ')})`, wait: true };
  return { action: { do: 'reset', volume: b.volume, ref: b.ref, path: b.path }, note: `${b.ref}: blank brick (new disk or reinstalled node): to bring back and heal from ${sources.join(', ')}` };
}

export function bricksDecision(ctx: Ctx, seen: BricksSeen): Decision<BricksAction> {
  if (!ctx.obs.glusterdRunning || ctx.obs.glusterUnanswered) return waiting('glusterd not answering');
  const per = seen.bricks.map((b) => brickDecision(ctx, b));
  // one `start force` per volume starts every brick of it that is down; one glusterd restart does for all
  const actions: BricksAction[] = [];
  for (const a of per.flatMap((p) => (p.action ? [p.action] : []))) {
    const same = a.do === 'start' ? actions.find((x) => x.do === 'start' && x.volume === a.volume)
      : a.do === 'restart-glusterd' ? actions.find((x) => x.do === 'restart-glusterd') : undefined;
    if (same && 'refs' in same && 'refs' in a) same.refs.push(...a.refs); else actions.push(a);
  }
  const notes = per.flatMap((p) => (p.note ? [p.note] : []));
  if (actions.length) return todo(actions, notes.join('; '));
  if (notes.length) return waiting(notes.join('; '));
  return done(`${seen.bricks.length} bricks in their volumes`);
}

async function entriesOf(path: string): Promise<number> {
  return (await readdir(path)).filter((e) => e !== '.glusterfs').length;
}

/** glusterd answering again after a restart of ours (or the restart failed). */
async function glusterdAnswering(timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = glusterdStart();
    if (!s) return;
    if (s.failed) throw new Error(s.failed);
    if (Date.now() > end) throw new Error('glusterd did not answer after its restart');
    await sleep(250);
  }
}

async function setPhase(ctx: Ctx, ref: string, volume: string, phase: 'reset' | 'healing'): Promise<void> {
  const prev = ctx.state.data.brickResets?.[ref];
  ctx.state.data.brickResets = { ...ctx.state.data.brickResets, [ref]: { volume, since: prev?.since ?? new Date().toISOString(), phase } };
  await ctx.state.save();
}

async function resetBrick(ctx: Ctx, a: Extract<BricksAction, { do: 'reset' }>): Promise<void> {
  await setPhase(ctx, a.ref, a.volume, 'reset');
  boundary('bricks:intent');
  log.warn(`${a.ref}: blank brick of ${a.volume}: resetting it onto the new directory, then a full heal`);
  // the brick process' index translator starts before the storage one that would make this
  await mkdir(join(a.path, '.glusterfs'), { recursive: true, mode: 0o600 });
  await gluster(['volume', 'reset-brick', a.volume, a.ref, 'start'], true, 120_000);
  boundary('bricks:reset-start');
  const commit = () => gluster(['volume', 'reset-brick', a.volume, a.ref, a.ref, 'commit', 'force'], true, 120_000);
  let r = await commit();
  if (r.code !== 0 && /destination brick is new/i.test(r.stdout + r.stderr)) {
    // a glusterd that received the volume from its peers (a reinstalled node) knows the brick's
    // path only once it reads it back from its store: after a restart
    log.info(`${a.ref}: restarting glusterd so it knows the brick it received from the pool`);
    await restartGlusterd(recordGlusterdStart);
    await glusterdAnswering(120_000);
    // the peers reconnect to the restarted glusterd within seconds; until then they refuse the op
    for (let i = 0; i < 60; i++) {
      r = await commit();
      const out = r.stdout + r.stderr;
      if (r.code === 0 || !/not connected|must be stopped|already part of a volume/i.test(out)) break;
      // the restarted glusterd started the brick process again: stopped anew before the commit
      if (!/not connected/i.test(out)) await gluster(['volume', 'reset-brick', a.volume, a.ref, 'start'], true, 120_000);
      await sleep(1000);
    }
  }
  if (r.code !== 0) throw new Error(`reset-brick ${a.volume} ${a.ref}: ${(r.stderr || r.stdout).trim()}`);
  boundary('bricks:reset-commit');
  await setPhase(ctx, a.ref, a.volume, 'healing');
  log.info(`${a.ref}: reset-brick committed: back in ${a.volume}, healing`);
  const online = () => volumeStatus(a.volume).then((bs) => bs.some((b) => b.brick === a.ref && b.online), () => false);
  for (let i = 0; i < 40 && !(await online()); i++) {
    // a brick process that died on its first start is not retried by glusterd by itself
    if (i === 20) await gluster(['volume', 'start', a.volume, 'force'], true, 120_000);
    await sleep(500);
  }
  const heal = await gluster(['volume', 'heal', a.volume, 'full'], true, 120_000);
  // the reset marked the volume's root on the other copies as owed to this brick: the self-heal
  // daemon's index crawl heals every file from there; the full crawl only hurries it along
  if (heal.code !== 0) log.info(`heal ${a.volume} full: ${saidOneLine(heal)} (the index heal proceeds)`);
  boundary('bricks:heal');
}

/**
 * Kill a brick process that never serves (only if `pid` is still that brick's process), with any
 * other process of the same brick — nothing serves its port, so none of them is the brick — then
 * start the brick anew. (A brick stopped while it daemonized leaves two: parent and child.)
 */
async function replaceDeaf(a: Extract<BricksAction, { do: 'kill-deaf' }>): Promise<void> {
  deaf.delete(a.ref);
  if (!(await brickPort(a.pid, a.volume, a.ref))) return;
  const others = (await brickProcesses(a.volume, a.ref)).map((p) => p.pid).filter((p) => p !== a.pid);
  log.warn(`${a.ref}: brick process ${a.pid} accepts no connections although glusterd calls it ${a.glusterdSays}: killing it${others.length ? ` and ${others.join(', ')} of the same brick` : ''}, then volume start ${a.volume} force`);
  for (const pid of [a.pid, ...others]) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
  }
  for (const pid of [a.pid, ...others]) {
    if (!(await processGone(pid, 10_000))) throw new Error(`${a.ref}: brick process ${pid} did not exit after SIGKILL`);
  }
  // from here it is a brick that is down: if this start does not take, the down-brick path follows
  down.set(a.ref, { since: Date.now(), tries: (down.get(a.ref)?.tries ?? 0) + 1 });
  const r = await gluster(['volume', 'start', a.volume, 'force'], true, 120_000);
  if (r.code !== 0) log.warn(`volume start ${a.volume} force: ${saidOneLine(r)}`);
}

export const bricksStep: Step<BricksSeen, BricksAction> = {
  name: 'bricks',
  loop: 'storage',
  changesGluster: true,
  needsGluster: true,
  async observe(ctx) {
    const bricks: BrickSeen[] = [];
    for (const v of replicated(ctx)) {
      const info = ctx.obs.volumes.find((x) => x.name === v.name);
      if (!info) continue;
      for (const b of ctx.self.bricks.filter((x) => x.volume === v.name)) {
        const ref = `${ctx.self.name}:${b.path}`;
        if (!info.bricks.some((x) => x.name === ref) || !ctx.obs.readyBricks.includes(ref)) continue;
        const markedWith = await brickVolumeId(b.path);
        const seen: BrickSeen = { volume: v.name, ref, path: b.path, markedWith, entries: markedWith ? 0 : await entriesOf(b.path) };
        const resetting = ctx.state.data.brickResets?.[ref];
        const up = info.started ? ctx.obs.brickOnline?.[v.name]?.[ref] : undefined;
        if (up === false && markedWith === info.id && !resetting) {
          const d = down.get(ref) ?? { since: Date.now(), tries: 0 };
          down.set(ref, d);
          seen.downSeconds = (Date.now() - d.since) / 1000;
          if (d.tries) seen.startsTried = d.tries;
        } else if (up !== undefined || !info.started) down.delete(ref);
        // online: the pid glusterd names; offline: a process of that brick that still lives
        const pid = up === true ? ctx.obs.brickPids?.[v.name]?.[ref]
          : seen.downSeconds !== undefined ? (await brickProcesses(v.name, ref))[0]?.pid : undefined;
        if (pid && markedWith === info.id && !resetting) {
          const s = await deafSeconds(ref, v.name, pid);
          if (s !== undefined) { seen.pid = pid; seen.deafSeconds = s; }
        } else deaf.delete(ref);
        if ((!markedWith || resetting?.phase === 'reset') && info.started) seen.online = await onlineBricks(v.name);
        if (resetting && markedWith === info.id) {
          await countHealing(ref, b.path);
          const pending = await healPending(v.name);
          if (pending !== undefined) seen.healPending = pending;
        }
        bricks.push(seen);
      }
    }
    return { bricks };
  },
  plan: (ctx, seen) => bricksDecision(ctx, seen),
  async apply(ctx, actions) {
    for (const a of actions) {
      if (a.do === 'reset') await resetBrick(ctx, a);
      else if (a.do === 'kill-deaf') await replaceDeaf(a);
      else if (a.do === 'start' || a.do === 'restart-glusterd') {
        for (const ref of a.refs) down.set(ref, { since: Date.now(), tries: (down.get(ref)?.tries ?? 0) + 1 });
        if (a.do === 'start') {
          log.warn(`${a.refs.join(', ')}: brick process of ${a.volume} not running: starting it (volume start ${a.volume} force)`);
          const r = await gluster(['volume', 'start', a.volume, 'force'], true, 120_000);
          if (r.code !== 0) log.warn(`volume start ${a.volume} force: ${saidOneLine(r)}`);
        } else {
          log.warn(`${a.refs.join(', ')}: still not running after \`volume start force\`: restarting glusterd, which starts its bricks anew`);
          await restartGlusterd(recordGlusterdStart);
          await glusterdAnswering(120_000);
        }
      } else {
        const { [a.ref]: _, ...rest } = ctx.state.data.brickResets ?? {};
        ctx.state.data.brickResets = rest;
        await ctx.state.save();
        returningEntries.delete(a.ref);
        log.info(`${a.ref}: back in its volume and healed`);
      }
    }
  },
};
