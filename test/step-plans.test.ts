// Each step's decision as a pure function of what it observed: test/fixtures/steps/STEP/*.json
// hold the situation (cluster layout, this node, leader, the agent's observation, members'
// reports, what the step saw) and the expected decision (actions, detail, waiting).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ClusterConfig } from '../core/config-types.js';
import type { NodeStatus } from '../core/status-types.js';
import { agentEnv } from '../firstboot/env.js';
import { corosyncConf } from '../firstboot/ha/corosync-conf.js';
import { Members } from '../firstboot/members.js';
import { StateStore, type DurableState } from '../firstboot/state.js';
import { STEPS } from '../firstboot/agent.js';
import { NeedsAttention, type Ctx, type Observed } from '../firstboot/steps/step.js';
import { planFor, testConfig, type TestNode } from './harness/plan.js';

const DIR = join(import.meta.dirname, 'fixtures/steps');
const NOW = 1_800_000_000_000;

interface Fixture {
  why: string;
  nodes: TestNode[];
  /** ha: of cluster.yaml, for the virt and ha steps. */
  ha?: ClusterConfig['ha'];
  /** backup: of cluster.yaml, for the backup-timer step. */
  backup?: ClusterConfig['backup'];
  /** encryption: of cluster.yaml, for the disks step's rebinding. */
  encryption?: ClusterConfig['encryption'];
  self: string;
  leader: string | null;
  leaderStable?: boolean;
  obs?: Partial<Observed>;
  /** Members that answer, with the parts of their status the case needs. */
  members?: Record<string, Partial<NodeStatus>>;
  state?: Partial<DurableState>;
  seen: unknown;
  /** `throws`: the step refuses (NeedsAttention) with a message matching it. */
  expect: { actions: unknown[]; detail: string | RegExp; waiting?: boolean } | { throws: string };
}

function remote(name: string, s: Partial<NodeStatus>): NodeStatus {
  return {
    node: name, cluster: 'testcloud', keyId: '', startedAt: '', planNodes: [], planDigest: '', leader: null, converged: false,
    glusterd: { running: true, peers: [] }, bricksReady: false, readyBricks: [], cert: null, caTrusts: [], members: [], refused: [],
    steps: [], volumes: [], lastError: null, ...s,
  };
}

function ctxOf(f: Fixture): Ctx {
  const cfg = testConfig(f.nodes);
  if (f.ha) cfg.ha = f.ha;
  if (f.backup) cfg.backup = f.backup;
  if (f.encryption) cfg.encryption = f.encryption;
  const { plan, joinKey } = planFor(cfg);
  const members = new Members(joinKey, f.self, 7447);
  members.seed(plan);
  for (const [name, s] of Object.entries(f.members ?? {})) Object.assign(members.peers.get(name)!, { admitted: true, remote: remote(name, s), lastOkMs: Date.now() });
  const state = new StateStore('/nonexistent');
  state.data = { ...state.data, ...f.state, rebalancePending: f.state?.rebalancePending ?? [] };
  return {
    plan, self: plan.nodes.find((n) => n.name === f.self)!, key: joinKey, env: agentEnv({}), state, members,
    obs: { glusterdRunning: true, peers: [], volumes: [], bricksReady: false, readyBricks: [], cert: null, caTrusts: [], ...f.obs },
    leader: f.leader, leaderStable: f.leaderStable ?? true, now: NOW,
  };
}

/** Placeholders for what the plan makes: a volume's or brick's plan, corosync.conf for some members. */
function resolve(v: unknown, ctx: Ctx): unknown {
  if (Array.isArray(v)) return v.map((x) => resolve(x, ctx));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x, ctx)]));
  if (v === '__gv0__') return ctx.plan.volumes.find((x) => x.name === 'gv0');
  if (v === '__brick__') return ctx.self.bricks[0];
  const conf = typeof v === 'string' && /^__conf(\d+)__$/.exec(v);
  if (conf) return corosyncConf(ctx.plan, [...conf[1]].map((i) => `node${i}`), {});
  return v;
}

const steps = readdirSync(DIR);

describe('step plans (golden fixtures)', () => {
  it('every step has fixtures', () => {
    expect(steps.sort()).toEqual(STEPS.map((s) => s.name).sort());
  });
  for (const name of steps) {
    const step = STEPS.find((s) => s.name === name)!;
    for (const file of readdirSync(join(DIR, name)).filter((f) => f.endsWith('.json'))) {
      const f = JSON.parse(readFileSync(join(DIR, name, file), 'utf8')) as Fixture;
      it(`${name}/${file}: ${f.why}`, () => {
        const ctx = ctxOf(f);
        const seen = resolve(f.seen, ctx);
        if ('throws' in f.expect) {
          expect(() => step.plan(ctx, seen)).toThrow(NeedsAttention);
          expect(() => step.plan(ctx, seen)).toThrow(new RegExp(f.expect.throws));
          return;
        }
        const d = step.plan(ctx, seen);
        expect(d.actions).toEqual(resolve(f.expect.actions, ctx));
        const detail = f.expect.detail as string;
        if (detail.startsWith('/')) expect(d.detail).toMatch(new RegExp(detail.slice(1, -1)));
        else expect(d.detail).toBe(detail);
        expect(Boolean(d.waiting)).toBe(Boolean(f.expect.waiting));
        // deciding twice from the same observation gives the same answer
        expect(step.plan(ctxOf(f), resolve(f.seen, ctx))).toEqual(d);
      });
    }
  }
});
