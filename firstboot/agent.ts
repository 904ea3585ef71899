// The agent: an authenticated channel server, LAN discovery, member polling and the
// reconcile loop over the steps (each check() then apply(), all idempotent).
import type { Server } from 'node:http';
import { join } from 'node:path';
import { writeFile, mkdir } from 'node:fs/promises';
import { agentPlan } from '../core/agent-plan.js';
import type { AgentPlan } from '../core/plan-types.js';
import { keyIdOf } from '../core/auth.js';
import { call, startChannelServer } from '../core/channel.js';
import { loadAgentConfig, type AgentConfig } from '../core/agent-config.js';
import { configureCrashes } from './crash.js';
import { Discovery } from './discovery.js';
import type { AgentEnv } from './env.js';
import { readText, writeDurable } from './fsx.js';
import { healInfo, localUuid, peers, volumes, type HealBrick } from './gluster.js';
import { log } from './log.js';
import { chooseLeader } from './leader.js';
import { Members } from './members.js';
import { extensionProblem, planDigest } from './plan-adopt.js';
import { glusterdPid, glusterdStart } from './service.js';
import { StateStore } from './state.js';
import type { NodeStatus, StepStatus, VolumeStatus } from '../core/status-types.js';
import { disksStep, readyBrickRefs } from './steps/disks.js';
import { foldersStep } from './steps/folders.js';
import { glusterdStep } from './steps/glusterd.js';
import { hostsStep } from './steps/hosts.js';
import { mountsStep } from './steps/mounts.js';
import { namesOf, peersStep } from './steps/peers.js';
import { NeedsAttention, type Ctx, type Observed, type Step } from './steps/step.js';
import { tlsStep } from './steps/tls.js';
import { volumesStep } from './steps/volumes.js';
import { virtStep } from './steps/virt.js';
import { haStep } from './steps/ha.js';
import { haHandlers } from './ha/api.js';
import { CERT, CA, fingerprint, splitPems } from './tls.js';
import { mountedAt } from './disks.js';

// TLS and glusterd before the disks: glusterd's start (seconds of CPU) overlaps brick preparation
export const STEPS: Step[] = [hostsStep, tlsStep, glusterdStep, disksStep, peersStep, volumesStep, mountsStep, foldersStep, virtStep, haStep];

/** Steps whose actions change glusterd's peers or volumes (the others leave them as observed). */
const GLUSTER_STEPS = new Set(['glusterd', 'peers', 'volumes']);
/** Steps that act on the pool and volumes glusterd reports: they wait while it does not answer. */
const CLUSTER_STEPS = new Set(['peers', 'volumes']);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Agent {
  cfg!: AgentConfig;
  state: StateStore;
  members!: Members;
  private server?: Server;
  private discovery?: Discovery;
  private steps = new Map<string, StepStatus>();
  private lastError: NodeStatus['lastError'] = null;
  private obs: Observed = { glusterdRunning: false, peers: [], volumes: [], bricksReady: false, readyBricks: [], cert: null, caTrusts: [] };
  private leader: string | null = null;
  private leaderSinceMs = 0;
  private leaderWhy = '';
  private formableSince?: number;
  private heal = new Map<string, { at: number; bricks: HealBrick[] }>();
  private startedAt = new Date().toISOString();
  private startedMs = Date.now();
  private stopping = false;
  private healRunning = false;
  private dirty = false;
  private wake?: () => void;
  private markObserved!: () => void;
  private observedOnce = new Promise<void>((r) => { this.markObserved = r; });

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
    const self = this.cfg.node;
    this.server = await startChannelServer({
      key: this.cfg.key, node: self.name, port: this.env.port,
      handlers: {
        // a restarted agent answers only once it has looked at the node: an empty first answer
        // would tell the leader this node's bricks and glusterd just vanished
        status: async (_from, body) => {
          await this.observedOnce;
          if ((body as { heal?: boolean } | null)?.heal) { await this.refreshHeal(5_000); return this.status(); }
          return this.recentStatus();
        },
        plan: async () => this.plan,
        ...haHandlers({ key: this.cfg.key, node: () => this.cfg.node.name, plan: () => this.plan, stateDir: this.env.stateDir }),
      },
      onRefused: (r) => this.members.refuse(r.from, r.address, r.reason),
    });
    this.discovery = new Discovery({
      key: this.cfg.key, cluster: this.plan.cluster.name, node: self.name, port: this.env.port, group: this.env.multicastGroup,
      ...(!self.network.dhcp ? { localAddress: self.network.address } : {}),
      onBeacon: (n, a, p) => this.members.beacon(n, a, p),
      onForged: (a, claimed, reason) => this.members.refuse(claimed, a, `beacon ${reason}`),
    });
    await this.discovery.start();
  }

  stop(): void {
    this.stopping = true;
    this.discovery?.stop();
    this.server?.close();
    this.wake?.();
  }

  /** Looks at the node; `gluster` false reuses the last peer and volume lists (after a step that cannot change them). */
  private async observe(gluster = true): Promise<void> {
    const start = glusterdStart();
    const starting = Boolean(start && !start.failed);
    const running = starting || Boolean(await glusterdPid());
    const cert = await readText(CERT);
    const ca = (await readText(CA)) ?? '';
    const o: Observed = {
      glusterdRunning: running,
      uuid: await localUuid(),
      peers: [], volumes: [],
      bricksReady: false,
      readyBricks: [],
      cert,
      caTrusts: splitPems(ca).map(fingerprint),
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
    o.readyBricks = await readyBrickRefs(this.ctx(o));
    o.bricksReady = o.readyBricks.length === this.cfg.node.bricks.length;
    this.obs = o;
    this.markObserved();
  }

  private computeLeader(): void {
    const ctx = this.ctx();
    const live = new Set(this.members.live().map((m) => m.name));
    // peers in any state: a node being probed sees its prober as "Accepted peer request" first,
    // and must not take itself for its pool's leader meanwhile. A peer whose glusterd is
    // disconnected (restarting, busy) but whose agent answers still leads: else a survivor that
    // briefly lost the leader's glusterd would probe and create volumes beside it
    const selfPool = this.plan.nodes.map((n) => n.name).filter((name) => name === this.cfg.node.name || this.obs.peers.some((p) =>
      (p.connected || live.has(name)) && p.names.some((x) => namesOf(ctx, name).includes(x))));
    const choice = chooseLeader({
      self: this.cfg.node.name,
      planNodes: this.plan.nodes.map((n) => n.name),
      now: Date.now(),
      agentStartMs: this.startedMs,
      graceMs: this.env.formGraceSeconds * 1000,
      fallbackMs: 3 * this.env.formGraceSeconds * 1000,
      // an agent restarting (crash, upgrade) finds its glusterd still running and pooled: it
      // keeps following its pool instead of starting over
      selfPooled: this.obs.glusterdRunning && (this.obs.peers.length > 0 || this.obs.volumes.length > 0),
      selfPool,
      members: [...this.members.peers.values()].filter((m) => this.plan.nodes.some((n) => n.name === m.name)).map((m) => ({
        name: m.name,
        live: live.has(m.name),
        glusterd: Boolean(m.remote?.glusterd.running),
        pooled: Boolean(m.remote && (m.remote.glusterd.peers.length > 0 || m.remote.volumes.some((v) => v.exists && v.type !== 'local'))),
        ...(m.lastOkMs ? { lastLiveMs: m.lastOkMs } : {}),
        ...(m.glusterdDownSinceMs !== undefined ? { glusterdDownSinceMs: m.glusterdDownSinceMs } : {}),
      })),
    });
    this.leaderWhy = choice.why;
    const pick = choice.leader;
    if (pick !== this.leader) {
      log.info(pick ? `leader: ${pick}${pick === this.cfg.node.name ? ' (this node)' : ''} — ${choice.why}` : `no leader: ${choice.why}`);
      this.leader = pick;
      this.leaderSinceMs = Date.now();
    }
  }

  private ctx(obs = this.obs): Ctx {
    const self = this;
    return {
      plan: this.plan, self: this.cfg.node, env: this.env, state: this.state, members: this.members, obs,
      leader: this.leader,
      leaderWhy: this.leaderWhy,
      leaderStable: this.leader !== null && Date.now() - this.leaderSinceMs >= 1000,
      agentStartMs: this.startedMs,
      get formableSince() { return self.formableSince; },
      set formableSince(v) { self.formableSince = v; },
    };
  }

  /** Adopts a newer plan from an admitted peer when it only adds nodes (scale-out). */
  private async maybeAdoptPlan(): Promise<void> {
    for (const m of this.members.live()) {
      const r = m.remote!;
      if (r.planDigest === planDigest(this.plan) || r.planNodes.length <= this.plan.nodes.length) continue;
      try {
        const { data: served } = await call<AgentPlan>(this.cfg.key, this.cfg.node.name, m.address, m.port, 'plan');
        if (served?.schemaVersion !== 1) { log.warn(`not adopting the plan of ${m.name}: not a schemaVersion 1 plan`); continue; }
        // a peer built by an older builder serves the whole Plan (password hashes included): keep our part
        const data = agentPlan(served);
        const problem = extensionProblem(this.plan, data);
        if (problem) { log.warn(`not adopting the plan of ${m.name}: it ${problem}`); continue; }
        await writeDurable(join(this.env.configDir, 'cluster.json'), `${JSON.stringify(data, null, 2)}\n`, 0o600);
        this.cfg.plan = data;
        this.cfg.node = data.nodes.find((n) => n.name === this.cfg.node.name)!;
        this.members.seed(data);
        log.info(`adopted the plan of ${m.name}: ${data.nodes.length} nodes (${data.nodes.map((n) => n.name).join(', ')})`);
        return;
      } catch (e) { log.warn(`fetching the plan of ${m.name}: ${(e as Error).message}`); }
    }
  }

  async pass(): Promise<boolean> {
    await this.maybeAdoptPlan();
    await this.observe();
    this.computeLeader();
    let converged = true;
    for (const step of STEPS) {
      const ctx = this.ctx();
      let st: StepStatus;
      const prev = this.steps.get(step.name);
      if (ctx.obs.glusterUnanswered && CLUSTER_STEPS.has(step.name)) {
        this.steps.set(step.name, { name: step.name, state: prev?.state === 'done' ? 'done' : 'waiting', detail: 'glusterd not answering (last known state kept)', at: new Date().toISOString() });
        if (prev?.state !== 'done') converged = false;
        continue;
      }
      try {
        let c = await step.check(ctx);
        if (!c.ok) {
          const acted = await step.apply(ctx);
          if (acted !== false) await this.observe(GLUSTER_STEPS.has(step.name));
          c = await step.check(this.ctx());
        }
        st = { name: step.name, state: c.ok ? 'done' : c.waiting ? 'waiting' : 'pending', detail: c.detail ?? '', at: new Date().toISOString() };
      } catch (e) {
        const message = (e as Error).message;
        st = { name: step.name, state: e instanceof NeedsAttention ? 'attention' : 'error', detail: message, at: new Date().toISOString() };
        if ((prev?.state !== 'error' && prev?.state !== 'attention') || prev.detail !== message) log.error(`step ${step.name}: ${message}`);
        this.lastError = { step: step.name, message, at: st.at };
      }
      if (prev?.state !== st.state) log.info(`step ${step.name}: ${st.state}${st.detail ? ` — ${st.detail}` : ''}`);
      this.steps.set(step.name, st);
      if (st.state !== 'done') converged = false;
    }
    if (converged && !this.healRunning) { this.healRunning = true; void this.refreshHeal().finally(() => { this.healRunning = false; }); }
    await this.snapshot();
    return converged;
  }

  /** Heal counts (glfsheal costs seconds of CPU): every 2 min in the background, fresh when someone asks. */
  private async refreshHeal(maxAgeMs = 120_000): Promise<void> {
    for (const v of this.obs.volumes) {
      if (!v.started) continue;
      const prev = this.heal.get(v.name);
      if (prev && Date.now() - prev.at < maxAgeMs) continue;
      try { this.heal.set(v.name, { at: Date.now(), bricks: await healInfo(v.name) }); } catch (e) { log.debug(`heal info ${v.name}: ${(e as Error).message}`); }
    }
  }

  private async snapshot(): Promise<void> {
    const dir = join(this.env.stateDir);
    try { await writeFile(join(dir, 'status.json'), `${JSON.stringify(await this.status(), null, 2)}\n`, { mode: 0o600 }); } catch (e) { log.debug(`status snapshot: ${(e as Error).message}`); }
  }

  private statusCache?: { at: number; status: Promise<NodeStatus> };

  /** Every member polls every member twice a second while forming: answer them from one status per 250 ms. */
  private recentStatus(): Promise<NodeStatus> {
    if (!this.statusCache || Date.now() - this.statusCache.at > 250) this.statusCache = { at: Date.now(), status: this.status() };
    return this.statusCache.status;
  }

  async status(): Promise<NodeStatus> {
    const vols: VolumeStatus[] = [];
    for (const v of this.plan.volumes) {
      const info = this.obs.volumes.find((x) => x.name === v.name);
      const m = await mountedAt(v.mountPoint);
      const heal = this.heal.get(v.name)?.bricks;
      vols.push({
        name: v.name, exists: v.kind === 'local' ? true : Boolean(info), started: v.kind === 'local' ? true : Boolean(info?.started),
        ...(info ? { type: info.type } : v.kind === 'local' ? { type: 'local' } : {}),
        bricks: info?.bricks.map((b) => b.name) ?? [],
        ...(heal ? { heal } : {}),
        mounted: Boolean(m),
      });
    }
    const steps = STEPS.map((s) => this.steps.get(s.name)!);
    return {
      node: this.cfg.node.name,
      cluster: this.plan.cluster.name,
      keyId: keyIdOf(this.cfg.key),
      startedAt: this.startedAt,
      planNodes: this.plan.nodes.map((n) => n.name),
      planDigest: planDigest(this.plan),
      leader: this.leader,
      converged: steps.every((s) => s.state === 'done'),
      glusterd: {
        running: this.obs.glusterdRunning,
        ...(this.obs.uuid ? { uuid: this.obs.uuid } : {}),
        peers: this.obs.peers.map((p) => ({ name: p.hostname, names: p.names, connected: p.connected, state: p.state })),
      },
      bricksReady: this.obs.bricksReady,
      readyBricks: this.obs.readyBricks,
      cert: this.obs.cert,
      caTrusts: this.obs.caTrusts,
      members: this.members.statuses(),
      refused: [...this.members.refused.values()],
      steps,
      volumes: vols,
      lastError: this.lastError,
    };
  }

  /**
   * Runs until stopped: member polling (every 500 ms while forming, 2 s once converged) and
   * reconcile passes — right after a member's answer changes in something a step decides on,
   * otherwise every second while unconverged and every idleInterval once converged.
   */
  async runForever(): Promise<void> {
    let converged = false;
    this.members.onChange = () => { this.dirty = true; this.wake?.(); };
    // not awaited before the first pass: a peer answers only after its own first look at its
    // node, so two agents starting together would each wait for the other's poll to time out
    const pollLoop = (async () => {
      while (!this.stopping) { await this.members.poll(); await sleep(converged ? 2000 : 500); }
    })();
    while (!this.stopping) {
      const began = Date.now();
      this.dirty = false;
      try { converged = await this.pass(); } catch (e) { log.error(`reconcile pass: ${(e as Error).message}`); }
      // woken passes still leave a short gap: six agents and their glusterds share the CPU
      const gap = this.dirty ? Math.max(0, 250 - (Date.now() - began)) : converged ? this.env.idleInterval * 1000 : 1000;
      await new Promise<void>((r) => { this.wake = r; setTimeout(r, gap); });
      this.wake = undefined;
    }
    await pollLoop;
  }

  async once(): Promise<boolean> {
    await this.members.poll();
    return this.pass();
  }
}
