// The agent's pure parts and its authenticated channel (real HTTP on loopback, real UDP
// encoding), without namespaces or glusterd.
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyIdOf } from '../core/auth.js';
import { nextBrickAction, parseLvs, type BrickObserved, type BrickWant } from '../firstboot/brick-plan.js';
import { chooseLeader, type LeaderMember, type LeaderView } from '../firstboot/leader.js';
import { call, CallError, startChannelServer, type Refusal } from '../core/channel.js';
import { decodeBeacon, encodeBeacon } from '../firstboot/discovery.js';
import { listDisks, matches, mkfsXfsArgs, thinPoolSizes } from '../firstboot/disks.js';
import { managedBlock, withManagedBlock } from '../firstboot/fsx.js';
import { parseVolumeDefaults, parseVolumeInfo } from '../firstboot/gluster.js';
import { extensionProblem } from '../firstboot/plan-adopt.js';
import { missingLinks, type MeshNode } from '../firstboot/steps/peers.js';
import { parseDf } from '../firstboot/volume-space.js';
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
  it('reads the unset options from volume get: defaults without their marker, set keys left out', () => {
    const xml = `<cliOutput><opRet>0</opRet><volGetopts><count>4</count>
      <Opt><Option>performance.read-ahead</Option><Value>off</Value></Opt>
      <Opt><Option>cluster.eager-lock</Option><Value>on (DEFAULT)</Value></Opt>
      <Opt><Option>cluster.data-self-heal-algorithm</Option><Value>(null) (DEFAULT)</Value></Opt>
      <Opt><Option>client.ssl</Option><Value>on</Value></Opt></volGetopts></cliOutput>`;
    expect(parseVolumeDefaults(xml, { 'client.ssl': 'on' })).toEqual({
      'performance.read-ahead': 'off', 'cluster.eager-lock': 'on', 'cluster.data-self-heal-algorithm': '(null)',
    });
  });

  it('parses name, status, type, bricks (arbiter) and options', () => {
    const xml = `<cliOutput><opRet>0</opRet><volInfo><volumes><volume><name>gv0</name><id>5008e46b-f8bb-44ef-923c-c35859ab9459</id><status>1</status><statusStr>Started</statusStr><typeStr>Replicate</typeStr><replicaCount>3</replicaCount><arbiterCount>1</arbiterCount>
      <bricks><brick uuid="u1">n1:/b<name>n1:/b</name><hostUuid>u1</hostUuid><isArbiter>0</isArbiter></brick><brick uuid="u3">n3:/b<name>n3:/b</name><hostUuid>u3</hostUuid><isArbiter>1</isArbiter></brick></bricks>
      <optCount>1</optCount><options><option><name>auth.ssl-allow</name><value>n1,n2,n3</value></option></options></volume><count>1</count></volumes></volInfo></cliOutput>`;
    expect(parseVolumeInfo(xml)).toEqual([{ name: 'gv0', id: '5008e46b-f8bb-44ef-923c-c35859ab9459', started: true, neverStarted: false, type: 'Replicate', replica: 3, arbiterCount: 1,
      bricks: [{ name: 'n1:/b', host: 'n1', path: '/b', arbiter: false }, { name: 'n3:/b', host: 'n3', path: '/b', arbiter: true }],
      options: { 'auth.ssl-allow': 'n1,n2,n3' } }]);
    // created, never started (0) and stopped (2): only the first holds no data yet
    for (const [status, started, neverStarted] of [['0', false, true], ['2', false, false]] as const) {
      expect(parseVolumeInfo(xml.replace('<status>1</status>', `<status>${status}</status>`))[0]).toMatchObject({ started, neverStarted });
    }
  });
});

describe('volume space (df -B1 --output=size,avail)', () => {
  it('reads size and free bytes; anything else is no figure', () => {
    expect(parseDf('   1B-blocks       Avail\n270553174016 67774640128\n')).toEqual({ size: 270553174016, free: 67774640128 });
    expect(parseDf('df: /mnt/gv0: Transport endpoint is not connected\n')).toBeNull();
    expect(parseDf('   1B-blocks       Avail\n')).toBeNull();
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

describe('brick preparation decisions (observed disk state → next action)', () => {
  const dir = new URL('./fixtures/agent-bricks/', import.meta.url).pathname;
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    it(f.replace(/\.json$/, ''), () => {
      const c = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { want: BrickWant; observed: BrickObserved; expect: { do: string; lvs?: string[]; why?: string } };
      const a = nextBrickAction(c.observed, c.want);
      expect(a.do).toBe(c.expect.do);
      if (c.expect.lvs) expect((a as { lvs: string[] }).lvs).toEqual(c.expect.lvs);
      if (c.expect.why) expect((a as { why: string }).why).toContain(c.expect.why);
    });
  }

  it('an interrupted run of our own always reaches done by applying the decided actions', () => {
    // a model of the disk that each action changes as LVM/mkfs/mount would; starting from every
    // partial state a crash can leave, the decisions must converge without refusing
    const want: BrickWant = { vg: 'pc_n_gv0b1', pool: 'gv0b1_pool', lv: 'gv0b1_lv', uuid: 'u-1' };
    const thin = { name: 'gv0b1_lv', attr: 'Vwi-aotz--', pool: 'gv0b1_pool', tags: [] };
    const pool = { name: 'gv0b1_pool', attr: 'twi-aotz--', pool: '', tags: [] };
    const starts: BrickObserved[] = [
      { layout: 'lvm-thin', device: '/dev/sdb', deviceSignature: null, lvm: { pv: null, vg: null, lvs: [] }, fs: null, fstabOk: false, mounted: null, brickDir: false },
      { layout: 'lvm-thin', device: '/dev/sdb', deviceSignature: 'LVM2_member', lvm: { pv: { vg: 'pc_n_gv0b1' }, vg: { tags: [], pvs: ['/dev/sdb'] }, lvs: [{ name: 'gv0b1_pool', attr: '-wi-a-----', pool: '', tags: [] }, { name: 'lvol0', attr: '-wi-------', pool: '', tags: [] }] }, fs: null, fstabOk: false, mounted: null, brickDir: false },
      { layout: 'lvm-thin', device: '/dev/sdb', deviceSignature: 'LVM2_member', thinCreateFailed: true, lvm: { pv: { vg: 'pc_n_gv0b1' }, vg: { tags: [], pvs: ['/dev/sdb'] }, lvs: [pool] }, fs: null, fstabOk: false, mounted: null, brickDir: false },
      { layout: 'lvm-thin', device: '/dev/sdb', deviceSignature: 'LVM2_member', lvm: { pv: { vg: 'pc_n_gv0b1' }, vg: { tags: [], pvs: ['/dev/sdb'] }, lvs: [pool, { ...thin, attr: 'Vwi---tz--' }] }, fs: null, fstabOk: true, mounted: null, brickDir: false },
    ];
    for (const start of starts) {
      const o = structuredClone(start);
      const l = o.lvm!;
      const done: string[] = [];
      for (let i = 0; i < 20; i++) {
        const a = nextBrickAction(o, want);
        done.push(a.do);
        if (a.do === 'done' || a.do === 'refuse') break;
        if (a.do === 'pvcreate') { l.pv = { vg: '' }; o.deviceSignature = 'LVM2_member'; }
        if (a.do === 'vgcreate') { l.pv = { vg: want.vg }; l.vg = { tags: [`personal-cloud:${want.uuid}`], pvs: [o.device] }; }
        if (a.do === 'remove-lvs') { l.lvs = l.lvs.filter((x) => !a.lvs.includes(x.name)); delete o.thinCreateFailed; }
        if (a.do === 'create-pool') l.lvs.push({ ...pool });
        if (a.do === 'create-thin') { l.lvs.push({ ...thin }); o.fs = { type: null, uuid: null }; }
        if (a.do === 'activate') { l.lvs = l.lvs.map((x) => (x.name === want.lv ? { ...x, attr: 'Vwi-aotz--' } : x)); o.fs = { type: null, uuid: null }; }
        if (a.do === 'mkfs') o.fs = { type: 'xfs', uuid: want.uuid };
        if (a.do === 'fstab') o.fstabOk = true;
        if (a.do === 'mount') o.mounted = { fstype: 'xfs', source: '/dev/mapper/x' };
        if (a.do === 'brickdir') o.brickDir = true;
      }
      expect(done.at(-1), done.join(' → ')).toBe('done');
      expect(done.filter((x) => x === 'mkfs').length).toBeLessThanOrEqual(1);
    }
  });

  it('parses lvs rows, hidden pool parts included', () => {
    const out = '  [lvol0_pmspare]|ewi-------||\n  gv0b1_lv|Vwi-aotz--|gv0b1_pool|personal-cloud:u-1\n  gv0b1_pool|twi-aotz--||personal-cloud:u-1\n  [gv0b1_pool_tdata]|Twi-ao----||\n';
    expect(parseLvs(out)).toEqual([
      { name: 'lvol0_pmspare', attr: 'ewi-------', pool: '', tags: [] },
      { name: 'gv0b1_lv', attr: 'Vwi-aotz--', pool: 'gv0b1_pool', tags: ['personal-cloud:u-1'] },
      { name: 'gv0b1_pool', attr: 'twi-aotz--', pool: '', tags: ['personal-cloud:u-1'] },
      { name: 'gv0b1_pool_tdata', attr: 'Twi-ao----', pool: '', tags: [] },
    ]);
  });
});

describe('leader choice', () => {
  const NODES = ['node1', 'node2', 'node3', 'node4', 'node5', 'node6'];
  const GRACE = 20_000;
  const base = (self: string, members: LeaderMember[], o: Partial<LeaderView> = {}): LeaderView => ({
    self, planNodes: NODES, now: 5_000, agentStartMs: 0, graceMs: GRACE, fallbackMs: 3 * GRACE, selfPooled: false, selfPool: [self], members, ...o,
  });
  const up = (name: string, o: Partial<LeaderMember> = {}): LeaderMember => ({ name, live: true, glusterd: true, pooled: false, lastLiveMs: 5_000, ...o });
  const down = (name: string): LeaderMember => ({ name, live: false, glusterd: false, pooled: false });

  it('a node that cannot see a lower-named member yet waits for it during the grace period, then takes over', () => {
    const view = base('node4', [down('node1'), down('node2'), down('node3'), up('node5'), up('node6')]);
    expect(chooseLeader(view)).toMatchObject({ leader: null, why: expect.stringMatching(/waiting up to 15 s for node1/) });
    expect(chooseLeader({ ...view, now: GRACE + 1 }).leader).toBe('node4');
  });

  it('follows a reachable lower-named member even before its glusterd runs, and passes it over only after the fallback', () => {
    const m = [up('node1', { glusterd: false, glusterdDownSinceMs: 1_000 }), up('node3')];
    expect(chooseLeader(base('node2', m)).leader).toBe('node1');
    expect(chooseLeader(base('node2', m, { now: 1_000 + 3 * GRACE + 1 })).leader).toBe('node2');
  });

  it('a node outside any pool follows an existing pool; a pooled node follows the lowest node of its pool', () => {
    expect(chooseLeader(base('node1', [up('node2', { pooled: true }), up('node3', { pooled: true })])).leader).toBe('node2');
    expect(chooseLeader(base('node3', [up('node1'), up('node2')], { selfPooled: true, selfPool: ['node2', 'node3'] })).leader).toBe('node2');
  });

  it('six nodes starting at once with stale, asymmetric views never have two self-elected leaders', () => {
    // every node sees each other member after its own random delay (< grace); at every instant
    // at most one node may consider itself leader, and that node is node1
    let seed = 42;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    for (let run = 0; run < 200; run++) {
      const start = new Map(NODES.map((n) => [n, Math.floor(rnd() * 8_000)]));
      const seenAfter = new Map(NODES.flatMap((a) => NODES.map((b) => [`${a}>${b}`, Math.max(start.get(a)!, start.get(b)!) + Math.floor(rnd() * (GRACE - 9_000))])));
      for (let t = 0; t <= 60_000; t += 500) {
        const selfLeaders = NODES.filter((self) => t >= start.get(self)! && chooseLeader(base(self,
          NODES.filter((n) => n !== self).map((n) => (t >= seenAfter.get(`${self}>${n}`)! ? up(n, { lastLiveMs: t }) : down(n))),
          { now: t, agentStartMs: start.get(self)! })).leader === self);
        expect(selfLeaders.length, `run ${run} t=${t}: ${selfLeaders.join(', ')}`).toBeLessThanOrEqual(1);
        if (selfLeaders.length) expect(selfLeaders[0]).toBe('node1');
      }
    }
  });
});

describe('peer mesh before a volume create or add-brick', () => {
  const node = (name: string, sees?: [string[], boolean][]): MeshNode => ({ name, names: [name, `${name}.lan`, `10.0.0.${name.slice(4)}`], ...(sees ? { sees: sees.map(([names, up]) => ({ names, up })) } : {}) });

  it('a full mesh has no gaps, whichever name or address each side knows the other by', () => {
    expect(missingLinks([
      node('node1', [[['node2'], true], [['node3.lan'], true]]),
      node('node2', [[['10.0.0.1'], true], [['node3'], true]]),
      node('node3', [[['10.0.0.1', 'node1'], true], [['node2.lan'], true]]),
    ])).toEqual([]);
  });

  it('names each link that is down or missing from one end, and a member whose view is unknown', () => {
    expect(missingLinks([
      node('node1', [[['node2'], true], [['node3'], true]]),
      node('node2', [[['node1'], true], [['node3'], false]]),
      node('node3', [[['node1'], true]]),
      node('node4'),
    ])).toEqual(['node1 → node4', 'node2 → node3', 'node2 → node4', 'node3 → node2', 'node3 → node4', 'node4 (no status)']);
  });
});
