// Who else is out there: static addresses from the plan plus signed beacons, each checked by
// challenge-response before it counts. Refusals (wrong key, bad proof) are kept for status.
import type { AgentPlan } from '../core/plan-types.js';
import { call, CallError } from '../core/channel.js';
import { log } from './log.js';
import type { MemberStatus, NodeStatus, RefusalStatus } from '../core/status-types.js';

export interface Member extends MemberStatus {
  port: number;
  remote?: NodeStatus;
  lastOkMs?: number;
  /** Since when it has answered with its glusterd not running (leader fallback). */
  glusterdDownSinceMs?: number;
}

const STALE_MS = 15_000;

/** The parts of a member's status the steps act on (not timestamps or heal counts). */
function statusKey(s: NodeStatus): string {
  return JSON.stringify([s.planDigest, s.leader, s.glusterd, s.readyBricks, s.bricksReady, s.cert, s.caTrusts,
    s.steps.map((x) => x.state), s.volumes.map((v) => [v.name, v.exists, v.started, v.bricks.length, v.mounted])]);
}

export class Members {
  readonly peers = new Map<string, Member>();
  readonly refused = new Map<string, RefusalStatus>();

  /** Called when a member's answer differs in something a step decides on (wakes the reconcile loop). */
  onChange?: () => void;

  constructor(private key: string, private self: string, private port: number) {}

  seed(plan: AgentPlan): void {
    for (const n of plan.nodes) {
      if (n.name === this.self || n.network.dhcp) continue;
      const cur = this.peers.get(n.name);
      if (!cur) this.peers.set(n.name, { name: n.name, address: n.network.address, source: 'plan', admitted: false, port: this.port });
    }
  }

  beacon(name: string, address: string, port: number): void {
    const cur = this.peers.get(name);
    if (!cur) {
      this.peers.set(name, { name, address, source: 'beacon', admitted: false, port });
      log.info(`discovery: beacon from ${name} at ${address}`);
    } else if (cur.source === 'beacon' && (cur.address !== address || cur.port !== port)) {
      cur.address = address; cur.port = port;
    }
  }

  refuse(from: string, address: string, reason: string): void {
    const k = `${from}|${address}|${reason}`;
    const r = this.refused.get(k);
    if (r) { r.count++; r.at = new Date().toISOString(); return; }
    this.refused.set(k, { from, address, reason, at: new Date().toISOString(), count: 1 });
    log.warn(`refused ${from} at ${address}: ${reason}`);
  }

  /** Polls every known peer's status over the authenticated channel. */
  async poll(): Promise<void> {
    await Promise.all([...this.peers.values()].map(async (m) => {
      try {
        const r = await call<NodeStatus>(this.key, this.self, m.address, m.port, 'status', null, 4000);
        if (r.node !== m.name) throw new CallError('error', `answered as ${r.node}, expected ${m.name}`);
        if (!m.admitted) log.info(`admitted ${m.name} at ${m.address} (join proof verified)`);
        m.admitted = true;
        const changed = !m.remote || statusKey(m.remote) !== statusKey(r.data);
        m.remote = r.data;
        m.lastOkMs = Date.now();
        if (r.data.glusterd.running) delete m.glusterdDownSinceMs;
        else m.glusterdDownSinceMs ??= m.lastOkMs;
        if (changed) this.onChange?.();
        m.lastSeen = new Date().toISOString();
        if (r.data.glusterd.uuid) m.glusterdUuid = r.data.glusterd.uuid; else delete m.glusterdUuid;
        delete m.error;
      } catch (e) {
        const err = e as CallError;
        if (err.kind === 'refused' || err.kind === 'bad-proof') {
          if (m.admitted) log.warn(`${m.name} no longer proves the join key`);
          m.admitted = false;
          delete m.remote;
          this.refuse(m.name, m.address, err.message);
        }
        if (m.error !== err.message) log.debug(`poll ${m.name}: ${err.message}`);
        m.error = err.message;
      }
    }));
  }

  /** Admitted peers heard from recently. */
  live(): Member[] {
    const now = Date.now();
    return [...this.peers.values()].filter((m) => m.admitted && m.remote && m.lastOkMs && now - m.lastOkMs < STALE_MS);
  }

  get(name: string): Member | undefined {
    const m = this.peers.get(name);
    return m && this.live().includes(m) ? m : undefined;
  }

  statuses(): MemberStatus[] {
    return [...this.peers.values()].sort((a, b) => a.name.localeCompare(b.name)).map((m) => ({
      name: m.name, address: m.address, source: m.source, admitted: m.admitted,
      ...(m.lastSeen ? { lastSeen: m.lastSeen } : {}), ...(m.error ? { error: m.error } : {}), ...(m.glusterdUuid ? { glusterdUuid: m.glusterdUuid } : {}),
      ...(m.remote ? { steps: m.remote.steps, converged: m.remote.converged } : {}),
    }));
  }
}
