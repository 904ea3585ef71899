// Retiring nodes with real glusterd (storage harness: HA off, see test/ha-remove notes in the
// README section): a 6-node cluster with gv0 2 x 3 built from a real cluster.yaml, files written
// with checksums, then `personal-cloud node remove` run as the admin CLI (its own bundle, in a
// namespace of its own on the cluster's LAN). Unsafe removals are refused with their reason and
// change nothing; removing node4..node6 moves their files to node1..node3 (remove-brick), detaches
// them, and leaves the survivors on exactly the plan cluster.yaml gives without them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASE, Harness } from './harness/cluster.js';
import { buildCli } from './harness/ha-cluster.js';
import { sh, waitFor, type Out } from './harness/sh.js';
import { validateConfigText } from '../src/config/validate.js';
import { plan } from '../src/plan/plan.js';
import { deriveJoinKey } from '../src/plan/keys.js';
import { agentPlan } from '../core/agent-plan.js';
import { configWithout } from '../src/commands/node-remove.js';

const ID = 'rmv';
const ALL = ['node1', 'node2', 'node3', 'node4', 'node5', 'node6'];
const SURVIVORS = ['node1', 'node2', 'node3'];
const LEAVING = ['node4', 'node5', 'node6'];
const diskLink = (n: string) => `/dev/disk/by-id/${ID}-harness-${n}-gv0`;
let h: Harness;
let yaml: string;
let cfgPath: string;
let cli: string;

function clusterYaml(): string {
  const nodes = ALL.map((n) => `  - name: ${n}\n    address: 10.77.5.${10 + Number(n.slice(4))}\n    disks:\n      os: { id: /dev/disk/by-id/${ID}-harness-os }\n      gv0: [ { id: ${diskLink(n)} } ]\n`).join('');
  return `# the harness cluster, as a user would write it
name: testcloud
domain: test.internal
release: bookworm
secret: pcs1_harness-secret-not-for-production-remove
users:
  - name: admin
    password_hash: "$6$pcexample$XNLAgAV7RoM83wm375zjH6Y1jvYI6Lu09C4Hbp8d6Y1fYet4exl/0eZBhvceh9f68tQ78SFhsjvodO2y/o5Rc/"
    ssh_keys: [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHdPbn5sQ4uL4t0YI0nxk3D9ymoEUsjVOv5h8JUtt1zo admin@laptop" ]
ha: { enabled: false }
volumes:
  gv0: { brick_layout: xfs }
nodes:
${nodes}`;
}

function planOf(text: string) {
  const r = validateConfigText(text, 'cluster.yaml');
  if (!r.config) throw new Error(`harness cluster.yaml invalid: ${JSON.stringify(r.errors)}`);
  return { plan: plan(r.config), joinKey: deriveJoinKey(r.config.secret, r.config.name) };
}

const adminArgv = (args: string[]) => [`--net=/run/netns/${ID}-admin`, process.execPath, cli, ...args];

/** The admin CLI, run from a namespace on the cluster's LAN like a workstation. */
function admin(args: string[], timeoutMs = 900_000): Promise<Out> {
  return sh('nsenter', adminArgv(args), { allowFail: true, timeoutMs });
}

/** Starts the admin CLI and kills it (SIGKILL, as a closed laptop lid would) once its output matches. */
function adminKilledAt(args: string[], at: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', adminArgv(args), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`admin CLI never printed ${at}: ${out}`)); }, 300_000);
    const look = (c: Buffer) => { out += c.toString(); if (at.test(out)) { clearTimeout(timer); child.kill('SIGKILL'); } };
    child.stdout.on('data', look);
    child.stderr.on('data', look);
    child.on('exit', () => { clearTimeout(timer); resolve(out); });
  });
}

const converged = (names: string[]) => names.every((n) => h.snapshot(n)?.converged);
const gv0Info = async (n = 'node1') => (await h.gluster(n, ['volume', 'info', 'gv0'])).stdout;
const checksums = async (n: string) => (await h.on(n, 'sh', ['-c', 'cd /mnt/gv0 && sha256sum data-* | sort -k2'])).stdout;
// (a peer shows by the name it was probed with or by its FQDN)
const poolNames = async (n: string) => (await h.gluster(n, ['pool', 'list'])).stdout.split('\n').slice(1).filter(Boolean).map((l) => l.split('\t')[1]?.trim().replace(/\.test\.internal$/, '')).sort();

function dump(names: string[]): void {
  for (const n of names) console.error(`---- ${n}\n${h.logTail(n, 80)}`);
}

describe('node remove: retiring a whole replica set of a 6-node 2 x 3 cluster', () => {
  let before = '';

  beforeAll(async () => {
    h = await Harness.create(ALL.map((name) => ({ name, disks: [{}] })), { id: ID });
    mkdirSync('/dev/disk/by-id', { recursive: true });
    for (const n of ALL) { rmSync(diskLink(n), { force: true }); symlinkSync(h.node(n).disks[0], diskLink(n)); }
    yaml = clusterYaml();
    cfgPath = join(BASE, 'cluster.yaml');
    writeFileSync(cfgPath, yaml, { mode: 0o600 });
    const { plan: p, joinKey } = planOf(yaml);
    for (const n of ALL) h.writeAgentConfig(n, p, joinKey);
    for (const n of ALL) h.startAgent(n, { PERSONAL_CLOUD_FORM_GRACE: '15' });
    // the admin machine: its own namespace on the cluster's bridge
    await sh('ip', ['netns', 'add', `${ID}-admin`]);
    await sh('ip', ['link', 'add', `${ID}a-admin`, 'type', 'veth', 'peer', 'name', `${ID}s-admin`]);
    await sh('ip', ['link', 'set', `${ID}a-admin`, 'netns', `${ID}-admin`]);
    await sh('ip', ['link', 'set', `${ID}s-admin`, 'netns', `${ID}-sw`]);
    await sh('ip', ['-n', `${ID}-sw`, 'link', 'set', `${ID}s-admin`, 'master', 'br0', 'up']);
    await sh('ip', ['-n', `${ID}-admin`, 'addr', 'add', '10.77.5.250/24', 'dev', `${ID}a-admin`]);
    await sh('ip', ['-n', `${ID}-admin`, 'link', 'set', `${ID}a-admin`, 'up']);
    await sh('ip', ['-n', `${ID}-admin`, 'link', 'set', 'lo', 'up']);
    // the CLI bundled whole, as the HA tests run it (it finds the project root from where it lies)
    cli = await buildCli();
  }, 300_000);

  afterAll(async () => {
    await h?.teardown();
    for (const n of ALL) rmSync(diskLink(n), { force: true });
  }, 180_000);

  it('forms gv0 2 x 3 over six nodes and stores files', async () => {
    try {
      await waitFor('6 nodes converged with gv0 2 x 3', 600_000, async () => converged(ALL) && /Number of Bricks: 2 x 3 = 6/.test(await gv0Info()), 2000);
    } catch (e) { dump(ALL); throw e; }
    await h.on('node1', 'sh', ['-c', 'for i in $(seq 1 60); do head -c $((40960 + i * 9770)) /dev/urandom > /mnt/gv0/data-$i; done; sync']);
    before = await checksums('node1');
    expect(before.split('\n').filter(Boolean)).toHaveLength(60);
    // both replica sets hold some of them
    const onSet2 = Number((await h.on('node5', 'sh', ['-c', 'ls /data/glusterfs/gv0/brick1/brick | grep -c "^data-" || true'])).stdout.trim());
    expect(onSet2).toBeGreaterThan(0);
    expect(onSet2).toBeLessThan(60);
  }, 720_000);

  it('refuses unsafe removals with their reason, and changes nothing', async () => {
    const noStack = (o: Out) => expect(o.stderr).not.toMatch(/^\s+at /m);
    const part = await admin(['node', 'remove', 'node6', '-c', cfgPath]);
    expect(part.code, part.stdout + part.stderr).toBe(6);
    expect(part.stderr).toMatch(/gv0: replica set node4:\S+ node5:\S+ node6:\S+ would keep 2 of its 3 copies \(node6 leaving\): name node4, node5 and node6 together/);
    noStack(part);
    const below = await admin(['node', 'remove', 'node3', 'node4', 'node5', 'node6', '-c', cfgPath]);
    expect(below.code, below.stdout + below.stderr).toBe(6);
    expect(below.stderr).toMatch(/gv0 keeps 3 copies of every file on different nodes: only 2 data nodes would remain \(node1 and node2\)/);
    expect(below.stderr).toMatch(/replica set node1:\S+ node2:\S+ node3:\S+ would keep 2 of its 3 copies \(node3 leaving\)/);
    noStack(below);
    const unknown = await admin(['node', 'remove', 'node9', '-c', cfgPath]);
    expect(unknown.code, unknown.stdout + unknown.stderr).toBe(6);
    expect(unknown.stderr).toMatch(/unknown node node9 \(the cluster's nodes: node1, node2, node3, node4, node5, node6\)/);
    noStack(unknown);
    const every = await admin(['node', 'remove', ...ALL, '-c', cfgPath]);
    expect(every.code).toBe(6);
    expect(every.stderr).toMatch(/every node of the cluster/);
    const dry = await admin(['node', 'remove', ...LEAVING, '-c', cfgPath, '--dry-run']);
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/gv0: remove-brick node4:\S+ node5:\S+ node6:\S+ start/);
    expect(dry.stdout).toMatch(/gluster peer detach node4 node5 node6/);
    expect(await gv0Info()).toMatch(/Number of Bricks: 2 x 3 = 6/);
    expect(await poolNames('node1')).toHaveLength(6);
    for (const n of ALL) expect(JSON.parse(readFileSync(join(h.node(n).dir, 'pc-lib', 'state.json'), 'utf8')).removal, n).toBeUndefined();
  }, 300_000);

  it('removes node4, node5 and node6: files kept, gv0 1 x 3, peers detached, survivors on the plan without them', async () => {
    const written = join(BASE, 'cluster-after.yaml');
    // interrupted: the admin machine goes away and the coordinating agent crashes while files move
    const first = await adminKilledAt(['node', 'remove', ...LEAVING, '-c', cfgPath], /remove-brick .* start/);
    expect(first).toMatch(/node1 coordinates the removal of node4, node5, node6/);
    h.node('node1').agent!.kill('SIGKILL');
    // the intent was on every node before anything changed
    for (const n of ALL) expect(JSON.parse(readFileSync(join(h.node(n).dir, 'pc-lib', 'state.json'), 'utf8')).removal?.nodes, n).toEqual(LEAVING);
    await waitFor('node1 agent back', 60_000, async () => Boolean(h.node('node1').agent) && h.node('node1').restarts > 0, 500);
    // run again: it resumes where the record says
    const out = await admin(['node', 'remove', ...LEAVING, '-c', cfgPath, '--write-config', written]);
    if (out.code !== 0) dump(ALL);
    expect(out.code, out.stdout + out.stderr).toBe(0);
    console.log(first, out.stdout);
    expect(out.stdout).toMatch(/resuming the removal of node4, node5, node6 at phase (recorded|bricks)/);
    expect(out.stdout).toMatch(/gv0: completed: \d+ files/);
    expect(out.stdout).toMatch(/Now delete node4, node5, node6 from/);
    const info = await gv0Info('node2');
    expect(info).toMatch(/Number of Bricks: 1 x 3 = 3/);
    expect(info).toMatch(/Brick1: node1:\S+\s+Brick2: node2:\S+\s+Brick3: node3:/);
    expect(info).not.toMatch(/node[456]:/);
    for (const n of SURVIVORS) expect(await poolNames(n), n).toEqual(['localhost', ...SURVIVORS.filter((x) => x !== n)].sort());
    // every file, byte for byte, read through a survivor's mount
    expect(await checksums('node3')).toBe(before);
    // the survivors run exactly the plan the user's cluster.yaml gives without those nodes
    const edited = configWithout(yaml, LEAVING);
    expect(readFileSync(written, 'utf8')).toBe(edited);
    const want = agentPlan(planOf(edited).plan);
    for (const n of SURVIVORS) expect(JSON.parse(readFileSync(join(h.node(n).dir, 'pc-etc', 'cluster.json'), 'utf8')), n).toEqual(want);
    await waitFor('survivors converged on the new plan', 180_000, async () => converged(SURVIVORS)
      && SURVIVORS.every((n) => JSON.stringify(h.snapshot(n)!.planNodes) === JSON.stringify(SURVIVORS)), 2000);
    // their certificates are no longer trusted, nor allowed on the volume
    await waitFor('auth.ssl-allow without them', 120_000, async () => /^auth\.ssl-allow: node1,node2,node3$/m.test(await gv0Info()), 2000);
    for (const n of SURVIVORS) expect((await h.on(n, 'grep', ['-c', 'BEGIN CERTIFICATE', '/etc/ssl/glusterfs.ca'])).stdout.trim(), n).toBe('3');
  }, 960_000);

  it('stays removed: no re-probe, no replica set added back, agents converged', async () => {
    const logSize = Object.fromEntries(SURVIVORS.map((n) => [n, readFileSync(h.node(n).log, 'utf8').length]));
    for (let t = 0; t < 15; t++) {
      await new Promise((r) => setTimeout(r, 2000));
      expect(await gv0Info()).toMatch(/Number of Bricks: 1 x 3 = 3/);
      expect(await poolNames('node1')).toHaveLength(3);
    }
    expect(converged(SURVIVORS)).toBe(true);
    for (const n of SURVIVORS) {
      const fresh = readFileSync(h.node(n).log, 'utf8').slice(logSize[n]);
      expect(fresh, n).not.toMatch(/peer probe|add-brick|adopted the plan of/);
    }
    // the same command once more: nothing left to do, and it says so
    const again = await admin(['node', 'remove', ...LEAVING, '-c', cfgPath]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/node4, node5, node6 were removed already/);
    // the nodes that left know it: they form nothing on their own
    for (const n of LEAVING) expect(h.snapshot(n)?.steps.find((s) => s.name === 'volumes')?.detail, n).toMatch(/being removed/);
    expect(await checksums('node1')).toBe(before);
  }, 120_000);
});
