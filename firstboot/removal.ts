// `node remove` on the agent side. The admin CLI asks one survivor (the coordinator) through the
// authenticated channel: `check` (dry run) or `start`, then `status` for progress. The
// coordinator looks at the live cluster, runs the pure safety check (core/removal-plan.ts),
// records the intent on every node before acting, and carries the removal out phase by phase in
// the background, so a disconnected admin machine loses nothing: the same command later shows
// the progress, or resumes from the recorded phase after an agent restart. Each phase looks
// before it acts, so running one twice does nothing more.
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { agentPlan } from '../core/agent-plan.js';
import { call, type Handler } from '../core/channel.js';
import type { AgentPlan } from '../core/plan-types.js';
import { decideRemoval } from '../core/removal-plan.js';
import { REMOVAL_PHASES, type RemovalAnswer, type RemovalDecision, type RemovalPhase, type RemovalProgress, type RemovalRecord, type RemovalRequest, type RemovalSeen } from '../core/removal-types.js';
import { run } from './exec.js';
import { healInfo, peers, volumes, type Peer } from './gluster.js';
import { haStatus } from './ha/api.js';
import { cibDelete, cibQuery, cibUpsert, crmMon } from './ha/pcmk.js';
import { fenceDevices } from './ha/cib.js';
import { DAEMONS, stopDaemon } from './ha/procs.js';
import { log } from './log.js';
import type { Members } from './members.js';
import { planDigest } from './plan-adopt.js';
import { fileBricks, peerDetach, removeBrick, removeBrickStatus, volumeStatus } from './removal-gluster.js';
import type { StateStore } from './state.js';
import { nodeDrain, vmDir, vmList, vmStart, vmStop } from './virt/vm.js';

export interface RemovalDeps { key: string; self: () => string; plan: () => AgentPlan; members: Members; state: StateStore; port: number }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sameNodes = (a: string[], b: string[]) => JSON.stringify([...new Set(a)].sort()) === JSON.stringify([...new Set(b)].sort());

/** The removal this agent coordinates (one at a time). */
let job: { rec: RemovalRecord; progress: RemovalProgress } | null = null;

function parseRequest(body: unknown): RemovalRequest {
  const r = body as RemovalRequest | null;
  if (!r || !['check', 'start', 'status'].includes(r.action) || !Array.isArray(r.nodes) || !r.nodes.every((n) => typeof n === 'string' && /^[a-z0-9-]{1,63}$/i.test(n))) {
    throw new Error('bad removal request');
  }
  return r;
}

/** The names Gluster may show for a node of the plan. */
function namesOf(d: RemovalDeps, plan: AgentPlan, name: string): string[] {
  const n = plan.nodes.find((x) => x.name === name);
  return [name, n?.fqdn, n && !n.network.dhcp ? n.network.address : undefined, d.members.peers.get(name)?.address].filter((x): x is string => Boolean(x));
}

function peerOf(d: RemovalDeps, plan: AgentPlan, pool: Peer[], name: string): Peer | undefined {
  const names = namesOf(d, plan, name);
  return pool.find((p) => p.names.some((x) => names.includes(x)) || names.includes(p.hostname));
}

function callNode<T>(d: RemovalDeps, name: string, op: string, body: unknown, timeoutMs = 30_000): Promise<T> {
  const plan = d.plan();
  const n = plan.nodes.find((x) => x.name === name);
  const address = name === d.self() ? '127.0.0.1' : d.members.peers.get(name)?.address ?? (n && !n.network.dhcp ? n.network.address : n?.fqdn ?? name);
  return call<T>(d.key, d.self(), address, d.members.peers.get(name)?.port ?? d.port, op, body, timeoutMs).then((r) => r.data);
}

/** Files on this node's local (not replicated) volumes. */
async function localFiles(plan: AgentPlan): Promise<{ volume: string; files: number }[]> {
  const count = async (dir: string): Promise<number> => {
    let n = 0;
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) n += e.isDirectory() ? await count(join(dir, e.name)) : 1;
    return n;
  };
  return Promise.all(plan.volumes.filter((v) => v.kind === 'local').map(async (v) => ({ volume: v.name, files: await count(v.mountPoint) })));
}

async function observeRemoval(d: RemovalDeps, r: RemovalRequest): Promise<RemovalSeen> {
  const plan = d.plan();
  const self = d.self();
  const live = new Set(d.members.live().map((m) => m.name));
  const others = plan.nodes.map((n) => n.name).filter((n) => n !== self);
  const unreachable = others.filter((n) => !live.has(n));
  let pool: Peer[] | null = null;
  try { pool = await peers(); } catch (e) { log.warn(`node remove: gluster peer status: ${(e as Error).message}`); }
  const notInPool = others.filter((n) => { const p = pool && peerOf(d, plan, pool, n); return !p || !p.connected || p.state !== 'Peer in Cluster'; });
  const infos = await volumes().catch(() => []);
  const seenVolumes: RemovalSeen['volumes'] = [];
  for (const v of plan.volumes.filter((x) => x.kind === 'replicated')) {
    const info = infos.find((x) => x.name === v.name);
    if (!info) { seenVolumes.push({ name: v.name, exists: false, bricks: [], tasks: [] }); continue; }
    const st = await volumeStatus(v.name).catch((e: Error) => ({ bricks: [], tasks: [`volume status failed (${e.message})`] }));
    const heal = await healInfo(v.name).catch(() => []);
    seenVolumes.push({
      name: v.name, exists: true, tasks: st.tasks,
      bricks: info.bricks.map((b) => ({
        brick: b.name,
        online: st.bricks.find((x) => x.brick === b.name)?.online ?? false,
        heal: heal.find((h) => h.brick === b.name)?.entries ?? -1,
      })),
    });
  }
  let ha: RemovalSeen['ha'];
  if (plan.ha?.enabled) {
    let h: Awaited<ReturnType<typeof haStatus>> | null = null;
    let why = 'HA status unavailable';
    try { h = await haStatus(self, plan); } catch (e) { why = `HA status: ${(e as Error).message}`; }
    ha = !h ? { quorate: false, members: [], error: why }
      : h.corosync.running ? { quorate: Boolean(h.corosync.quorate), members: h.corosync.members ?? [] }
        : { quorate: false, members: [], error: `corosync on ${self}: ${h.corosync.error ?? 'not running'}` };
  }
  // where each running VM's disk lies: Gluster cannot move a file QEMU holds locks on
  const runningVms: NonNullable<RemovalSeen['runningVms']> = [];
  if (plan.ha?.enabled) {
    const allBricks = infos.flatMap((v) => v.bricks.map((b) => b.name));
    const running = await crmMon().then((st) => vmList(st).filter((v) => v.role === 'Started' && v.nodes.length), () => []);
    for (const v of running) {
      const file = join(vmDir(plan, v.name), 'disk.qcow2');
      runningVms.push({ vm: v.name, file, bricks: await fileBricks(file, allBricks) });
    }
  }
  const local: RemovalSeen['localFiles'] = [];
  for (const n of r.nodes.filter((x) => plan.nodes.some((p) => p.name === x) && (x === self || live.has(x)))) {
    try {
      const got = await callNode<{ local: { volume: string; files: number }[] }>(d, n, 'removal-node', { action: 'probe' });
      for (const l of got.local) local.push({ node: n, ...l });
    } catch (e) { log.warn(`node remove: probing ${n}: ${(e as Error).message}`); }
  }
  const rec = d.state.data.removal;
  return {
    plan, nodes: r.nodes, target: r.target ? agentPlan(r.target) : null, ...(r.targetProblem ? { targetProblem: r.targetProblem } : {}),
    volumes: seenVolumes, unreachable, notInPool: pool ? notInPool : others, ...(ha ? { ha } : {}), localFiles: local,
    ...(rec && rec.phase !== 'done' ? { recorded: { nodes: rec.nodes, phase: rec.phase } } : {}),
    runningVms, ...(r.stopVms ? { stopVms: true } : {}),
  };
}

/** Records the removal on each named node (our own state directly); throws naming the nodes that did not take it. */
async function recordOn(d: RemovalDeps, names: string[], rec: RemovalRecord | null): Promise<void> {
  const failed: string[] = [];
  await Promise.all(names.map(async (n) => {
    try {
      if (n === d.self()) await saveRecord(d.state, rec);
      else await callNode(d, n, 'removal-record', { record: rec });
    } catch (e) { failed.push(`${n} (${(e as Error).message})`); }
  }));
  if (failed.length) throw new Error(`could not record the removal on ${failed.join(', ')}`);
}

async function saveRecord(state: StateStore, rec: RemovalRecord | null): Promise<void> {
  if (!rec) delete state.data.removal;
  else {
    state.data.removal = rec;
    if (rec.phase === 'done') state.data.retired = [...new Set([...(state.data.retired ?? []), ...rec.nodes])];
  }
  await state.save();
}

function progressOf(rec: RemovalRecord, running: boolean): RemovalProgress {
  return { id: rec.id, nodes: rec.nodes, phase: rec.phase, running, lines: [], done: rec.phase === 'done' };
}

function startJob(d: RemovalDeps, rec: RemovalRecord): RemovalProgress {
  const progress = progressOf(rec, true);
  job = { rec, progress };
  void carryOut(d, rec, progress).then(
    () => { progress.running = false; progress.done = true; },
    (e: Error) => { progress.running = false; progress.error = e.message; log.error(`node remove ${rec.nodes.join(' ')}: ${e.message}`); },
  );
  return progress;
}

async function carryOut(d: RemovalDeps, rec: RemovalRecord, progress: RemovalProgress): Promise<void> {
  const say = (line: string) => { progress.lines.push(line); log.info(`node remove: ${line}`); };
  const from = REMOVAL_PHASES.indexOf(rec.phase);
  const due = (p: RemovalPhase) => REMOVAL_PHASES.indexOf(p) >= from;
  const enter = async (p: RemovalPhase) => { rec.phase = p; progress.phase = p; await saveRecord(d.state, rec); };
  const before = d.plan();
  const survivors = rec.target.nodes.map((n) => n.name);
  // from the record, not the plan: a run resumed after the survivors switched plans still knows them
  const haMembers = rec.target.ha?.enabled ? rec.nodes.filter((n) => n !== rec.target.ha?.qdevice?.node) : [];
  if (from > 0) say(`resuming the removal of ${rec.nodes.join(', ')} at phase ${rec.phase}`);

  if (due('drain') && haMembers.length) {
    await enter('drain');
    const known = (await crmMon()).nodes.map((n) => n.name);
    for (const n of haMembers.filter((x) => known.includes(x))) {
      say(`draining ${n}: Pacemaker live-migrates its VMs away`);
      const r = await nodeDrain(n, true);
      say(`${n} drained${r.vmsOnNode.length ? ` (still on it: ${r.vmsOnNode.join(', ')})` : ''}`);
    }
  }
  if (due('bricks')) {
    await enter('bricks');
    // what the volumes still have of them: a resumed run may find them gone (committed)
    const infos = await volumes();
    const left = rec.removeBricks.map((r) => ({ volume: r.volume, bricks: r.bricks.filter((b) => infos.find((x) => x.name === r.volume)?.bricks.some((y) => y.name === b)) })).filter((r) => r.bricks.length);
    if (left.length) {
      for (const vm of rec.stopVms) {
        say(`stopping VM ${vm}: its disk moves with the leaving set`);
        await vmStop(vm); // (returns once Pacemaker says Stopped: QEMU and its image locks are gone)
      }
    }
    for (const r of left) await migrateOff(r.volume, r.bricks, say);
    for (const vm of rec.stopVms) {
      const v = await vmStart(vm);
      say(`VM ${vm} started again on ${v.nodes.join(', ')}`);
    }
  }
  if (due('leave') && haMembers.length) {
    await enter('leave');
    for (const n of haMembers) {
      say(`stopping Pacemaker on ${n} (standby: it runs nothing)`);
      await callNode(d, n, 'removal-node', { action: 'stop', daemon: 'pacemaker' }, 180_000);
    }
  }
  if (due('detach')) {
    await enter('detach');
    const pool = await peers();
    for (const n of rec.nodes) {
      const p = peerOf(d, before, pool, n);
      if (!p) continue;
      say(`gluster peer detach ${n}`);
      await peerDetach(p.hostname);
    }
  }
  if (due('adopt')) {
    await enter('adopt');
    say(`${survivors.join(', ')}: adopting the plan without ${rec.nodes.join(', ')}`);
    await recordOn(d, survivors, rec);
    await waitUntil(`every survivor on the new plan`, 300_000, async () => {
      const digests = await Promise.all(survivors.map((n) => callNode<{ planDigest: string }>(d, n, 'status', null, 10_000).then((s) => s.planDigest, () => '?')));
      return digests.every((x) => x === rec.targetDigest);
    });
    say(`${survivors.join(', ')} run the plan without ${rec.nodes.join(', ')} (CA bundle and auth.ssl-allow follow)`);
  }
  if (due('pacemaker') && haMembers.length) {
    await enter('pacemaker');
    // the survivors' corosync.conf lost them (HA step, reload); now their corosync may stop without costing quorum
    const stay = rec.target.nodes.map((n) => n.name).filter((n) => n !== rec.target.ha?.qdevice?.node);
    let votes: { expected?: number; total?: number } = {};
    await waitUntil('corosync membership of the survivors alone', 300_000, async () => {
      const h = await haStatus(d.self(), d.plan()).catch(() => null);
      votes = { expected: h?.corosync.expectedVotes, total: h?.corosync.totalVotes };
      const m = h?.corosync.members ?? [];
      return Boolean(h?.corosync.running && h.corosync.quorate && m.length === stay.length && stay.every((n) => m.includes(n)));
    });
    // corosync recalculates expected votes from the new nodelist on reload (seen in the harness);
    // should one keep a higher value, 3 survivors of 5 would need all 3 and lose quorum at the next failure
    if (votes.expected !== undefined && votes.total !== undefined && votes.expected > votes.total) {
      await run('corosync-quorumtool', ['-e', String(votes.total)], { timeoutMs: 30_000 });
      say(`corosync: expected votes ${votes.expected} → ${votes.total}`);
    }
    for (const n of haMembers) {
      say(`stopping corosync on ${n}`);
      await callNode(d, n, 'removal-node', { action: 'stop', daemon: 'corosync' }, 180_000).catch((e: Error) => say(`${n}: ${e.message} (it left corosync's membership already)`));
      await run('crm_node', ['--force', '-R', n], { allowFail: true, timeoutMs: 60_000 });
      await cibDelete('resources', `<primitive id="fence-ipmi-${n}"/>`).catch(() => undefined);
      // location constraints naming it (its fence device's, `vm migrate` preferences) would name a node that is no more
      const constraints = await cibQuery('constraints').catch(() => '');
      for (const m of constraints.matchAll(/<rsc_location\b[^>]*>/g)) {
        const id = /\bid="([^"]+)"/.exec(m[0])?.[1];
        if (id && m[0].includes(`node="${n}"`)) await cibDelete('constraints', `<rsc_location id="${id}"/>`);
      }
      say(`Pacemaker forgot ${n}`);
    }
    if (rec.target.ha?.enabled) for (const dev of fenceDevices(rec.target)) await cibUpsert('resources', dev.xml);
  }
  await enter('done');
  // the nodes that left learn it too (they stop forming); they may be powered off already
  await recordOn(d, survivors, rec);
  for (const n of rec.nodes) await callNode(d, n, 'removal-record', { record: rec }, 5000).catch(() => undefined);
  say(`removed ${rec.nodes.join(', ')}`);
}

async function waitUntil(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; run the same command again to resume`);
    await sleep(2000);
  }
}

const size = (b: number) => (b >= 1 << 30 ? `${(b / (1 << 30)).toFixed(1)} GiB` : b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : `${(b / 1024).toFixed(0)} KiB`);

/** remove-brick start → status until completed → commit; a run already started or completed is continued. */
/** Tries of one run at moving the files off before it stops and says what is left (a file in use a moment ago moves on the next). */
const MIGRATE_TRIES = 3;

async function migrateOff(volume: string, bricks: string[], say: (l: string) => void): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    let st = await removeBrickStatus(volume, bricks);
    const leftBehind = st && (/^completed$/i.test(st.state) ? st.failures + st.skipped > 0 : /fail|stopped/i.test(st.state));
    if (st && leftBehind) {
      // an earlier try left files behind (in use then, or the migration failed): move what is left once more
      say(`${volume}: the last migration ${st.state} with ${st.failures} failed and ${st.skipped} skipped: remove-brick stop, then start again`);
      await removeBrick(volume, bricks, 'stop');
      st = null;
    }
    if (!st) {
      say(`${volume}: remove-brick ${bricks.join(' ')} start (their files move to the other replica sets)`);
      await removeBrick(volume, bricks, 'start');
    }
    let last = '';
    for (;;) {
      st = await removeBrickStatus(volume, bricks);
      if (st) {
        const line = `${volume}: ${st.state}: ${st.files} files (${size(st.bytes)}) moved, ${st.failures} failed, ${st.skipped} skipped`;
        if (line !== last) say(line);
        last = line;
        if (/^completed$/i.test(st.state) || /fail|stopped/i.test(st.state)) break;
      }
      await sleep(2000);
    }
    const clean = /^completed$/i.test(st!.state) && !st!.failures && !st!.skipped;
    if (clean) break;
    if (attempt < MIGRATE_TRIES) {
      // a VM's disk is unlocked a moment after Pacemaker reports it stopped; a try later it moves
      say(`${volume}: try ${attempt} of ${MIGRATE_TRIES} left files behind; trying again in 10 s`);
      await sleep(10_000);
      continue;
    }
    if (!/^completed$/i.test(st!.state)) throw new Error(`${volume}: moving files off ${bricks.join(' ')} ${st!.state} (${MIGRATE_TRIES} tries): see /var/log/glusterfs/${volume}-rebalance.log on the removed nodes. Fix that, then run node remove again: it moves what is left`);
    throw new Error(`${volume}: ${st!.failures} files failed and ${st!.skipped} were skipped moving off ${bricks.join(' ')} (${MIGRATE_TRIES} tries): not committing (those bricks still hold them). Gluster skips files in use with locks (a running VM's disk: --stop-vms) and files the other sets have no room for; /var/log/glusterfs/${volume}-rebalance.log on the nodes leaving names them ("Skipping file migration"). Fix that, then run node remove again: it moves what is left`);
  }
  await removeBrick(volume, bricks, 'commit');
  say(`${volume}: committed: ${bricks.join(' ')} removed`);
}

async function handleRemoval(d: RemovalDeps, r: RemovalRequest): Promise<RemovalAnswer> {
  const rec = d.state.data.removal && d.state.data.removal.phase !== 'done' ? d.state.data.removal : undefined;
  const nodes = [...new Set(r.nodes)];
  if (r.action === 'status') {
    if (job && (!rec || job.rec.id === rec.id || job.rec.phase === 'done')) return { kind: 'progress', progress: { ...job.progress, lines: job.progress.lines.slice(r.since ?? 0) } };
    return rec ? { kind: 'progress', progress: progressOf(rec, false) } : { kind: 'none' };
  }
  const busy = job?.progress.running ? job.rec : rec;
  if (busy && sameNodes(busy.nodes, nodes)) {
    if (r.action === 'check') {
      const decision: RemovalDecision = { nodes, refusals: [], actions: [`resume the removal recorded ${busy.at} at phase ${busy.phase} (every phase checks what is already done)`], removeBricks: [], haMembers: [], stopVms: [] };
      return { kind: 'plan', decision, recorded: { nodes: busy.nodes, phase: busy.phase } };
    }
    if (job?.progress.running) return { kind: 'progress', progress: job.progress };
    return { kind: 'progress', progress: startJob(d, busy) };
  }
  // run again after it finished (the admin missed the end): nothing to do, say so
  const inPlan = new Set(d.plan().nodes.map((n) => n.name));
  if (nodes.length && nodes.every((n) => d.state.data.retired?.includes(n) && !inPlan.has(n))) {
    const line = `${nodes.join(', ')} ${nodes.length === 1 ? 'was' : 'were'} removed already`;
    if (r.action === 'check') return { kind: 'plan', decision: { nodes, refusals: [], actions: [`nothing: ${line}`], removeBricks: [], haMembers: [], stopVms: [] } };
    return { kind: 'progress', progress: { id: d.state.data.removal?.id ?? '', nodes, phase: 'done', running: false, lines: [line], done: true } };
  }
  const decision = decideRemoval(await observeRemoval(d, { ...r, nodes }));
  if (job?.progress.running) decision.refusals.push(`the removal of ${job.rec.nodes.join(', ')} is running: wait for it to finish`);
  if (nodes.includes(d.self())) decision.refusals.push(`${d.self()} is one of the nodes to remove: ask a node that stays (--via)`);
  if (decision.refusals.length) return { kind: 'refused', decision };
  if (r.action === 'check') return { kind: 'plan', decision };
  if (!r.target) throw new Error('node remove: the request lacks the target plan');
  const target = agentPlan(r.target);
  const fresh: RemovalRecord = { id: randomUUID(), nodes: decision.nodes, target, targetDigest: planDigest(target), removeBricks: decision.removeBricks, stopVms: decision.stopVms, phase: 'recorded', at: new Date().toISOString(), by: d.self() };
  const everyone = d.plan().nodes.map((n) => n.name);
  try {
    await recordOn(d, everyone, fresh);
  } catch (e) {
    await recordOn(d, everyone, null).catch(() => undefined);
    throw new Error(`${(e as Error).message}; nothing was changed`);
  }
  log.info(`node remove: recorded the removal of ${fresh.nodes.join(', ')} on ${everyone.join(', ')}`);
  return { kind: 'progress', progress: startJob(d, fresh) };
}

export function removalHandlers(d: RemovalDeps): Record<string, Handler> {
  return {
    removal: async (_from, body) => handleRemoval(d, parseRequest(body)),
    'removal-record': async (_from, body) => {
      const rec = (body as { record?: RemovalRecord | null } | null)?.record ?? null;
      if (rec && (!Array.isArray(rec.nodes) || !Array.isArray(rec.removeBricks) || !Array.isArray(rec.stopVms) || !REMOVAL_PHASES.includes(rec.phase) || rec.target?.schemaVersion !== 1)) throw new Error('bad removal record');
      // never a record replaced by an older one of the same removal (a late message)
      const cur = d.state.data.removal;
      if (rec && cur?.id === rec.id && REMOVAL_PHASES.indexOf(cur.phase) > REMOVAL_PHASES.indexOf(rec.phase)) return { ok: true };
      await saveRecord(d.state, rec);
      return { ok: true };
    },
    'removal-node': async (_from, body) => {
      const b = body as { action?: string; daemon?: string } | null;
      if (b?.action === 'probe') return { local: await localFiles(d.plan()) };
      if (b?.action === 'stop' && (b.daemon === 'pacemaker' || b.daemon === 'corosync')) {
        if (!d.state.data.removal?.nodes.includes(d.self())) throw new Error(`${d.self()} is not being removed: refusing to stop ${b.daemon}`);
        await stopDaemon(DAEMONS[b.daemon]);
        return { stopped: b.daemon };
      }
      throw new Error('bad removal-node request');
    },
  };
}
