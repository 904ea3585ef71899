// Scale-out with real glusterd: a formed 3-node cluster (gv0 replica 3, TLS on) is joined by
// three nodes built from a newer plan. The old nodes adopt the plan, trust the newcomers'
// certificates (glusterd, bricks and mounts read the CA bundle per connection: nothing is
// restarted for them), the leader adds a whole replica set and rebalances: gv0 becomes 2 x 3,
// and files written before and after are readable through the mounts of old and new nodes alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Harness } from './harness/cluster.js';
import { planFor, testConfig } from './harness/plan.js';
import { waitFor } from './harness/sh.js';

const OLD = ['node1', 'node2', 'node3'];
const NEW = ['node4', 'node5', 'node6'];
const ALL = [...OLD, ...NEW];
let h: Harness;

const cfgFor = (names: string[]) => testConfig(names.map((name) => ({ name, hostPart: 10 + Number(name.slice(4)), gv0: [h.node(name).disks[0]] })));
const converged = (names: string[]) => names.every((n) => h.snapshot(n)?.converged);

function dump(names: string[]): void {
  for (const n of names) console.error(`---- ${n}\n${h.logTail(n, 60)}`);
}

describe('agent: scale-out from 3 to 6 nodes', () => {
  beforeAll(async () => {
    h = await Harness.create(OLD.map((name) => ({ name, disks: [{}] })), { id: 'pce' });
    const { plan, joinKey } = planFor(cfgFor(OLD));
    for (const n of OLD) h.writeAgentConfig(n, plan, joinKey);
    for (const n of OLD) h.startAgent(n, { PERSONAL_CLOUD_FORM_GRACE: '15' });
  }, 180_000);

  afterAll(async () => { await h?.teardown(); }, 120_000);

  it('forms the 3-node cluster and stores files', async () => {
    try { await waitFor('3 nodes converged', 300_000, async () => converged(OLD), 1000); } catch (e) { dump(OLD); throw e; }
    expect((await h.gluster('node1', ['volume', 'info', 'gv0'])).stdout).toMatch(/Number of Bricks: 1 x 3 = 3/);
    await h.on('node1', 'sh', ['-c', 'for i in $(seq 1 40); do echo "before $i" > /mnt/gv0/before-$i.txt; done; sync']);
  }, 360_000);

  it('absorbs three new nodes: gv0 becomes 2 x 3 distributed-replicate and is rebalanced', async () => {
    const glusterdPids = async () => Promise.all(OLD.map(async (n) => (await h.on(n, 'cat', ['/run/glusterd.pid'])).stdout.trim()));
    const pidsBefore = await glusterdPids();
    for (const n of NEW) await h.addNode({ name: n, disks: [{}] }, 10 + Number(n.slice(4)));
    const { plan, joinKey } = planFor(cfgFor(ALL));
    for (const n of NEW) h.writeAgentConfig(n, plan, joinKey);
    for (const n of NEW) h.startAgent(n, { PERSONAL_CLOUD_FORM_GRACE: '15' });
    try {
      await waitFor('6 nodes converged with gv0 2 x 3', 600_000, async () => converged(ALL)
        && /Number of Bricks: 2 x 3 = 6/.test((await h.gluster('node1', ['volume', 'info', 'gv0'])).stdout), 2000);
    } catch (e) { dump(ALL); throw e; }
    const info = (await h.gluster('node5', ['volume', 'info', 'gv0'])).stdout;
    expect(info).toMatch(/Type: Distributed-Replicate/);
    expect(info).toMatch(/Brick4: node4:\S+\s+Brick5: node5:\S+\s+Brick6: node6:/);
    expect(info).toMatch(/^auth\.ssl-allow: node1,node2,node3,node4,node5,node6$/m);
    // every node adopted the 6-node plan and trusts all six certificates; one pool, one gv0
    const ids = new Set<string>();
    for (const n of ALL) {
      expect((await h.gluster(n, ['pool', 'list'])).stdout.split('\n').filter((l) => /\tConnected/.test(l)), n).toHaveLength(6);
      ids.add(/Volume ID: (\S+)/.exec((await h.gluster(n, ['volume', 'info', 'gv0'])).stdout)?.[1] ?? '?');
    }
    expect(ids.size).toBe(1);
    // the old nodes trusted the newcomers without restarting glusterd
    expect(await glusterdPids()).toEqual(pidsBefore);
    for (const n of ALL) {
      expect(h.snapshot(n)!.planNodes).toEqual(ALL);
      expect((await h.on(n, 'grep', ['-c', 'BEGIN CERTIFICATE', '/etc/ssl/glusterfs.ca'])).stdout.trim()).toBe('6');
    }
    await waitFor('rebalance completed', 300_000, async () => {
      const out = (await h.gluster('node1', ['volume', 'rebalance', 'gv0', 'status'], true)).stdout;
      return /completed/.test(out) && !/in progress/.test(out);
    }, 2000);
    // some of the old files moved to the new replica set
    const moved = await waitFor('files on the new bricks', 60_000, async () => {
      const ls = (await h.on('node4', 'sh', ['-c', 'ls /data/glusterfs/gv0/brick1/brick | grep -c "^before-" || true'])).stdout.trim();
      return Number(ls) > 0 ? Number(ls) : false;
    }, 2000);
    expect(moved).toBeLessThan(40);
  }, 960_000);

  it('old and new nodes read and write through their mounts over TLS', async () => {
    // a new node's client reaches the old bricks (which had to learn its certificate)
    const fromNew = (await h.on('node5', 'sh', ['-c', 'cat /mnt/gv0/before-*.txt | wc -l'])).stdout.trim();
    expect(fromNew).toBe('40');
    await h.on('node6', 'sh', ['-c', 'for i in $(seq 1 40); do echo "after $i" > /mnt/gv0/after-$i.txt; done; sync']);
    // an old node's client reaches the new bricks (it had to learn their certificates)
    for (const n of ['node1', 'node3', 'node4']) {
      expect((await h.on(n, 'sh', ['-c', 'cat /mnt/gv0/after-*.txt | wc -l'])).stdout.trim(), n).toBe('40');
    }
    const onNewSet = Number((await h.on('node5', 'sh', ['-c', 'ls /data/glusterfs/gv0/brick1/brick | grep -c "^after-" || true'])).stdout.trim());
    const onOldSet = Number((await h.on('node2', 'sh', ['-c', 'ls /data/glusterfs/gv0/brick1/brick | grep -c "^after-" || true'])).stdout.trim());
    expect(onNewSet + onOldSet).toBe(40);
    expect(onNewSet).toBeGreaterThan(0);
    expect(onOldSet).toBeGreaterThan(0);
    const heal = (await h.gluster('node1', ['volume', 'heal', 'gv0', 'info'])).stdout;
    expect((heal.match(/Status: Connected/g) ?? []).length).toBe(6);
  }, 180_000);
});
