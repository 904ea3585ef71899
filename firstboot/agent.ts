// The agent: two reconcile loops over the steps — storage (hosts, TLS, glusterd, bricks, pool,
// volumes, mounts) and virtualisation/HA — so storage never waits behind a slow libvirt or
// corosync start; member polling; the node's status. Each step observes, decides, acts (reconcile.ts).
import type { Server } from 'node:http';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import type { AgentPlan } from '../core/plan-types.js';
import { keyIdOf } from '../core/auth.js';
import { loadAgentConfig, type AgentConfig } from '../core/agent-config.js';
import type { BrickCount, Degradation, NodeStatus, ReturningBrick, StepStatus, VolumeSpace } from '../core/status-types.js';
import { lastErrorAfter, nodeStatus } from './agent-status.js';
import { countEntries } from './brick-count.js';
import { startAgentNetwork } from './agent-network.js';
import { configureCrashes } from './crash.js';
import type { Discovery } from './discovery.js';
import type { AgentEnv } from './env.js';
import { saidOneLine } from './exec.js';
import { readText, writeDurable } from './fsx.js';
import { gluster, healInfo, localUuid, peers, volumes, volumeStatus, type HealBrick } from './gluster.js';
import { degradationKey, degradations, type BrickOnline } from './health.js';
import { addSample, healSample, healStalled, type HealSample } from './heal-nudge.js';
import { mountedAt } from './disks.js';
import { volumeSpace } from './volume-space.js';
import { Leadership } from './leadership.js';
import { log } from './log.js';
import { Members } from './members.js';
import { adoptNewerPlan } from './plan-adopt.js';
import { reconcileStep } from './reconcile.js';
import { glusterdPid, glusterdStart } from './service.js';
import { StateStore } from './state.js';
import { bricksStep, returningEntries } from './steps/bricks.js';
import { disksStep, readyBrickRefs } from './steps/disks.js';
import { foldersStep } from './steps/folders.js';
import { glusterdStep } from './steps/glusterd.js';
import { haStep } from './steps/ha.js';
import { hostsStep } from './steps/hosts.js';
import { identityStep } from './steps/identity.js';
import { mountsStep } from './steps/mounts.js';
import { namesOf, peersStep } from './steps/peers.js';
import { NeedsAttention, type Ctx, type Loop, type Observed, type Step } from './steps/step.js';
import { tangStep } from './steps/tang.js';
import { tlsStep } from './steps/tls.js';
import { virtStep } from './steps/virt.js';
import { cockpitStep } from './steps/cockpit.js';
import { backupTimerStep } from './steps/backup-timer.js';
import { volumesStep } from './steps/volumes.js';
import { CA, CERT, fingerprint, splitPems } from './tls.js';

// TLS and glusterd before the disks: glusterd's start (seconds of CPU) overlaps brick preparation
export const STEPS = [hostsStep, tlsStep, identityStep, glusterdStep, tangStep, disksStep, peersStep, volumesStep, bricksStep, mountsStep, foldersStep, virtStep, haStep, cockpitStep, backupTimerStep] as Step[];

const LOOPS: Loop[] = ['storage', 'virt'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How often the leader asks `volume status` (brick processes): every idle pass (10 s), an offline brick shows within one. */
const BRICK_STATUS_MS = 8_000;

export class Agent {
  cfg!: AgentConfig;
  state: StateStore;
  members!: Members;
  private server?: Server;
  private discovery?: Discovery;
  private steps = new Map<string, StepStatus>();
  private lastError: NodeStatus['lastError'] = null;
  private obs: Observed = { glusterdRunning: false, peers: [], volumes: [], bricksReady: false, readyBricks: [], cert: null, caTrusts: [] };
  private leadership = new Leadership();
  private heal = new Map<string, { at: number; bricks: HealBrick[] }>();
  private space = new Map<string, VolumeSpace>();
  /** Pending heal entries per volume over the last minutes, and when the leader last asked for a crawl. */
  private healHistory = new Map<string, { samples: HealSample[]; askedAt?: number }>();
  private startedAt = new Date().toISOString();
  private startedMs = Date.now();
  private stopping = false;
  private healRunning = false;
  /** What this node last asked `volume status` (`at` 0: never). */
  private brickStatusOwn: { at: number; vols: Record<string, BrickOnline[]> } = { at: 0, vols: {} };
  private counts = new Map<string, BrickCount>();
  private countedAt = 0;
  /** Degradations seen, by key, with when first seen: logged once when they appear and once when they clear. */
  private degraded = new Map<string, string>();
  private loops = new Map<Loop, { converged: boolean; dirty: boolean; wake?: () => void }>(LOOPS.map((l) => [l, { converged: false, dirty: false }]));
  private markObserved!: () => void;
  private observedOnce = new Promise<void>((r) => { this.markObserved = r; });
  private statusCache?: { at: number; status: Promise<NodeStatus> };

  constructor(readonly env: AgentEnv) {
    this.state = new StateStore(env.stateDir);
  }

  get plan(): AgentPlan { return this.cfg.plan; }

  async init(): Promise<void> {
    this.cfg = await loadAgentConfig(this.env.configDir);
    configureCrashes(this.env.crashAt, this.env.stateDir);
    await mkdir(this.env.stateDir, { recursive: true, mode: 0o700 });
    await this.state.load();
    for (const s of STEPS) this.steps.set(s.name, { name: s.name, state: 'pending', detail: '', at: new Date().toISOString() });
    this.members = new Members(this.cfg.key, this.cfg.node.name, this.env.port);
    this.members.seed(this.plan);
    log.info(`personal-cloud-agent: node ${this.cfg.node.name} of cluster ${this.plan.cluster.name} (${this.plan.nodes.length} nodes, key id ${keyIdOf(this.cfg.key)})`);
    if (keyIdOf(this.cfg.key) !== this.plan.cluster.keyId) log.warn(`join.key does not match cluster.json's key id ${this.plan.cluster.keyId}: this node will be refused by its peers`);
  }

  async startNetwork(): Promise<void> {
    ({ server: this.server, discovery: this.discovery } = await startAgentNetwork({
      env: this.env, key: this.cfg.key, self: () => this.cfg.node, plan: () => this.plan, members: this.members, state: this.state,
      observed: this.observedOnce,
      recentStatus: () => this.recentStatus(),
      healedStatus: async () => { await this.refreshHeal(5_000); return this.status(); },
    }));
  }

  stop(): void {
    this.stopping = true;
    this.discovery?.stop();
    this.server?.close();
    for (const l of this.loops.values()) l.wake?.();
  }

  /** Looks at the node; `gluster` false reuses the last peer and volume lists (after a step that cannot change them). */
  private async observe(gluster = true): Promise<void> {
    const start = glusterdStart();
    const starting = Boolean(start && !start.failed);
    const running = starting || Boolean(await glusterdPid());
    const o: Observed = {
      glusterdRunning: running,
      uuid: await localUuid(),
      peers: [], volumes: [],
      bricksReady: false,
      readyBricks: [],
      cert: await readText(CERT),
      caTrusts: splitPems((await readText(CA)) ?? '').map(fingerprint),
    };
    if (running && !gluster && this.obs.glusterdRunning) {
      o.peers = this.obs.peers; o.volumes = this.obs.volumes;
    } else if (starting) {
      // its CLI would block for seconds per call until it answers
      o.peers = this.obs.peers; o.volumes = this.obs.volumes; o.glusterUnanswered = true;
    } else if (running) {
      // each CLI call is a TLS handshake with glusterd: ask both at once
      try { [o.peers, o.volumes] = await Promise.all([peers(), volumes()]); } catch (e) {
        // a busy glusterd (timeout, lost quorum) says nothing about what exists: acting on an empty
        // answer would re-probe or re-create, so keep the last known pool and volumes and wait
        log.debug(`observe: ${(e as Error).message}`);
        o.peers = this.obs.peers; o.volumes = this.obs.volumes; o.glusterUnanswered = true;
      }
    }
    const online = this.leaderBrickStatus() ?? (Date.now() - this.brickStatusOwn.at < 3 * BRICK_STATUS_MS ? this.brickStatusOwn.vols : undefined);
    if (online) {
      o.brickOnline = Object.fromEntries(Object.entries(online).map(([v, bs]) => [v, Object.fromEntries(bs.map((b) => [b.brick, b.online]))]));
      o.brickPids = Object.fromEntries(Object.entries(online).map(([v, bs]) => [v, Object.fromEntries(bs.flatMap((b) => (b.pid ? [[b.brick, b.pid]] : [])))]));
    }
    o.readyBricks = await readyBrickRefs(this.ctx(o));
    o.bricksReady = o.readyBricks.length === this.cfg.node.bricks.length;
    this.obs = o;
    this.markObserved();
  }

  private ctx(obs = this.obs): Ctx {
    const now = Date.now();
    return {
      plan: this.plan, self: this.cfg.node, key: this.cfg.key, env: this.env, state: this.state, members: this.members, obs,
      leader: this.leadership.leader,
      leaderWhy: this.leadership.why,
      leaderStable: this.leadership.stable(now),
      now,
    };
  }

  private async runSteps(loop: Loop): Promise<boolean> {
    let converged = true;
    for (const step of STEPS.filter((s) => s.loop === loop)) {
      const prev = this.steps.get(step.name);
      let st: StepStatus;
      if (step.needsGluster && this.obs.glusterUnanswered) {
        st = { name: step.name, state: prev?.state === 'done' ? 'done' : 'waiting', detail: 'glusterd not answering (last known state kept)', at: new Date().toISOString() };
      } else {
        try {
          const r = await reconcileStep(step, () => this.ctx(), (gluster) => (loop === 'storage' ? this.observe(gluster) : Promise.resolve()));
          st = { name: step.name, state: r.state, detail: r.detail, at: new Date().toISOString() };
          this.lastError = lastErrorAfter(this.lastError, step.name, st);
        } catch (e) {
          const message = (e as Error).message;
          st = { name: step.name, state: e instanceof NeedsAttention ? 'attention' : 'error', detail: message, at: new Date().toISOString() };
          if ((prev?.state !== 'error' && prev?.state !== 'attention') || prev.detail !== message) log.error(`step ${step.name}: ${message}`);
          this.lastError = lastErrorAfter(this.lastError, step.name, { state: st.state, error: message, at: st.at });
        }
      }
      if (prev?.state !== st.state) log.info(`step ${step.name}: ${st.state}${st.detail ? ` — ${st.detail}` : ''}`);
      this.steps.set(step.name, st);
      if (st.state !== 'done') converged = false;
    }
    return converged;
  }

  /** One pass of a loop; the storage loop also adopts a newer plan, looks at the node and picks the leader. */
  async pass(loop: Loop): Promise<boolean> {
    if (loop === 'storage') {
      const adopted = await adoptNewerPlan({ plan: this.plan, key: this.cfg.key, self: this.cfg.node.name, members: this.members, configDir: this.env.configDir, state: this.state });
      if (adopted) {
        this.cfg.plan = adopted;
        this.cfg.node = adopted.nodes.find((n) => n.name === this.cfg.node.name)!;
        this.members.seed(adopted);
      }
      await this.observe();
      const ctx = this.ctx();
      this.leadership.update({ plan: this.plan, self: this.cfg.node.name, members: this.members, obs: this.obs, namesOf: (n) => namesOf(ctx, n), agentStartMs: this.startedMs, graceSeconds: this.env.formGraceSeconds, now: ctx.now });
    } else {
      await this.observedOnce;
    }
    const converged = await this.runSteps(loop);
    this.loops.get(loop)!.converged = converged;
    if (loop === 'storage') {
      // also while a step waits: a cluster stuck half-formed is exactly when status must be honest
      await this.refreshBrickStatus();
      if (!this.healRunning) {
        this.healRunning = true;
        void this.refreshHeal(this.degraded.size ? 30_000 : 120_000).then(() => this.countBricks()).then(() => this.askStalledHeals()).then(() => this.refreshSpace())
          .finally(() => { this.healRunning = false; });
      }
    }
    await this.snapshot();
    return converged;
  }

  private glusterAnswers(): boolean { return this.obs.glusterdRunning && !this.obs.glusterUnanswered; }

  /**
   * Brick processes from `volume status` (cheap: ~15 ms of CPU against ~70 ms for heal info, which
   * builds a whole client graph and grows with the entries it lists). It takes the volume's lock in
   * every glusterd for a moment, and a command that meets it fails ("Another transaction is in
   * progress"): so only the leader asks, inside its storage pass (never beside its own volume
   * commands), and the others go by its answer; a node asks itself only while the leader's
   * answer is missing or old (leader gone, older agent).
   */
  private async refreshBrickStatus(): Promise<void> {
    const started = this.obs.volumes.filter((x) => x.started);
    if (!started.length || !this.glusterAnswers() || this.leaderBrickStatus() || Date.now() - this.brickStatusOwn.at < BRICK_STATUS_MS) return;
    const vols: Record<string, BrickOnline[]> = {};
    for (const v of started) {
      try { vols[v.name] = await volumeStatus(v.name); } catch (e) {
        // busy (another transaction) or timed out: the last answer stands
        log.debug(`volume status ${v.name}: ${(e as Error).message}`);
        if (this.brickStatusOwn.vols[v.name]) vols[v.name] = this.brickStatusOwn.vols[v.name];
      }
    }
    this.brickStatusOwn = { at: Date.now(), vols };
  }

  /** The leader's recent `volume status` answer, when another node leads and answers; its age by the leader's own clock. */
  private leaderBrickStatus(): Record<string, BrickOnline[]> | undefined {
    const leader = this.leadership.leader;
    const r = leader && leader !== this.cfg.node.name ? this.members.get(leader)?.remote : undefined;
    return r?.brickStatus && r.health && Date.parse(r.health.checkedAt) - Date.parse(r.brickStatus.at) < 3 * BRICK_STATUS_MS ? r.brickStatus.volumes : undefined;
  }

  /**
   * Entries of this node's bricks, every countInterval (20k entries cost ~60 ms of CPU, 100k
   * ~250 ms), the last two kept. Heal info is asked first: a count taken while a brick of the
   * volume is away or entries wait for heal is marked unsettled and never called a silent loss.
   */
  private async countBricks(): Promise<void> {
    if (!this.glusterAnswers() || Date.now() - this.countedAt < this.env.countInterval * 1000) return;
    this.countedAt = Date.now();
    const self = this.cfg.node.name;
    const vols = this.obs.volumes.filter((v) => v.started && v.bricks.some((b) => b.host === self));
    for (const k of this.counts.keys()) if (!vols.some((v) => v.bricks.some((b) => b.name === k && b.host === self))) this.counts.delete(k);
    for (const v of vols) {
      let settled = false;
      try {
        const recent = this.heal.get(v.name);
        const heal = recent && Date.now() - recent.at < 5_000 ? recent.bricks : await healInfo(v.name);
        this.heal.set(v.name, { at: recent?.bricks === heal ? recent.at : Date.now(), bricks: heal });
        settled = heal.length === v.bricks.length && heal.every((b) => b.connected && b.entries === 0);
      } catch (e) { log.debug(`heal info ${v.name}: ${(e as Error).message}`); }
      for (const b of v.bricks.filter((x) => x.host === self)) {
        try {
          const c = await countEntries(b.path);
          const prev = this.counts.get(b.name);
          this.counts.set(b.name, {
            volume: v.name, brick: b.name, entries: c.entries, at: new Date().toISOString(), settled,
            ...(prev ? { previous: { entries: prev.entries, at: prev.at, settled: prev.settled } } : {}), ...(c.capped ? { capped: true } : {}),
          });
        } catch (e) {
          log.debug(`count ${b.name}: ${(e as Error).message}`);
          this.counts.delete(b.name);
        }
      }
    }
  }

  /** Heal counts (glfsheal costs seconds of CPU): every 2 min in the background (30 s while degraded), fresh when someone asks. */
  private async refreshHeal(maxAgeMs = 120_000): Promise<void> {
    if (!this.glusterAnswers()) return;
    for (const v of this.obs.volumes) {
      if (!v.started) continue;
      const prev = this.heal.get(v.name);
      if (prev && Date.now() - prev.at < maxAgeMs) continue;
      try { this.heal.set(v.name, { at: Date.now(), bricks: await healInfo(v.name) }); } catch (e) { log.debug(`heal info ${v.name}: ${(e as Error).message}`); }
    }
  }

  /** Size and free space of each mounted volume, at most a minute old (status and the web console show it). */
  private async refreshSpace(maxAgeMs = 60_000): Promise<void> {
    for (const v of this.plan.volumes) {
      const prev = this.space.get(v.name);
      if (prev && Date.now() - Date.parse(prev.at) < maxAgeMs) continue;
      const s = (await mountedAt(v.mountPoint)) ? await volumeSpace(v.mountPoint) : null;
      if (s) this.space.set(v.name, s); else this.space.delete(v.name);
    }
  }

  /** The leader asks the self-heal daemons to crawl again when a volume's pending entries stopped shrinking (heal-nudge.ts). */
  private async askStalledHeals(): Promise<void> {
    const leading = this.leadership.leader === this.cfg.node.name;
    for (const [name, { at, bricks }] of this.heal) {
      const h = this.healHistory.get(name) ?? { samples: [] };
      h.samples = addSample(h.samples, healSample(at, bricks));
      this.healHistory.set(name, h);
      if (!leading || !this.glusterAnswers() || !healStalled(h.samples, h.askedAt, Date.now())) continue;
      h.askedAt = Date.now();
      const r = await gluster(['volume', 'heal', name], true, 60_000);
      const pending = h.samples[h.samples.length - 1].pending;
      log.info(`heal of ${name} has not moved for a while (${pending} entries pending, every brick connected): asked the self-heal daemons to crawl again`
        + (r.code === 0 ? '' : ` — ${saidOneLine(r)}`));
    }
  }

  /** status.json: what `status` shows when the agent does not answer; replaced whole, never half-written. */
  private async snapshot(): Promise<void> {
    try { await writeDurable(join(this.env.stateDir, 'status.json'), `${JSON.stringify(await this.status(), null, 2)}\n`, 0o600); } catch (e) { log.debug(`status snapshot: ${(e as Error).message}`); }
  }

  /** Every member polls every member twice a second while forming: answer them from one status per 250 ms. */
  private recentStatus(): Promise<NodeStatus> {
    if (!this.statusCache || Date.now() - this.statusCache.at > 250) this.statusCache = { at: Date.now(), status: this.status() };
    return this.statusCache.status;
  }

  status(): Promise<NodeStatus> {
    return nodeStatus({
      plan: this.plan, node: this.cfg.node.name, key: this.cfg.key, startedAt: this.startedAt, leader: this.leadership.leader,
      obs: this.obs, members: this.members, steps: STEPS.map((s) => this.steps.get(s.name)!), heal: this.heal, space: this.space, lastError: this.lastError,
      health: { degraded: this.health(), checkedAt: new Date().toISOString() },
      brickCounts: [...this.counts.values()],
      returning: this.returning(),
      ...(this.brickStatusOwn.at ? { brickStatus: { at: new Date(this.brickStatusOwn.at).toISOString(), volumes: this.brickStatusOwn.vols } } : {}),
    });
  }

  private returning(): ReturningBrick[] {
    return Object.entries(this.state.data.brickResets ?? {}).map(([brick, r]) => {
      const entries = returningEntries.get(brick);
      return { volume: r.volume, brick, since: r.since, ...(entries !== undefined ? { entries } : {}) };
    });
  }

  /** What is degraded now, from what this agent and its members last saw; logs each degradation when it appears and when it clears. */
  private health(): Degradation[] {
    const list = degradations({
      self: this.cfg.node.name,
      nodes: this.plan.nodes.map((n) => n.name),
      peers: this.obs.peers,
      volumes: this.obs.volumes,
      brickStatus: this.leaderBrickStatus() ?? this.brickStatusOwn.vols,
      heal: Object.fromEntries([...this.heal].map(([k, v]) => [k, v.bricks])),
      counts: [...this.counts.values(), ...this.members.live().flatMap((m) => m.remote?.brickCounts ?? [])],
      returning: [...this.returning(), ...this.members.live().flatMap((m) => m.remote?.returning ?? [])],
    });
    const now = new Date().toISOString();
    const keys = new Set<string>();
    const out = list.map((d) => {
      const k = degradationKey(d);
      keys.add(k);
      if (!this.degraded.has(k)) { this.degraded.set(k, now); log.warn(`degraded: ${k} — ${d.detail}`); }
      return { ...d, since: this.degraded.get(k)! };
    });
    for (const k of this.degraded.keys()) if (!keys.has(k)) { this.degraded.delete(k); log.info(`no longer degraded: ${k}`); }
    return out;
  }

  /**
   * Runs until stopped: member polling (every 500 ms while forming, 2 s once converged) and each
   * loop's passes — right after a member's answer changes in something a step decides on,
   * otherwise every second while unconverged and every idleInterval once converged.
   */
  async runForever(): Promise<void> {
    const converged = () => [...this.loops.values()].every((l) => l.converged);
    this.members.onChange = () => { for (const l of this.loops.values()) { l.dirty = true; l.wake?.(); } };
    // not awaited before the first pass: a peer answers only after its own first look at its
    // node, so two agents starting together would each wait for the other's poll to time out
    const pollLoop = (async () => {
      while (!this.stopping) { await this.members.poll(); await sleep(converged() ? 2000 : 500); }
    })();
    const run = async (loop: Loop) => {
      const l = this.loops.get(loop)!;
      while (!this.stopping) {
        const began = Date.now();
        l.dirty = false;
        try { await this.pass(loop); } catch (e) { log.error(`${loop} pass: ${(e as Error).message}`); }
        // woken passes still leave a short gap: six agents and their glusterds share the CPU
        const gap = l.dirty ? Math.max(0, 250 - (Date.now() - began)) : l.converged ? this.env.idleInterval * 1000 : 1000;
        await new Promise<void>((r) => { l.wake = r; setTimeout(r, gap); });
        l.wake = undefined;
      }
    };
    await Promise.all([run('storage'), run('virt'), pollLoop]);
  }

  /** One pass of each loop (tests, `personal-cloud-agent once`). */
  async once(): Promise<boolean> {
    await this.members.poll();
    const storage = await this.pass('storage');
    return (await this.pass('virt')) && storage;
  }
}
