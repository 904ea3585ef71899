// The options the agents set on the replicated volumes are exactly the list core/volume-options.ts
// justifies, each with its reason (golden: test/fixtures/volume-options.json; UPDATE_GOLDEN=1
// rewrites it — review the diff: a changed option needs a bench-storage figure or a safety reason).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VM_VOLUME_OPTIONS } from '../core/volume-options.js';
import { agentVolumeOptions } from '../firstboot/steps/volumes.js';
import { plan } from '../src/plan/plan.js';
import { sampleConfig, sampleNode } from './helpers/sample-config.js';

const FIXTURE = join(import.meta.dirname, 'fixtures/volume-options.json');

function agentSets(nodes: number): Record<string, Record<string, string>> {
  const p = plan(sampleConfig({
    nodes: Array.from({ length: nodes }, (_, i) => sampleNode(i + 1, { disks: { ...sampleNode(i + 1).disks, gv1: [{ match: { minBytes: 65 * 2 ** 30 }, wipe: false }, { match: { minBytes: 65 * 2 ** 30 }, wipe: false }] } })),
    volumes: { gv0: { enabled: true, bricksPerNode: 1, brickLayout: 'lvm-thin' }, gv1: { enabled: true, bricksPerNode: 2, brickLayout: 'lvm-thin' }, bmv0: { enabled: false, bricksPerNode: 1, brickLayout: 'lvm-thin' } },
  }));
  return Object.fromEntries(p.volumes.filter((v) => v.kind === 'replicated').map((v) => {
    return [v.name, Object.fromEntries(Object.entries(agentVolumeOptions(p, v)).sort(([a], [b]) => a.localeCompare(b)))];
  }));
}

describe('volume options the agent sets', () => {
  it('are exactly the justified list (golden), the same for gv0 and gv1, no option group', () => {
    const actual = `${JSON.stringify(agentSets(3), null, 2)}\n`;
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(FIXTURE, actual);
    expect(existsSync(FIXTURE), `${FIXTURE} missing: run with UPDATE_GOLDEN=1 and review it`).toBe(true);
    expect(actual).toBe(readFileSync(FIXTURE, 'utf8'));
    const sets = agentSets(3);
    expect(sets.gv0).toEqual(sets.gv1);
    // a group would expand to whatever the installed glusterfs's group file holds: keys nobody justified
    expect(sets.gv0).not.toHaveProperty('group');
    const justified = [...Object.keys(VM_VOLUME_OPTIONS), 'client.ssl', 'server.ssl', 'auth.ssl-allow'].sort();
    expect(Object.keys(sets.gv0).sort()).toEqual(justified);
  });

  it('each carries its reason', () => {
    for (const [k, o] of Object.entries(VM_VOLUME_OPTIONS)) expect({ [k]: o.why.length > 20 && !/TODO/.test(o.why) }).toEqual({ [k]: true });
  });

  it('keep quorum and TLS on, TLS naming every node (6 nodes too)', () => {
    for (const n of [3, 6]) {
      const { gv0 } = agentSets(n);
      expect(gv0).toMatchObject({ 'cluster.quorum-type': 'auto', 'cluster.server-quorum-type': 'server', 'client.ssl': 'on', 'server.ssl': 'on', 'storage.owner-uid': '64055', 'storage.owner-gid': '64055' });
      expect(gv0['auth.ssl-allow']).toBe(Array.from({ length: n }, (_, i) => `node${i + 1}`).join(','));
    }
  });
});
