// Crash safety and data safety on one 3-node cluster (real glusterd):
// - every agent SIGKILLs itself once at every step boundary it reaches (PERSONAL_CLOUD_CRASH_AT=*)
//   and is restarted like systemd would; the end state is the normal one and no destructive
//   or cluster-wide action ran twice;
// - node3's second gv1 disk holds an ext4 filesystem: it is left byte-for-byte untouched and
//   reported as needing attention, while gv0 and the first gv1 replica set form without it.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Harness } from './harness/cluster.js';
import { planFor, testConfig } from './harness/plan.js';
import { sh, waitFor } from './harness/sh.js';
import type { NodeStatus } from '../core/status-types.js';

const NODES = ['node1', 'node2', 'node3'];
let h: Harness;
let ext4Before = '';
const ext4Image = () => h.node('node3').images[2];
const sha = async (f: string) => (await sh('sha256sum', [f])).stdout.split(' ')[0];

/** Every node's last saved status shows gv0 and gv1 started and mounted, and its mounts done. */
function formed(): boolean {
  for (const n of NODES) {
    const s = h.snapshot(n);
    if (!s) return false;
    const vols = s.volumes.filter((v) => v.started && v.mounted).map((v) => v.name);
    if (!vols.includes('gv0') || !vols.includes('gv1')) return false;
    if (s.steps.find((x) => x.name === 'folders')?.state !== 'done') return false;
  }
  return true;
}

const boundaryCount = (node: string, name: string) =>
  readFileSync(h.node(node).log, 'utf8').split('\n').filter((l) => l.endsWith(`debug boundary ${name}`)).length;

describe('agent: SIGKILL at every step boundary; a disk with data is left alone', () => {
  beforeAll(async () => {
    h = await Harness.create(NODES.map((name) => ({ name, disks: [{}, {}, name === 'node3' ? { sizeMB: 64, ext4: true } : {}] })), { id: 'pcc' });
    ext4Before = await sha(ext4Image());
    const dev = (n: string, i: number) => h.node(n).disks[i];
    const cfg = testConfig(NODES.map((name, i) => ({ name, hostPart: 11 + i, gv0: [dev(name, 0)], gv1: [dev(name, 1), dev(name, 2)] })), { gv1: true });
    const { plan, joinKey } = planFor(cfg);
    for (const n of NODES) h.writeAgentConfig(n, plan, joinKey);
    for (const n of NODES) h.startAgent(n, { PERSONAL_CLOUD_CRASH_AT: '*', PERSONAL_CLOUD_FORM_GRACE: '15' });
  }, 180_000);

  afterAll(async () => { await h?.teardown(); }, 120_000);

  it('forms gv0 (1 x 3) and gv1 (its ready replica set) despite a crash at every boundary', async () => {
    try {
      await waitFor('gv0 and gv1 started and mounted on every node', 600_000, async () => formed(), 1000);
    } catch (e) {
      for (const n of NODES) console.error(`---- ${n}\n${h.logTail(n, 80)}`);
      throw e;
    }
    const gv0 = (await h.gluster('node1', ['volume', 'info', 'gv0'])).stdout;
    expect(gv0).toMatch(/Status: Started/);
    expect(gv0).toMatch(/Number of Bricks: 1 x 3 = 3/);
    const gv1 = (await h.gluster('node2', ['volume', 'info', 'gv1'])).stdout;
    expect(gv1).toMatch(/Status: Started/);
    expect(gv1).toMatch(/Number of Bricks: 1 x 3 = 3/);
    expect(gv1).toMatch(/Brick1: node1:\/data\/glusterfs\/gv1\/brick1\/brick\s+Brick2: node2:\/data\/glusterfs\/gv1\/brick1\/brick\s+Brick3: node3:\/data\/glusterfs\/gv1\/brick1\/brick/);
    expect(gv1).not.toMatch(/brick2/);
  }, 660_000);

  it('crashed at every boundary of the formation, and nothing was done twice', async () => {
    const done = new Map(NODES.map((n) => [n, readFileSync(`${h.node(n).dir}/pc-lib/crash-boundaries.done`, 'utf8').split('\n').filter(Boolean)]));
    const all = new Set([...done.values()].flat());
    for (const b of ['hosts:write', 'disks:intent', 'disks:mkfs', 'disks:fstab', 'disks:mount', 'disks:brickdir', 'tls:key', 'tls:cert', 'tls:ca', 'tls:secure-access',
      'glusterd:start', 'peers:probe', 'volumes:create', 'volumes:options', 'volumes:start', 'mounts:fstab', 'mounts:mount', 'folders:create']) {
      expect([...all], `boundary ${b}`).toContain(b);
    }
    for (const n of NODES) {
      const node = h.node(n);
      // every crash was a restart; the harness restarted the agent each time
      expect(node.restarts).toBeGreaterThanOrEqual(done.get(n)!.length);
      const bricks = n === 'node3' ? 2 : 3;
      expect(boundaryCount(n, 'disks:mkfs'), `${n} mkfs count`).toBe(bricks);
      expect(boundaryCount(n, 'disks:intent'), `${n} intents`).toBe(bricks);
      expect(boundaryCount(n, 'tls:key'), `${n} key generations`).toBe(1);
      // each prepared brick carries the filesystem UUID recorded before mkfs, and one fstab line
      const state = JSON.parse(readFileSync(`${node.dir}/pc-lib/state.json`, 'utf8')) as { disks: Record<string, { device: string; uuid: string }> };
      expect(Object.keys(state.disks).sort()).toEqual(['/data/glusterfs/gv0/brick1', '/data/glusterfs/gv1/brick1', ...(n === 'node3' ? [] : ['/data/glusterfs/gv1/brick2'])]);
      const fstab = (await h.on(n, 'cat', ['/etc/fstab'])).stdout.split('\n').filter((l) => l && !l.startsWith('#'));
      const mountPoints = fstab.map((l) => l.split(/\s+/)[1]);
      expect(new Set(mountPoints).size, fstab.join('\n')).toBe(mountPoints.length);
      for (const [mp, intent] of Object.entries(state.disks)) {
        const uuid = (await h.on(n, 'blkid', ['-s', 'UUID', '-o', 'value', intent.device])).stdout.trim();
        expect(uuid, `${n} ${mp}`).toBe(intent.uuid);
        expect(fstab).toContain(`UUID=${intent.uuid} ${mp} xfs inode64,noatime,nofail 0 2`);
      }
      const mounts = (await h.on(n, 'sh', ['-c', "awk '$3 == \"fuse.glusterfs\" {print $2, $3}' /proc/mounts"])).stdout.trim().split('\n').sort();
      expect(mounts).toEqual(['/mnt/gv0 fuse.glusterfs', '/mnt/gv1 fuse.glusterfs']);
    }
    const sum = (b: string) => NODES.reduce((a, n) => a + boundaryCount(n, b), 0);
    expect(sum('volumes:create')).toBe(2);
    expect(sum('volumes:start')).toBe(2);
    expect(sum('peers:probe')).toBe(2);
    // the volumes work after all that
    await h.on('node2', 'sh', ['-c', 'echo crash-safe > /mnt/gv0/after-crashes && sync']);
    await waitFor('file on node3\'s brick', 30_000, async () => (await h.on('node3', 'cat', ['/data/glusterfs/gv0/brick1/brick/after-crashes'], { allowFail: true })).stdout.trim() === 'crash-safe');
  }, 240_000);

  it('leaves the ext4 disk untouched and reports it as needing attention', async () => {
    expect(await sha(ext4Image())).toBe(ext4Before);
    const dev = h.node('node3').disks[2];
    expect((await sh('blkid', ['-s', 'TYPE', '-o', 'value', dev])).stdout.trim()).toBe('ext4');
    expect((await sh('blkid', ['-s', 'LABEL', '-o', 'value', dev])).stdout.trim()).toBe('precious');
    const s: NodeStatus = await h.status('node3'); // through the agent's authenticated channel
    const disks = s.steps.find((x) => x.name === 'disks')!;
    expect(disks.state).toBe('attention');
    expect(disks.detail).toMatch(new RegExp(`refusing ${dev} for gv1 brick2: it holds .*ext4.*left untouched.*wipe: true`));
    expect(s.lastError?.step).toBe('disks');
    expect(s.readyBricks?.sort()).toEqual(['node3:/data/glusterfs/gv0/brick1/brick', 'node3:/data/glusterfs/gv1/brick1/brick']);
    expect(s.converged).toBe(false);
    // the human-readable status says so too
    const text = await h.on('node3', process.execPath, [h.agentPath, 'status'], { allowFail: true });
    expect(text.stdout).toMatch(/disks\s+attention\s+refusing/);
    // the leader reports the held-back replica set as waiting, not as an error
    const leader = h.snapshot(s.leader!)!;
    expect(leader.steps.find((x) => x.name === 'volumes')).toMatchObject({ state: 'waiting' });
    expect(leader.steps.find((x) => x.name === 'volumes')!.detail).toMatch(/gv1: 1 replica set\(s\) wait for their nodes/);
  }, 240_000);
});
