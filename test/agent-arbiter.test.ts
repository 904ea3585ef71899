// Two data nodes + an arbiter (gv0 `replica 3 arbiter 1`), the agents run by Debian bookworm's
// nodejs 18 (the oldest runtime the bundle must support), and the admin `personal-cloud status`
// reaching the agents through the authenticated endpoint — and refused with a wrong secret.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Harness } from './harness/cluster.js';
import { planFor, testConfig } from './harness/plan.js';
import { sh, waitFor } from './harness/sh.js';
import type { NodeAnswer } from '../src/commands/status.js';

const NODES = ['node1', 'node2', 'arb'];
const REPO = new URL('../', import.meta.url).pathname;
let h: Harness;

function adminYaml(secret: string): string {
  return `name: testcloud
domain: test.internal
release: bookworm
replica: 2
secret: ${secret}
timezone: UTC
locale: en_US.UTF-8
keyboard: us
mirror: { url: http://deb.debian.org/debian }
network: { prefix: 24 }
users:
  - name: admin
    password_hash: "$6$pcexample$XNLAgAV7RoM83wm375zjH6Y1jvYI6Lu09C4Hbp8d6Y1fYet4exl/0eZBhvceh9f68tQ78SFhsjvodO2y/o5Rc/"
    ssh_keys: [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHdPbn5sQ4uL4t0YI0nxk3D9ymoEUsjVOv5h8JUtt1zo admin@laptop" ]
disks:
  os: { id: /dev/disk/by-id/os }
  gv0: [ { id: /dev/disk/by-id/gv0 } ]
volumes:
  gv0: { enabled: true, brick_layout: xfs }
  gv1: { enabled: false }
nodes:
  - { name: node1, address: 10.77.5.11 }
  - { name: node2, address: 10.77.5.12 }
  - { name: arb, address: 10.77.5.13, arbiter: true }
`;
}

/** `personal-cloud status --config FILE --json` run from inside node1's network (where the nodes are). */
async function adminStatus(yamlPath: string): Promise<{ code: number; answers: NodeAnswer[]; stderr: string }> {
  // from the repository (run-ts resolves the CLI's npm dependencies there)
  const r = await sh('nsenter', [...h.nsenterArgs('node1'), 'sh', '-c', 'cd "$0" && exec "$@"', REPO, process.execPath, 'scripts/run-ts.mjs', 'src/cli.ts', 'status', '--config', yamlPath, '--json', '--timeout', '30'], { allowFail: true, timeoutMs: 180_000 });
  let answers: NodeAnswer[] = [];
  try { answers = JSON.parse(r.stdout); } catch { /* reported by the caller's expectations */ }
  return { code: r.code, answers, stderr: r.stderr };
}

describe('agent on nodejs 18: 2 data nodes + arbiter', () => {
  beforeAll(async () => {
    h = await Harness.create([{ name: 'node1', disks: [{}] }, { name: 'node2', disks: [{}] }, { name: 'arb', disks: [] }], { node18: true, id: 'pcd' });
    const cfg = testConfig([
      { name: 'node1', hostPart: 11, gv0: [h.node('node1').disks[0]] },
      { name: 'node2', hostPart: 12, gv0: [h.node('node2').disks[0]] },
      { name: 'arb', hostPart: 13, arbiter: true },
    ], { replica: 2 });
    const { plan, joinKey } = planFor(cfg);
    for (const n of NODES) h.writeAgentConfig(n, plan, joinKey);
    for (const n of NODES) h.startAgent(n, { PERSONAL_CLOUD_FORM_GRACE: '15' });
  }, 600_000);

  afterAll(async () => { await h?.teardown(); }, 120_000);

  it('runs the bundle with nodejs 18', async () => {
    const v = await sh(h.node18!.bin, ['--version'], { env: { ...process.env, LD_LIBRARY_PATH: h.node18!.libDir } });
    expect(v.stdout.trim()).toMatch(/^v18\./);
    for (const n of NODES) {
      const pid = h.node(n).agent?.pid;
      expect(pid, `${n} agent running`).toBeTruthy();
      // nsenter execs the runtime: the agent process is nodejs 18's binary
      await waitFor(`${n} agent exec'd`, 10_000, async () => (await sh('readlink', [`/proc/${pid}/exe`], { allowFail: true })).stdout.trim() === h.node18!.bin);
    }
  }, 60_000);

  it('forms gv0 as replica 3 arbiter 1, mounted on all three nodes', async () => {
    try {
      await waitFor('all agents converged', 360_000, async () => NODES.every((n) => h.snapshot(n)?.converged), 1000);
    } catch (e) {
      for (const n of NODES) console.error(`---- ${n}\n${h.logTail(n, 60)}`);
      throw e;
    }
    const info = (await h.gluster('arb', ['volume', 'info', 'gv0'])).stdout;
    expect(info).toMatch(/Type: Replicate/);
    expect(info).toMatch(/Status: Started/);
    expect(info).toMatch(/Number of Bricks: 1 x \(2 \+ 1\) = 3/);
    expect(info).toMatch(/Brick1: node1:\/data\/glusterfs\/gv0\/brick1\/brick\s+Brick2: node2:\/data\/glusterfs\/gv0\/brick1\/brick\s+Brick3: arb:\S+ \(arbiter\)/);
    await h.on('node2', 'sh', ['-c', 'head -c 200000 /dev/urandom > /mnt/gv0/data.bin && sync']);
    const sum = (await h.on('node1', 'sha256sum', ['/mnt/gv0/data.bin'])).stdout.split(' ')[0];
    const arbBrick = /Brick3: arb:(\S+)/.exec(info)![1];
    for (const n of ['node1', 'node2']) {
      await waitFor(`data on ${n}'s brick`, 30_000, async () => (await h.on(n, 'sha256sum', ['/data/glusterfs/gv0/brick1/brick/data.bin'], { allowFail: true })).stdout.split(' ')[0] === sum);
    }
    // the arbiter holds the name and metadata, no data
    await waitFor('entry on the arbiter brick', 30_000, async () => (await h.on('arb', 'stat', ['-c', '%s', `${arbBrick}/data.bin`], { allowFail: true })).stdout.trim() === '0');
    for (const n of NODES) expect((await h.on(n, 'sha256sum', ['/mnt/gv0/data.bin'])).stdout.split(' ')[0]).toBe(sum);
  }, 420_000);

  it('personal-cloud status reports the formed cluster through the authenticated endpoint', async () => {
    const good = `${h.node('node1').dir}/cluster.yaml`;
    writeFileSync(good, adminYaml('pcs1_harness-secret-not-for-production'));
    const r = await adminStatus(good);
    expect(r.code, r.stderr).toBe(0);
    expect(r.answers.map((a) => [a.node, a.ok, a.status?.converged])).toEqual([['node1', true, true], ['node2', true, true], ['arb', true, true]]);
    for (const a of r.answers) expect(a.status!.volumes.find((v) => v.name === 'gv0')).toMatchObject({ started: true, mounted: true });
  }, 240_000);

  it('personal-cloud status with a wrong secret is refused, and the refusal is visible on the nodes', async () => {
    const bad = `${h.node('node1').dir}/wrong.yaml`;
    writeFileSync(bad, adminYaml('pcs1_not-the-cluster-secret-but-as-long-as-one'));
    const r = await adminStatus(bad);
    expect(r.code, r.stderr).toBe(1);
    expect(r.answers).toHaveLength(3);
    for (const a of r.answers) {
      expect(a.ok).toBe(false);
      expect(a.status).toBeUndefined();
      expect(a.error).toMatch(/refused|proof|key/i);
    }
    const s = await h.status('node2');
    expect(s.refused.some((x) => x.from === 'admin' && x.address === '10.77.5.11')).toBe(true);
  }, 240_000);

  it('a reinstalled arbiter takes its old place and gets every name back', async () => {
    const pool = async () => (await h.gluster('node1', ['peer', 'status'])).stdout;
    const uuid = /Hostname: arb\S*\nUuid: (\S+)/.exec(await pool())![1];
    await h.on('node1', 'sh', ['-c', 'mkdir -p /mnt/gv0/a && for i in $(seq 1 15); do echo before-$i > /mnt/gv0/a/before-$i; done; sync']);
    await h.killNode('arb');
    await h.wipeNode('arb');
    await h.on('node2', 'sh', ['-c', 'for i in $(seq 1 15); do echo away-$i > /mnt/gv0/a/away-$i; done; sync']);
    h.startAgent('arb', { PERSONAL_CLOUD_FORM_GRACE: '15' });
    const names = (n: string, brick: string) => h.on(n, 'sh', ['-c', `cd '${brick}' && find . -path ./.glusterfs -prune -o -print | sort`]).then((r) => r.stdout);
    const arbBrick = /Brick3: arb:(\S+)/.exec((await h.gluster('node1', ['volume', 'info', 'gv0'])).stdout)![1];
    try {
      await waitFor('arb back under its old UUID', 240_000, async () => new RegExp(`Hostname: arb\\S*\\nUuid: ${uuid}\\nState: Peer in Cluster \\(Connected\\)`).test(await pool()), 2000);
      await waitFor('the arbiter brick holds every name node1\'s brick holds', 240_000, async () => (await names('arb', arbBrick)) === (await names('node1', '/data/glusterfs/gv0/brick1/brick')), 3000);
      await waitFor('all agents converged', 180_000, async () => NODES.every((n) => h.snapshot(n)?.converged), 1000);
    } catch (e) {
      for (const n of NODES) console.error(`---- ${n}\n${h.logTail(n, 40)}`);
      throw e;
    }
    expect(await names('arb', arbBrick)).toContain('./a/before-15');
    // an arbiter keeps names and metadata only
    expect((await h.on('arb', 'stat', ['-c', '%s', `${arbBrick}/a/before-1`])).stdout.trim()).toBe('0');
    expect(readFileSync(h.node('arb').log, 'utf8')).toContain(`adopting glusterd identity ${uuid}`);
  }, 600_000);
});
