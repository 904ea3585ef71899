// Living with a cluster, on real glusterd: a node powered off and reinstalled (state, TLS
// material, brick disks blank; only its rendered config kept) takes its old place by itself —
// same name, same glusterd identity, no stale peer, every file of every volume back on its bricks
// with the same checksum (those written before the failure too: "heal info 0" is no proof);
// a second box claiming a live node's name is refused; a brick disk replaced on a live node is
// brought back; a node off while another was replaced comes back and heals.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Harness } from './harness/cluster.js';
import { planFor, testConfig } from './harness/plan.js';
import { sh, sleep, waitFor } from './harness/sh.js';

const NODES = ['node1', 'node2', 'node3'];
const GV0 = '/data/glusterfs/gv0/brick1/brick';
const GV1 = ['/data/glusterfs/gv1/brick1/brick', '/data/glusterfs/gv1/brick2/brick'];
let h: Harness;
let ticker: ChildProcess | undefined;
const figures: string[] = [];

/** Every regular file of a brick (its own .glusterfs index aside) with its md5. */
async function brickSums(node: string, brick: string): Promise<Record<string, string>> {
  const r = await h.on(node, 'sh', ['-c', `cd '${brick}' && find . -path ./.glusterfs -prune -o -type f -print0 | xargs -0 -r md5sum`]);
  return Object.fromEntries(r.stdout.trim().split('\n').filter(Boolean).map((l) => { const [sum, ...f] = l.split(/\s+/); return [f.join(' '), sum]; }));
}

/** The md5 of every file written through the mount, as a client reads them. */
async function mountSums(node: string, dir: string): Promise<Record<string, string>> {
  return brickSums(node, dir);
}

async function writeFiles(node: string, mount: string, prefix: string, count: number): Promise<void> {
  await h.on(node, 'sh', ['-c', `mkdir -p '${mount}/data' && for i in $(seq 1 ${count}); do head -c $((100000 + i * 997)) /dev/urandom > "${mount}/data/${prefix}-$i"; done; sync`], { timeoutMs: 120_000 });
}

/** Peer UUIDs as `node1` sees them (name → uuid and state). */
async function poolOf(node: string): Promise<Record<string, string>> {
  const out = (await h.gluster(node, ['peer', 'status'])).stdout;
  // (a peer may be recorded by its FQDN: the name it was probed with)
  return Object.fromEntries([...out.matchAll(/Hostname: (\S+)\nUuid: (\S+)\nState: (.*)/g)].map((m) => [m[1].split('.')[0], `${m[2]} ${m[3]}`]));
}

/** The brick of `node` holds exactly the files (same md5) its replica partner on `ref` holds, and every file the clients wrote. */
async function sameAs(node: string, brick: string, ref: string, expectFiles: string[]): Promise<true | false> {
  const [mine, theirs] = await Promise.all([brickSums(node, brick), brickSums(ref, brick)]);
  const missing = expectFiles.filter((f) => !(f in theirs) && !(f in mine));
  if (missing.length) throw new Error(`files written through the mount found on neither brick: ${missing.slice(0, 3).join(' ')}`);
  return Object.keys(theirs).length > 0 && JSON.stringify(Object.entries(mine).sort()) === JSON.stringify(Object.entries(theirs).sort()) ? true : false;
}

const converged = (names: string[], since = 0) => names.every((n) => { const s = h.snapshot(n); return s?.converged && Date.parse(s.startedAt) >= since; });

/** Longest pause between the ticker's writes (seconds), from its own timestamps. */
async function longestPause(): Promise<number> {
  const ts = (await h.on('node1', 'cat', ['/mnt/gv0/ticker'])).stdout.trim().split('\n').map(Number).filter(Number.isFinite);
  let max = 0;
  for (let i = 1; i < ts.length; i++) max = Math.max(max, ts[i] - ts[i - 1]);
  return max;
}

/** What a person would look at when a heal does not finish: heal info, what differs between the bricks, the self-heal daemons' last words. */
async function healDiagnosis(): Promise<string> {
  const out = [(await h.gluster('node1', ['volume', 'heal', 'gv0', 'info'], true)).stdout];
  const sums = await Promise.all(NODES.map((n) => brickSums(n, GV0).catch(() => ({} as Record<string, string>))));
  const names = [...new Set(sums.flatMap((s) => Object.keys(s)))].sort();
  for (const f of names) if (new Set(sums.map((s) => s[f] ?? '-')).size > 1) out.push(`differs ${f}: ${sums.map((s, i) => `${NODES[i]}=${(s[f] ?? '-').slice(0, 8)}`).join(' ')}`);
  for (const n of NODES) out.push(`---- ${n} glustershd.log\n${(await h.on(n, 'sh', ['-c', 'tail -n 25 /var/log/glusterfs/glustershd.log'], { allowFail: true })).stdout}`);
  return out.join('\n');
}

async function replaceNode(name: string, env: Record<string, string> = {}): Promise<number> {
  await h.killNode(name);
  await h.wipeNode(name);
  const t0 = Date.now();
  h.startAgent(name, env);
  return t0;
}

describe('agent: replacing a dead node, a dead disk; rejoining after an absence', () => {
  let uuid3 = '';
  const written: Record<string, string[]> = { gv0: [], gv1: [] };

  beforeAll(async () => {
    h = await Harness.create(NODES.map((name) => ({ name, disks: [{}, {}, {}] })), { id: 'pcr' });
    const dev = (n: string, i: number) => h.node(n).disks[i];
    const cfg = testConfig(NODES.map((name, i) => ({ name, hostPart: 11 + i, gv0: [dev(name, 0)], gv1: [dev(name, 1), dev(name, 2)] })), { gv1: true });
    const { plan, joinKey } = planFor(cfg);
    for (const n of NODES) h.writeAgentConfig(n, plan, joinKey);
    for (const n of NODES) h.startAgent(n);
    await waitFor('three agents converged', 300_000, async () => converged(NODES), 1000);
    // a client that writes all along, as a VM's disk would: the survivors must never stop serving
    ticker = spawn('nsenter', [...h.nsenterArgs('node1'), 'sh', '-c', 'while :; do date +%s.%N >> /mnt/gv0/ticker; sleep 0.2; done'], { stdio: 'ignore' });
  }, 400_000);

  afterAll(async () => {
    ticker?.kill('SIGKILL');
    if (figures.length) console.log(`replace figures:\n  ${figures.join('\n  ')}`);
    await h?.teardown();
  }, 120_000);

  it('a reinstalled node3 takes its old place: same UUID, no stale peer, every file back with its checksum', async () => {
    uuid3 = (await poolOf('node1')).node3.split(' ')[0];
    await writeFiles('node1', '/mnt/gv0', 'before', 20);
    await writeFiles('node1', '/mnt/gv1', 'before', 30);
    const t0 = await replaceNode('node3');
    await writeFiles('node2', '/mnt/gv0', 'during', 20);
    await writeFiles('node2', '/mnt/gv1', 'during', 30);
    written.gv0 = Object.keys(await mountSums('node1', '/mnt/gv0')).filter((f) => f.startsWith('./data/'));
    written.gv1 = Object.keys(await mountSums('node1', '/mnt/gv1')).filter((f) => f.startsWith('./data/'));
    expect(written.gv0).toHaveLength(40);
    expect(written.gv1).toHaveLength(60);
    try {
      await waitFor('node3 back in the pool under its old UUID', 240_000, async () => (await poolOf('node1')).node3 === `${uuid3} Peer in Cluster (Connected)`, 2000);
      await waitFor('node3\'s gv0 brick holds every file of node1\'s, same checksums', 300_000, () => sameAs('node3', GV0, 'node1', written.gv0), 3000);
      const tHealed = Date.now();
      // gv1 is 2 x 3: node3 holds one brick of each replica set
      for (const b of GV1) await waitFor(`node3:${b} the same as node1's`, 300_000, () => sameAs('node3', b, 'node1', []), 3000);
      figures.push(`node3 reinstalled → gv0 brick healed (40 files): ${((tHealed - t0) / 1000).toFixed(1)} s; all bricks: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      await waitFor('every agent converged again', 180_000, async () => converged(NODES), 1000);
    } catch (e) {
      for (const n of NODES) console.error(`---- ${n}\n${h.logTail(n, 40)}`);
      throw e;
    }
    // no second node3, no rejected peer anywhere
    for (const n of ['node1', 'node2']) {
      const pool = await poolOf(n);
      expect(Object.keys(pool).sort()).toEqual(NODES.filter((x) => x !== n));
      expect(Object.values(pool).every((p) => p.endsWith('Peer in Cluster (Connected)'))).toBe(true);
    }
    expect((await h.on('node3', 'sh', ['-c', 'grep ^UUID= /var/lib/glusterd/glusterd.info'])).stdout.trim()).toBe(`UUID=${uuid3}`);
    const online = (await h.gluster('node1', ['volume', 'status', 'gv0'])).stdout;
    expect(online).toMatch(/Brick node3:\/data\/glusterfs\/gv0\/brick1\/bric\s*k\s+\d+\s+\S+\s+Y/);
    const log3 = readFileSync(h.node('node3').log, 'utf8');
    expect(log3).toContain(`adopting glusterd identity ${uuid3}`);
    // nothing ran twice: one reset committed per brick
    expect(log3.match(/reset-brick committed: back in gv0/g)).toHaveLength(1);
    expect(log3.match(/reset-brick committed: back in gv1/g)).toHaveLength(2);
    const s1 = await h.status('node1');
    expect(s1.steps.find((s) => s.name === 'peers')?.state).toBe('done');
    const pause = await longestPause();
    figures.push(`longest pause of node1's writer during the replacement: ${pause.toFixed(2)} s`);
    expect(pause).toBeLessThan(10);
  }, 900_000);

  it('a second box claiming node3 while node3 runs is refused and the pool is untouched', async () => {
    const twin = await h.addNode({ name: 'twin', disks: [{}] }, 23);
    // the stick of node3 booted on another PC: its config says node3 (on DHCP, so it can start
    // beside the real node3's static address)
    const cfg = testConfig(NODES.map((name, i) => ({ name, hostPart: 11 + i, gv0: [name === 'node3' ? twin.disks[0] : h.node(name).disks[0]] })));
    const { plan, joinKey } = planFor(cfg);
    plan.nodes.find((n) => n.name === 'node3')!.network = { dhcp: true };
    h.writeAgentConfig('twin', plan, joinKey, 'node3');
    h.startAgent('twin');
    await waitFor('the twin refuses to take node3\'s place', 180_000, async () => {
      const st = h.snapshot('twin')?.steps.find((s) => s.name === 'identity');
      return st?.state === 'attention' && st.detail.includes('another box is node3 in the pool') ? st : false;
    }, 1000);
    await sleep(10_000);
    await h.stopAgent('twin');
    const pool = await poolOf('node1');
    expect(pool.node3).toBe(`${uuid3} Peer in Cluster (Connected)`);
    expect(Object.keys(pool).sort()).toEqual(['node2', 'node3']);
    expect((await h.gluster('twin', ['pool', 'list'], true)).stdout).not.toMatch(/node1|node2/);
    expect(converged(NODES)).toBe(true);
  }, 300_000);

  it('a brick disk replaced on a live node: the agent says what it waits for, then brings the brick back', async () => {
    const dev = h.node('node2').disks[0];
    const before = await mountSums('node1', '/mnt/gv0');
    await h.on('node2', 'sh', ['-c', `pkill -KILL -f '[g]v0.node2.data-glusterfs-gv0-brick1-brick'; umount -l /data/glusterfs/gv0/brick1`]);
    await sh('losetup', ['-d', dev]);
    await writeFiles('node1', '/mnt/gv0', 'disk-out', 10);
    await waitFor('node2 says its disk is gone', 60_000, async () => {
      const st = h.snapshot('node2')?.steps.find((s) => s.name === 'disks');
      return st?.state === 'attention' && st.detail.includes(`its disk ${dev} is gone; waiting for a blank disk`) ? st : false;
    }, 1000);
    const img = join(h.node('node2').dir, 'disk1-new.img');
    await sh('truncate', ['-s', '320M', img]);
    const t0 = Date.now();
    await sh('losetup', [dev, img]);
    const files = Object.keys({ ...before, ...(await mountSums('node1', '/mnt/gv0')) }).filter((f) => f.startsWith('./data/'));
    try {
      await waitFor('node2\'s new gv0 brick the same as node1\'s', 300_000, () => sameAs('node2', GV0, 'node1', files), 3000);
    } catch (e) {
      console.error(`---- node2\n${h.logTail('node2', 60)}`);
      throw e;
    }
    figures.push(`brick disk replaced on live node2 → healed (${files.length} files): ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    await waitFor('agents converged', 120_000, async () => converged(NODES), 1000);
  }, 600_000);

  it('a node off while another is replaced comes back and heals without help', async () => {
    await h.killNode('node2');
    await writeFiles('node1', '/mnt/gv0', 'away', 10);
    // meanwhile node3 is reinstalled again: new certificate, adopted UUID, blank bricks — with
    // node2 away, node1 holds the only good copy; and its agent is killed once right after every
    // side effect of taking its place (systemd would restart it, the harness does)
    await replaceNode('node3', { PERSONAL_CLOUD_CRASH_AT: 'identity,bricks' });
    await waitFor('node3 back in the pool', 240_000, async () => (await poolOf('node1')).node3 === `${uuid3} Peer in Cluster (Connected)`, 2000);
    await waitFor('node3\'s gv0 brick back in gv0, healing', 240_000, async () => /healing/.test(h.snapshot('node3')?.steps.find((s) => s.name === 'bricks')?.detail ?? ''), 1000);
    // every node says so, and no node calls itself healthy meanwhile
    await waitFor('every node reports node3\'s brick coming back', 60_000, async () => NODES.filter((n) => n !== 'node2').every((n) =>
      h.snapshot(n)?.health?.degraded.some((d) => d.what === 'brick-returning' && d.subject === `gv0 node3:${GV0}` && d.detail.startsWith('node3 is being replaced'))), 1000);
    await writeFiles('node3', '/mnt/gv0', 'late', 10);
    const t0 = Date.now();
    h.startAgent('node2');
    try {
      for (const n of ['node2', 'node3']) await waitFor(`${n}'s gv0 brick the same as node1's`, 400_000, () => sameAs(n, GV0, 'node1', []), 3000);
      await waitFor('every agent converged', 180_000, async () => converged(NODES), 1000);
    } catch (e) {
      for (const n of NODES) console.error(`---- ${n}\n${h.logTail(n, 40)}`);
      console.error(await healDiagnosis());
      throw e;
    }
    figures.push(`node2 back after node3's replacement → both healed: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const n of NODES) {
      const pool = await poolOf(n);
      expect(Object.values(pool).every((p) => p.endsWith('Peer in Cluster (Connected)'))).toBe(true);
    }
    const log3 = readFileSync(h.node('node3').log, 'utf8');
    for (const b of ['identity:intent', 'identity:uuid', 'identity:peers', 'bricks:intent', 'bricks:reset-start', 'bricks:reset-commit', 'bricks:heal']) {
      expect(log3, `crash at ${b}`).toContain(`SIGKILL at boundary ${b}`);
    }
    expect(h.node('node3').restarts).toBeGreaterThanOrEqual(7);
    // the returning node trusts the replaced node's new certificate
    const ca2 = (await h.on('node2', 'cat', ['/etc/ssl/glusterfs.ca'])).stdout;
    expect(ca2).toContain((await h.on('node3', 'cat', ['/etc/ssl/glusterfs.pem'])).stdout.trim());
  }, 900_000);
});
