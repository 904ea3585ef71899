// The agent's pure parts and its authenticated channel (real HTTP on loopback, real UDP
// encoding), without namespaces or glusterd.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyIdOf } from '../firstboot/auth.js';
import { call, CallError, startChannelServer, type Refusal } from '../firstboot/channel.js';
import { decodeBeacon, encodeBeacon } from '../firstboot/discovery.js';
import { listDisks, matches, mkfsXfsArgs, thinPoolSizes } from '../firstboot/disks.js';
import { managedBlock, withManagedBlock } from '../firstboot/fsx.js';
import { parseVolumeInfo } from '../firstboot/gluster.js';
import { extensionProblem } from '../firstboot/plan-adopt.js';
import { deriveJoinKey, deriveKeyId } from '../src/plan/keys.js';
import { planFor, testConfig } from './harness/plan.js';

const KEY = deriveJoinKey('pcs1_unit-secret', 'c1');
const OTHER = deriveJoinKey('pcs1_other-secret', 'c1');

describe('agent channel (challenge-response over HTTP)', () => {
  it('admits a peer with the same key, refuses and reports one with another key, never sends the key', async () => {
    const refused: Refusal[] = [];
    const server = await startChannelServer({ key: KEY, node: 'n1', port: 0, host: '127.0.0.1', handlers: { status: async (from) => ({ hello: from }) }, onRefused: (r) => refused.push(r) });
    const port = (server.address() as { port: number }).port;
    try {
      const ok = await call<{ hello: string }>(KEY, 'n2', '127.0.0.1', port, 'status');
      expect(ok).toEqual({ node: 'n1', data: { hello: 'n2' } });
      const bad = await call(OTHER, 'evil', '127.0.0.1', port, 'status').catch((e) => e as CallError);
      expect(bad).toBeInstanceOf(CallError);
      expect((bad as CallError).kind).toBe('refused');
      expect((bad as CallError).message).toMatch(/wrong cluster secret/);
      expect(refused).toHaveLength(1);
      expect(refused[0]).toMatchObject({ from: 'evil', address: '127.0.0.1' });
      expect(refused[0].reason).toContain(keyIdOf(OTHER));
    } finally { server.close(); }
  });

  it('a client does not admit a server that cannot prove the key', async () => {
    const server = await startChannelServer({ key: OTHER, node: 'impostor', port: 0, host: '127.0.0.1', handlers: { status: async () => ({}) }, onRefused: () => {} });
    const port = (server.address() as { port: number }).port;
    try {
      const e = await call(KEY, 'n2', '127.0.0.1', port, 'status').catch((x) => x as CallError);
      expect((e as CallError).kind).toBe('refused'); // it cannot verify our MAC either
    } finally { server.close(); }
  });

  it('key id of the join key equals the plan key id derived from the secret', () => {
    expect(keyIdOf(KEY)).toBe(deriveKeyId('pcs1_unit-secret', 'c1'));
  });
});

describe('beacons', () => {
  it('verifies its own cluster and names a wrong key', () => {
    const b = { v: 1 as const, cluster: 'c1', node: 'n1', port: 7447, keyId: keyIdOf(KEY), t: 1 };
    expect(decodeBeacon(KEY, encodeBeacon(KEY, b)).beacon).toEqual(b);
    const forged = decodeBeacon(KEY, encodeBeacon(OTHER, { ...b, keyId: keyIdOf(OTHER) }));
    expect(forged.beacon).toBeUndefined();
    expect(forged.claimed).toBe('n1');
    expect(forged.error).toMatch(/wrong cluster secret/);
    expect(decodeBeacon(KEY, Buffer.from('garbage')).claimed).toBeUndefined();
  });
});

describe('disk layout', () => {
  it('sizes the thin pool like the how-to, capped to fit', () => {
    const GiB = 2 ** 30;
    expect(thinPoolSizes(4000 * GiB).metadataBytes).toBe(16 * GiB);
    const small = thinPoolSizes(100 * GiB);
    expect(small.metadataBytes).toBe(1600 * 2 ** 20);
    expect(small.dataBytes + 2 * small.metadataBytes).toBeLessThanOrEqual(100 * GiB);
    expect(() => thinPoolSizes(100 * 2 ** 20)).toThrow(/too small/);
  });

  it('formats XFS with the how-to options and a preset UUID', () => {
    expect(mkfsXfsArgs('/dev/x', 'u-1', 'gv0b1')).toEqual(['-f', '-i', 'size=512', '-n', 'size=8192', '-m', 'uuid=u-1', '-L', 'gv0b1', '/dev/x']);
  });

  it('selects disks by size, type, model and serial from sysfs', async () => {
    const sys = mkdtempSync(join(tmpdir(), 'pc-sys-'));
    const disk = (name: string, gib: number, rot: string, model: string, serial: string) => {
      mkdirSync(join(sys, name, 'queue'), { recursive: true });
      mkdirSync(join(sys, name, 'device'), { recursive: true });
      writeFileSync(join(sys, name, 'size'), String((gib * 2 ** 30) / 512));
      writeFileSync(join(sys, name, 'queue/rotational'), rot);
      writeFileSync(join(sys, name, 'device/model'), model);
      writeFileSync(join(sys, name, 'device/serial'), serial);
    };
    disk('sda', 120, '0', 'Samsung SSD 870', 'S1');
    disk('sdb', 2000, '1', 'WDC WD20', 'W9');
    disk('loop0', 1, '0', '', '');
    const all = await listDisks(sys);
    expect(all.map((d) => d.name)).toEqual(['sda', 'sdb']);
    expect(all.filter((d) => matches({ minBytes: 500 * 2 ** 30 }, d)).map((d) => d.name)).toEqual(['sdb']);
    expect(all.filter((d) => matches({ type: 'ssd', model: 'samsung*' }, d)).map((d) => d.name)).toEqual(['sda']);
    expect(all.filter((d) => matches({ serial: 'W?' }, d)).map((d) => d.name)).toEqual(['sdb']);
  });
});

describe('managed blocks (/etc/hosts, /etc/fstab)', () => {
  it('replaces only its own block and is idempotent', () => {
    const base = '127.0.0.1 localhost\n';
    const once = withManagedBlock(base, ['10.0.0.1 a.x a']);
    expect(withManagedBlock(once, ['10.0.0.1 a.x a'])).toBe(once);
    const twice = withManagedBlock(once, ['10.0.0.2 b.x b']);
    expect(twice.startsWith(base)).toBe(true);
    expect(managedBlock(twice)).toEqual(['10.0.0.2 b.x b']);
    expect(twice.match(/BEGIN personal-cloud/g)).toHaveLength(1);
  });
});

describe('gluster volume info --xml', () => {
  it('parses name, status, type, bricks (arbiter) and options', () => {
    const xml = `<cliOutput><opRet>0</opRet><volInfo><volumes><volume><name>gv0</name><id>x</id><status>1</status><statusStr>Started</statusStr><typeStr>Replicate</typeStr><replicaCount>3</replicaCount><arbiterCount>1</arbiterCount>
      <bricks><brick uuid="u1">n1:/b<name>n1:/b</name><hostUuid>u1</hostUuid><isArbiter>0</isArbiter></brick><brick uuid="u3">n3:/b<name>n3:/b</name><hostUuid>u3</hostUuid><isArbiter>1</isArbiter></brick></bricks>
      <optCount>1</optCount><options><option><name>auth.ssl-allow</name><value>n1,n2,n3</value></option></options></volume><count>1</count></volumes></volInfo></cliOutput>`;
    expect(parseVolumeInfo(xml)).toEqual([{ name: 'gv0', started: true, type: 'Replicate', replica: 3, arbiterCount: 1,
      bricks: [{ name: 'n1:/b', host: 'n1', path: '/b', arbiter: false }, { name: 'n3:/b', host: 'n3', path: '/b', arbiter: true }],
      options: { 'auth.ssl-allow': 'n1,n2,n3' } }]);
  });
});

describe('plan adoption (scale-out)', () => {
  const nodes = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `node${i + 1}`, hostPart: 11 + i, gv0: [`/dev/d${i}a`], gv1: [`/dev/d${i}b`, `/dev/d${i}c`] }));
  const p3 = planFor(testConfig(nodes(3), { gv1: true })).plan;
  const p6 = planFor(testConfig(nodes(6), { gv1: true })).plan;
  it('accepts a plan that only adds nodes and keeps every replica set', () => {
    expect(extensionProblem(p3, p6)).toBeNull();
  });
  it('refuses another key, fewer nodes or a changed node', () => {
    expect(extensionProblem(p6, p3)).toMatch(/does not add nodes/);
    const otherKey = planFor(testConfig(nodes(6), { gv1: true, secret: 'pcs1_x' })).plan;
    expect(extensionProblem(p3, otherKey)).toMatch(/different cluster or key/);
    const moved = structuredClone(p6);
    moved.nodes[0].bricks[0].path = '/elsewhere';
    expect(extensionProblem(p3, moved)).toMatch(/changes node node1/);
  });
});
