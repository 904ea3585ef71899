// The agent: an authenticated channel server, LAN discovery, member polling and the
// reconcile loop over the steps (each check() then apply(), all idempotent).
import type { Server } from 'node:http';
import { join } from 'node:path';
import { writeFile, mkdir } from 'node:fs/promises';
import type { Plan } from '../src/plan/types.js';
import { keyIdOf } from './auth.js';
import { call, startChannelServer } from './channel.js';
import { loadAgentConfig, type AgentConfig } from './config.js';
import { configureCrashes } from './crash.js';
import { Discovery } from './discovery.js';
import type { AgentEnv } from './env.js';
import { readText, writeDurable } from './fsx.js';
import { healInfo, localUuid, peers, volumes, type HealBrick } from './gluster.js';
import { log } from './log.js';
import { Members } from './members.js';
import { extensionProblem, planDigest } from './plan-adopt.js';
import { glusterdPid } from './service.js';
import { StateStore } from './state.js';
import type { NodeStatus, StepStatus, VolumeStatus } from './status-types.js';
import { disksStep, readyBrickRefs } from './steps/disks.js';
import { foldersStep } from './steps/folders.js';
import { glusterdStep } from './steps/glusterd.js';
import { hostsStep } from './steps/hosts.js';
import { mountsStep } from './steps/mounts.js';
import { peersStep } from './steps/peers.js';
import { NeedsAttention, type Ctx, type Observed, type Step } from './steps/step.js';
import { tlsStep } from './steps/tls.js';
import { tlsReloadStep } from './steps/tls-reload.js';
import { volumesStep } from './steps/volumes.js';
import { virtStep } from './steps/virt.js';
import { haStep } from './steps/ha.js';
import { haHandlers } from './ha/api.js';
import { CERT, CA, fingerprint, splitPems } from './tls.js';
import { mountedAt } from './disks.js';

export const STEPS: Step[] = [hostsStep, disksStep, tlsStep, glusterdStep, peersStep, volumesStep, mountsStep, tlsReloadStep, foldersStep, virtStep, haStep];

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
  private formableSince?: number;
  private heal = new Map<string, { at: number; bricks: HealBrick[] }>();
  private startedAt = new Date().toISOString();
  private startedMs = Date.now();
  private stopping = false;
  private healRunning = false;
  private wake?: () => void;
  private markObserved!: () => void;
  private observedOnce = new Promise<void>((r) => { this.markObserved = r; });

  constructor(readonly env: AgentEnv) {
    this.state = new StateStore(env.stateDir);
  }

  get plan(): Plan { return this.cfg.plan; }

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
        status: async (_from, body) => { await this.observedOnce; if ((body as { heal?: boolean } | null)?.heal) await this.refreshHeal(5_000); return this.status(); },
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

  private async observe(): Promise<void> {
    const running = Boolean(await glusterdPid());
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
    if (running) {
      try { o.peers = await peers(); o.volumes = await volumes(); } catch (e) { log.debug(`observe: ${(e as Error).message}`); o.glusterdRunning = false; }
    }
    o.readyBricks = await readyBrickRefs(this.ctx(o));
    o.bricksReady = o.readyBricks.length === this.cfg.node.bricks.length;
    this.obs = o;
    this.markObserved();
  }

  private computeLeader(): void {
    const live = this.members.live().filter((m) => this.plan.nodes.some((n) => n.name === m.name) && m.remote!.glusterd.running);
    const cands = [...(this.obs.glusterdRunning ? [{ name: this.cfg.node.name, pooled: this.obs.peers.length > 0 || this.obs.volumes.length > 0 }] : []),
      ...live.map((m) => ({ name: m.name, pooled: m.remote!.glusterd.peers.length > 0 || m.remote!.volumes.some((v) => v.exists) }))];
    const pooled = cands.filter((c) => c.pooled);
    let pick = (pooled.length ? pooled : cands).map((c) => c.name).sort()[0] ?? null;
    // Once pooled, the leader is the lowest-named node whose glusterd is connected to ours: an
    // agent restarting (crash, upgrade) leaves its glusterd running and must not hand over
    // leadership, or two nodes would run cluster-wide commands in turn.
    if (this.obs.glusterdRunning && this.obs.peers.length) {
      const inPool = this.plan.nodes.map((n) => n.name).filter((name) => name === this.cfg.node.name || this.obs.peers.some((p) =>
        p.connected && p.state === 'Peer in Cluster' && p.names.some((x) => x === name || x === this.plan.nodes.find((n) => n.name === name)?.fqdn || x === this.members.peers.get(name)?.address)));
      if (inPool.length > 1) pick = inPool.sort()[0];
    }
    if (pick !== this.leader) {
      if (pick) log.info(`leader: ${pick}${pick === this.cfg.node.name ? ' (this node)' : ''}`);
      this.leader = pick;
      this.leaderSinceMs = Date.now();
    }
  }

  private ctx(obs = this.obs): Ctx {
    const self = this;
    return {
      plan: this.plan, self: this.cfg.node, env: this.env, state: this.state, members: this.members, obs,
      leader: this.leader,
      leaderStable: this.leader !== null && Date.now() - this.leaderSinceMs >= 2500,
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
        const { data } = await call<Plan>(this.cfg.key, this.cfg.node.name, m.address, m.port, 'plan');
        const problem = extensionProblem(this.plan, data);
        if (problem) { log.warn(`not adopting the plan of ${m.name}: it ${problem}`); continue; }
        await writeDurable(join(this.env.configDir, 'cluster.json'), `${JSON.stringify(data, null, 2)}\n`, 0o644);
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
      try {
        let c = await step.check(ctx);
        if (!c.ok) {
          const acted = await step.apply(ctx);
          if (acted !== false) await this.observe();
          c = await step.check(this.ctx());
        }
        st = { name: step.name, state: c.ok ? 'done' : c.waiting ? 'waiting' : 'pending', detail: c.detail ?? '', at: new Date().toISOString() };
      } catch (e) {
        const message = (e as Error).message;
        st = { name: step.name, state: e instanceof NeedsAttention ? 'attention' : 'error', detail: message, at: new Date().toISOString() };
        const prev = this.steps.get(step.name);
        if ((prev?.state !== 'error' && prev?.state !== 'attention') || prev.detail !== message) log.error(`step ${step.name}: ${message}`);
        this.lastError = { step: step.name, message, at: st.at };
      }
      const prev = this.steps.get(step.name);
      if (prev?.state !== st.state) log.info(`step ${step.name}: ${st.state}${st.detail ? ` — ${st.detail}` : ''}`);
      this.steps.set(step.name, st);
      if (st.state !== 'done') converged = false;
    }
    if (!this.healRunning) { this.healRunning = true; void this.refreshHeal().finally(() => { this.healRunning = false; }); }
    await this.snapshot();
    return converged;
  }

  /** Heal counts (glfsheal is costly): every 30 s in the background, fresher when a person asks. */
  private async refreshHeal(maxAgeMs = 30_000): Promise<void> {
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
        peers: this.obs.peers.map((p) => ({ name: p.hostname, connected: p.connected, state: p.state })),
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

  /** Runs until stopped: member polling every second, reconcile passes (faster while unconverged). */
  async runForever(): Promise<void> {
    const pollLoop = (async () => {
      while (!this.stopping) { await this.members.poll(); await sleep(1000); }
    })();
    await this.members.poll();
    while (!this.stopping) {
      let converged = false;
      try { converged = await this.pass(); } catch (e) { log.error(`reconcile pass: ${(e as Error).message}`); }
      await new Promise<void>((r) => { this.wake = r; setTimeout(r, converged ? this.env.idleInterval * 1000 : 1500); });
    }
    await pollLoop;
  }

  async once(): Promise<boolean> {
    await this.members.poll();
    return this.pass();
  }
}
