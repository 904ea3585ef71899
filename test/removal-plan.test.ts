// The safety check of `node remove` (core/removal-plan.ts) as golden fixtures: a cluster built by
// the real builder, the names to remove, what the live cluster looks like (healthy unless the
// fixture says otherwise) → the refusal text or the plan of actions the CLI prints.
// UPDATE_GOLDEN=1 rewrites the expected files (review the diff before committing it).
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentPlan } from '../core/agent-plan.js';
import type { ClusterConfig } from '../core/config-types.js';
import type { AgentPlan } from '../core/plan-types.js';
import { decideRemoval, formatDecision, haMembersOf, planSets } from '../core/removal-plan.js';
import type { RemovalSeen } from '../core/removal-types.js';
import { plan } from '../src/plan/plan.js';
import { testConfig, type TestNode } from './harness/plan.js';
import { configWithout } from '../src/commands/node-remove.js';
import { validateConfigText } from '../src/config/validate.js';

const DIR = new URL('./fixtures/removal/', import.meta.url).pathname;
const UPDATE = process.env.UPDATE_GOLDEN === '1';

interface Fixture {
  why: string;
  cluster: { nodes: string[]; arbiter?: string[]; replica?: 2 | 3; gv1?: boolean; bmv0?: boolean; ha?: boolean; qdevice?: string };
  remove: string[];
  /** cluster.yaml as the user edited it: these nodes taken out (default: `remove`), these changed. */
  yamlWithout?: string[];
  yamlChange?: Record<string, { hostPart: number }>;
  targetProblem?: string;
  seen?: {
    unreachable?: string[]; notInPool?: string[]; offline?: string[]; heal?: Record<string, number>; tasks?: Record<string, string[]>;
    missingVolume?: string[]; ha?: RemovalSeen['ha']; localFiles?: RemovalSeen['localFiles']; recorded?: RemovalSeen['recorded'];
    runningVms?: RemovalSeen['runningVms'];
  };
  stopVms?: boolean;
}

function config(c: Fixture['cluster'], names: string[], change: Fixture['yamlChange'] = {}): ClusterConfig {
  const nodes: TestNode[] = names.map((name) => {
    const i = c.nodes.indexOf(name) + 1;
    const arbiter = c.arbiter?.includes(name);
    return { name, hostPart: change[name]?.hostPart ?? 10 + i, arbiter, ...(arbiter ? {} : { gv0: [`/dev/disk/by-id/${name}-a`], gv1: c.gv1 ? [`/dev/disk/by-id/${name}-b`, `/dev/disk/by-id/${name}-c`] : [] }) };
  });
  const cfg = testConfig(nodes, { replica: c.replica ?? 3, gv1: c.gv1 });
  if (c.bmv0) {
    cfg.volumes.bmv0 = { ...cfg.volumes.bmv0, enabled: true };
    for (const n of cfg.nodes) if (!n.arbiter) n.disks.bmv0 = [{ id: `/dev/disk/by-id/${n.name}-d`, wipe: false }];
  }
  if (c.ha) cfg.ha = { enabled: true, fencing: { kind: 'sbd', watchdog: '/dev/watchdog' }, bridges: [], ...(c.qdevice ? { qdevice: { host: c.qdevice, node: c.qdevice } } : {}) };
  return cfg;
}

function seenOf(f: Fixture): RemovalSeen {
  const running: AgentPlan = agentPlan(plan(config(f.cluster, f.cluster.nodes)));
  const without = f.yamlWithout ?? f.remove;
  const target = agentPlan(plan(config(f.cluster, f.cluster.nodes.filter((n) => !without.includes(n)), f.yamlChange)));
  const s = f.seen ?? {};
  return {
    plan: running, nodes: f.remove, target: f.targetProblem ? null : target, ...(f.targetProblem ? { targetProblem: f.targetProblem } : {}),
    volumes: running.volumes.filter((v) => v.kind === 'replicated').map((v) => ({
      name: v.name, exists: !s.missingVolume?.includes(v.name), tasks: s.tasks?.[v.name] ?? [],
      bricks: planSets(v).flatMap((set) => set.bricks).map((b) => ({ brick: b, online: !s.offline?.includes(b), heal: s.heal?.[b] ?? 0 })),
    })),
    unreachable: s.unreachable ?? [], notInPool: s.notInPool ?? [],
    ...(running.ha?.enabled ? { ha: s.ha ?? { quorate: true, members: haMembersOf(running) } } : {}),
    localFiles: s.localFiles ?? [], ...(s.recorded ? { recorded: s.recorded } : {}),
    ...(s.runningVms ? { runningVms: s.runningVms } : {}), ...(f.stopVms ? { stopVms: true } : {}),
  };
}

describe('node remove: safety check (golden fixtures)', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
  it('has fixtures', () => { expect(files.length).toBeGreaterThan(10); });
  for (const file of files) {
    const f = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Fixture;
    it(`${file}: ${f.why}`, () => {
      const d = decideRemoval(seenOf(f));
      const text = `${formatDecision(d, true)}${d.refusals.length ? '' : `remove-brick: ${JSON.stringify(d.removeBricks)}\nstop VMs: ${JSON.stringify(d.stopVms)}\n`}`;
      const path = join(DIR, file.replace(/\.json$/, '.txt'));
      if (UPDATE) writeFileSync(path, text);
      expect(existsSync(path), `${path} missing: run with UPDATE_GOLDEN=1 and review it`).toBe(true);
      expect(text).toBe(readFileSync(path, 'utf8'));
      // deciding twice from the same observation gives the same answer
      expect(decideRemoval(seenOf(f))).toEqual(d);
    });
  }
});

describe('node remove: cluster.yaml without the nodes (--write-config)', () => {
  it('drops exactly those nodes, keeps comments and everything else, and validates', () => {
    const text = readFileSync(new URL('./fixtures/config/valid/six-nodes-gv1.yaml', import.meta.url), 'utf8');
    const out = configWithout(text, ['n4', 'n5', 'n6']);
    const before = validateConfigText(text, 'a.yaml').config!;
    const after = validateConfigText(out, 'b.yaml');
    expect(after.errors).toEqual([]);
    expect(after.config!.nodes.map((n) => n.name)).toEqual(before.nodes.map((n) => n.name).filter((n) => !['n4', 'n5', 'n6'].includes(n)));
    expect(after.config!.nodes.map((n) => n.name)).toEqual(['n1', 'n2', 'n3']);
    expect(after.config!.nodes).toEqual(before.nodes.slice(0, 3));
    expect({ ...after.config!, nodes: [] }).toEqual({ ...before, nodes: [] });
    // every line of the file but those of the removed nodes, byte for byte
    expect(out).toBe(text.split('\n').filter((l) => !/name: n[45]\b/.test(l)).join('\n').replace(/  - name: n6\n[\s\S]*$/, ''));
    for (const line of text.split('\n').filter((l) => /^\s*#/.test(l) && !/n[456]/.test(l))) expect(out).toContain(line);
    expect(configWithout(text, [])).toBe(text);
  });
});
