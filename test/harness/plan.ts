// Cluster configs for the harness, built in TS (the YAML loader is not needed here) and
// turned into the Plan the agents read, exactly as the builder does.
import type { BrickLayout, ClusterConfig, DiskSelector, NodeConfig } from '../../core/config-types.js';
import { deriveJoinKey } from '../../src/plan/keys.js';
import { plan } from '../../src/plan/plan.js';
import type { Plan } from '../../core/plan-types.js';
import { SUBNET } from './cluster.js';

/** The harness clusters' DNS domain: node1.test.internal. */
export const TEST_DOMAIN = 'test.internal';

export interface TestNode { name: string; hostPart: number; arbiter?: boolean; gv0?: string[]; gv1?: string[]; wipe?: boolean }

export function testConfig(nodes: TestNode[], o: { secret?: string; replica?: 2 | 3; gv1?: boolean; layout?: BrickLayout } = {}): ClusterConfig {
  const disk = (id: string, wipe = false): DiskSelector => ({ id, wipe });
  const nodeCfg = (n: TestNode): NodeConfig => ({
    name: n.name,
    network: { dhcp: false, address: `${SUBNET}.${n.hostPart}`, prefix: 24, dns: [] },
    arbiter: Boolean(n.arbiter),
    disks: { os: disk('/dev/null-os'), gv0: (n.gv0 ?? []).map((d) => disk(d, n.wipe)), gv1: (n.gv1 ?? []).map((d) => disk(d, n.wipe)), bmv0: [] },
  });
  return {
    name: 'testcloud',
    domain: TEST_DOMAIN,
    release: 'bookworm',
    replica: o.replica ?? 3,
    secret: o.secret ?? 'pcs1_harness-secret-not-for-production',
    locale: 'en_US.UTF-8', keyboard: 'us', timezone: 'UTC', ntp: [],
    mirror: { url: 'http://deb.debian.org/debian', securityUrl: 'http://deb.debian.org/debian-security' },
    root: {},
    users: [],
    volumes: {
      gv0: { enabled: true, bricksPerNode: 1, brickLayout: o.layout ?? 'xfs' },
      gv1: { enabled: Boolean(o.gv1), bricksPerNode: 2, brickLayout: o.layout ?? 'xfs' },
      bmv0: { enabled: false, bricksPerNode: 1, brickLayout: o.layout ?? 'xfs' },
    },
    nodes: nodes.map(nodeCfg),
  };
}

export function planFor(cfg: ClusterConfig): { plan: Plan; joinKey: string } {
  return { plan: plan(cfg), joinKey: deriveJoinKey(cfg.secret, cfg.name) };
}
