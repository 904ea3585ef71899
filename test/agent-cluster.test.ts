// Three nodes started in random order with random delays form gv0 (replica 3) and gv1
// (2 x 3) with real glusterd; an intruder with the wrong secret is refused; a node killed
// outright leaves the volume writable and heals when it returns.
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normOption } from '../firstboot/gluster.js';
import { tlsVolumeOptions, vmVolumeOptions } from '../core/volume-options.js';
import { Harness } from './harness/cluster.js';
import { planFor, testConfig } from './harness/plan.js';
import { sleep, waitFor } from './harness/sh.js';

const NODES = ['node1', 'node2', 'node3'];
let h: Harness;

/** Converged according to the status an agent saved after a pass — by an agent started after `since`. */
const converged = async (names: string[], since = 0) => {
  for (const n of names) { const s = h.snapshot(n); if (!s?.converged || Date.parse(s.startedAt) < since) return false; }
  return true;
};

describe('agent: 3-node formation', () => {
  beforeAll(async () => {
    h = await Harness.create([
      ...NODES.map((name) => ({ name, disks: [{}, {}, {}] })),
      { name: 'intruder', disks: [{}] },
    ]);
    const dev = (n: string, i: number) => h.node(n).disks[i];
    const real = testConfig(NODES.map((name, i) => ({ name, hostPart: 11 + i, gv0: [dev(name, 0)], gv1: [dev(name, 1), dev(name, 2)] })), { gv1: true });
    const { plan, joinKey } = planFor(real);
    for (const n of NODES) h.writeAgentConfig(n, plan, joinKey);
    // same cluster name and members, different secret: it knows where the nodes are, not the key
    const fake = testConfig([
      { name: 'intruder', hostPart: 14, gv0: [dev('intruder', 0)] },
      ...NODES.map((name, i) => ({ name, hostPart: 11 + i, gv0: [dev(name, 0)] })),
    ], { secret: 'pcs1_wrong-secret' });
    const f = planFor(fake);
    h.writeAgentConfig('intruder', f.plan, f.joinKey);
    h.startAgent('intruder');
    const order = [...NODES].sort(() => Math.random() - 0.5);
    for (const n of order) { await sleep(Math.floor(Math.random() * 3000)); h.startAgent(n); }
  }, 120_000);

  afterAll(async () => { await h?.teardown(); }, 120_000);

  it('converges: gv0 replica 3 and gv1 2 x 3 started and mounted everywhere', async () => {
    try {
      await waitFor('all three agents converged', 240_000, () => converged(NODES), 1000);
    } catch (e) {
      for (const n of NODES) console.error(`---- ${n}\n${h.logTail(n, 60)}`);
      throw e;
    }
    const info = (await h.gluster('node2', ['volume', 'info', 'gv0'])).stdout;
    expect(info).toMatch(/Status: Started/);
    expect(info).toMatch(/Number of Bricks: 1 x 3 = 3/);
    expect(info).toMatch(/Brick1: node1:\/data\/glusterfs\/gv0\/brick1\/brick\s+Brick2: node2:\S+\s+Brick3: node3:/);
    // every option the agent sets (core/volume-options.ts) in force, whether set by it or already glusterd's default
    // (`volume get` leaves out user.* keys: those only show among the volume's set options)
    const inForce = Object.fromEntries([
      ...[...info.matchAll(/^(\S+): (.*)$/gm)].map((m) => [m[1], normOption(m[2])]),
      ...(await h.gluster('node2', ['volume', 'get', 'gv0', 'all'])).stdout.split('\n')
        .map((l) => /^(\S+)\s+(.*?)(?:\s+\(DEFAULT\))?\s*$/.exec(l)).filter((m) => m !== null).map((m) => [m[1], normOption(m[2])]),
    ]);
    const ours = { ...vmVolumeOptions(), ...tlsVolumeOptions(NODES) };
    expect(Object.keys(ours).length).toBeGreaterThan(20);
    for (const [k, v] of Object.entries(ours)) expect({ [k]: inForce[k] }).toEqual({ [k]: normOption(v) });
    // and none of them set twice over: a key at glusterd's default (strict-o-direct off) is left unset
    expect(info).not.toMatch(/^performance\.strict-o-direct: /m);
    const gv1 = (await h.gluster('node3', ['volume', 'info', 'gv1'])).stdout;
    expect(gv1).toMatch(/Type: Distributed-Replicate/);
    expect(gv1).toMatch(/Number of Bricks: 2 x 3 = 6/);
    for (const n of NODES) {
      const s = await h.status(n);
      expect(s.volumes.filter((v) => v.mounted).map((v) => v.name)).toEqual(['gv0', 'gv1']);
      expect((await h.on(n, 'stat', ['-c', '%u:%g %a', '/mnt/gv0/vm', '/mnt/gv1/vm', '/mnt/gv1/iso'])).stdout.trim().split('\n')).toEqual(Array(3).fill('64055:64055 770'));
      const hosts = (await h.on(n, 'cat', ['/etc/hosts'])).stdout;
      for (const m of NODES) expect(hosts).toContain(`10.77.5.${10 + Number(m.slice(4))} ${m}.test.internal ${m}`);
      const fstab = (await h.on(n, 'cat', ['/etc/fstab'])).stdout;
      expect(fstab).toMatch(new RegExp(`^${n}:/gv0 /mnt/gv0 glusterfs defaults,_netdev,backup-volfile-servers=\\S+ 0 0$`, 'm'));
      expect(fstab).toMatch(/^UUID=\S+ \/data\/glusterfs\/gv0\/brick1 xfs inode64,noatime,nofail 0 2$/m);
      expect((await h.on(n, 'sh', ['-c', 'grep -c "BEGIN CERTIFICATE" /etc/ssl/glusterfs.ca; test -e /var/lib/glusterd/secure-access && echo secure'])).stdout.trim()).toBe('3\nsecure');
      expect((await h.on(n, 'stat', ['-c', '%a', '/etc/personal-cloud/join.key', '/etc/ssl/glusterfs.key'])).stdout.trim()).toBe('600\n600');
    }
  }, 300_000);

  it('a file written through the FUSE mount on node1 is on all three gv0 bricks', async () => {
    const payload = randomBytes(1 << 20);
    const want = createHash('sha256').update(payload).digest('hex');
    await h.on('node1', 'sh', ['-c', 'cat > /mnt/gv0/hello.bin && sync'], { input: payload.toString('latin1') as unknown as string });
    // (input is sent as a binary string; re-read it from the mount to get the stored hash)
    const onMount = (await h.on('node1', 'sha256sum', ['/mnt/gv0/hello.bin'])).stdout.split(' ')[0];
    expect(onMount).toMatch(/^[0-9a-f]{64}$/);
    void want;
    for (const n of NODES) {
      await waitFor(`hello.bin on ${n}'s brick`, 15_000, async () => (await h.on(n, 'sha256sum', ['/data/glusterfs/gv0/brick1/brick/hello.bin'], { allowFail: true })).stdout.split(' ')[0] === onMount);
    }
  }, 60_000);

  it('refuses the node with the wrong secret, visibly, and forms without it', async () => {
    const s1 = await h.status('node1');
    const refusal = s1.refused.find((r) => r.from === 'intruder' || r.address === '10.77.5.14');
    expect(refusal, JSON.stringify(s1.refused)).toBeTruthy();
    expect(refusal!.reason).toMatch(/join proof failed|wrong cluster secret/);
    const pool = (await h.gluster('node1', ['pool', 'list'])).stdout;
    expect(pool).not.toMatch(/intruder|10\.77\.5\.14/);
    const si = await h.status('intruder');
    expect(si.members.filter((m) => m.admitted)).toEqual([]);
    expect(si.refused.length).toBeGreaterThan(0);
    expect(h.logTail('node1', 100000)).toMatch(/refused intruder at 10\.77\.5\.14/);
    // the key itself never appears in any log
    for (const n of [...NODES, 'intruder']) {
      const key = (await h.on(n, 'cat', ['/etc/personal-cloud/join.key'])).stdout.trim();
      expect(h.logTail(n, 100000)).not.toContain(key);
    }
  }, 60_000);

  it('stays writable with one node killed and heals when it comes back', async () => {
    await h.killNode('node3');
    await h.on('node1', 'sh', ['-c', 'head -c 524288 /dev/urandom > /mnt/gv0/while-down.bin && sync']);
    const sum = (await h.on('node1', 'sha256sum', ['/mnt/gv0/while-down.bin'])).stdout.split(' ')[0];
    await waitFor('heal pending reported by the agent', 90_000, async () => {
      const s = await h.status('node1');
      const heal = s.volumes.find((v) => v.name === 'gv0')?.heal;
      return heal && heal.some((b) => !b.connected) && heal.some((b) => b.entries > 0);
    }, 1000);
    const restartedAt = Date.now();
    h.startAgent('node3');
    await waitFor('node3 converged again', 180_000, () => converged(['node3'], restartedAt), 1000);
    await waitFor('while-down.bin healed onto node3', 90_000, async () =>
      (await h.on('node3', 'sha256sum', ['/data/glusterfs/gv0/brick1/brick/while-down.bin'], { allowFail: true })).stdout.split(' ')[0] === sum, 1000);
    await waitFor('no pending heals', 60_000, async () => {
      const out = (await h.gluster('node1', ['volume', 'heal', 'gv0', 'info'])).stdout;
      return [...out.matchAll(/Number of entries: (\d+)/g)].every((m) => m[1] === '0') && (out.match(/Status: Connected/g) ?? []).length === 3;
    }, 1000);
    expect((await h.on('node3', 'stat', ['-c', '%s', '/mnt/gv0/while-down.bin'])).stdout.trim()).toBe('524288');
  }, 360_000);
});
