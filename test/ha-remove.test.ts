// Retiring HA members (namespace harness with real corosync, Pacemaker, libvirt/QEMU and
// glusterd): arb + node1..node4, gv0 `2 x (2 + 1)` with the arbiter bricks on arb, a VM running on
// node3. `node remove node3 node4` through the agents' authenticated API (the admin CLI's driver):
// the VM is live-migrated away (same guest boot), their replica set leaves gv0 with its files
// moved, Pacemaker is stopped on them, the survivors' corosync.conf loses them (reload, quorum
// kept throughout), Pacemaker forgets them and the fence device's host list shrinks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { agentPlan } from '../core/agent-plan.js';
import { AGENT_PORT } from '../core/paths.js';
import { BASE } from './harness/cluster.js';
import { haTestConfig, HaCluster } from './harness/ha-cluster.js';
import { ensureGuest, parseConsole } from './harness/ha-guest.js';
import { planFor } from './harness/plan.js';
import { sh, waitFor } from './harness/sh.js';

const NAMES = ['arb', 'node1', 'node2', 'node3', 'node4'];
const SURVIVORS = ['arb', 'node1', 'node2'];
const LEAVING = ['node3', 'node4'];
const VM = 'rmvm';
const REPO = new URL('../', import.meta.url).pathname;
let c: HaCluster;
let driver: string;

/** The plan the harness gives these nodes (HaCluster.create's, with its loop-device disks). */
function planOf(names: string[]) {
  const cfg = haTestConfig(names, { arbiter: 'arb' });
  for (const [i, n] of names.entries()) if (n !== 'arb') cfg.nodes[i].disks.gv0 = [{ id: c.h.node(n).disks[0], wipe: false }];
  return planFor(cfg);
}

async function remove(nodes: string[], stopVms = false) {
  const { joinKey } = planOf(NAMES);
  const target = agentPlan(planOf(NAMES.filter((n) => !nodes.includes(n))).plan);
  const order = NAMES.filter((n) => !nodes.includes(n)).map((n) => ({ name: n, address: c.h.node(n).address }));
  const file = join(BASE, `remove-${nodes.join('-')}.json`);
  writeFileSync(file, JSON.stringify({ coordinator: { key: joinKey, order, port: AGENT_PORT }, body: { action: 'start', nodes, target, ...(stopVms ? { stopVms } : {}) } }), { mode: 0o600 });
  // from node1's network namespace (the cluster's LAN), as an admin machine there would
  return sh('nsenter', [`--net=/run/netns/${c.h.node('node1').netns}`, process.execPath, driver, file], { allowFail: true, timeoutMs: 900_000 });
}

async function agentCli(node: string, args: string[]) {
  const r = await c.on(node, process.execPath, [c.h.agentPath, ...args], { allowFail: true, timeoutMs: 360_000 });
  if (r.code !== 0) throw new Error(`personal-cloud-agent ${args.join(' ')} on ${node} → exit ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

const runningOn = (nodes = NAMES) => c.runningOn(VM, nodes);

const lines = (n: string) => parseConsole(c.serialLog(n, VM));
const checksums = async (n: string) => (await c.on(n, 'sh', ['-c', 'cd /mnt/gv0 && sha256sum data-* | sort -k2'])).stdout;

describe('node remove with HA: VMs drained, corosync and Pacemaker membership shrunk', () => {
  let before = '';
  let bootId = '';

  beforeAll(async () => {
    const guest = await ensureGuest();
    c = await HaCluster.create(NAMES, { arbiter: 'arb' });
    driver = join(BASE, 'remove-driver.mjs');
    await build({ entryPoints: [join(REPO, 'test/harness/remove-driver.ts')], outfile: driver, bundle: true, platform: 'node', format: 'esm', target: 'node18', logLevel: 'error',
      banner: { js: 'import { createRequire as __pcCreateRequire } from "node:module"; const require = __pcCreateRequire(import.meta.url);' } });
    await c.start();
    await c.waitConverged('five agents converged (gluster, virt, ha)', 600_000);
    await c.stageGuest(guest);
  }, 900_000);

  afterAll(async () => { if (process.env.PC_HA_KEEP !== '1') await c?.teardown(); }, 180_000);

  it('runs a VM on node3 and stores files', async () => {
    expect((await c.on('node1', 'gluster', ['--mode=script', 'volume', 'info', 'gv0'])).stdout).toMatch(/Number of Bricks: 2 x \(2 \+ 1\) = 6/);
    const info = JSON.parse(await agentCli('node1', ['vm', 'create', VM, '--memory', '128', '--disk-size', '16M', '--tcg', '--kernel', '/mnt/gv0/vm/boot/vmlinuz', '--initrd', '/mnt/gv0/vm/boot/initrd.gz', '--cmdline', 'console=ttyS0 quiet panic=-1', '--json']));
    if (info.nodes[0] !== 'node3') await agentCli('node1', ['vm', 'migrate', VM, 'node3']);
    expect(await runningOn()).toEqual(['node3']);
    await waitFor('guest ticks on node3', 120_000, async () => lines('node3').filter((l) => l.kind === 'TICK').length >= 3);
    bootId = lines('node3').find((l) => l.kind === 'TICK')!.boot;
    await c.on('node1', 'sh', ['-c', 'for i in $(seq 1 30); do head -c $((20000 + i * 977)) /dev/urandom > /mnt/gv0/data-$i; done; sync']);
    before = await checksums('node1');
  }, 480_000);

  it('refuses node3 alone: part of a replica set', async () => {
    const r = await remove(['node3']);
    expect(r.code, r.stdout + r.stderr).toBe(6);
    expect(r.stderr).toMatch(/gv0: replica set node3:\S+ node4:\S+ arb:\S+ would keep 2 of its 3 bricks \(2 copies \+ arbiter\) \(node3 leaving\): name node3 and node4 together/);
  }, 120_000);

  it('removes node3 and node4: VM live-migrated, data kept, corosync and Pacemaker without them', async () => {
    // Gluster does not move a file QEMU holds locked: a running VM's disk on the leaving set needs --stop-vms
    const pathinfo = (await c.on('node1', 'getfattr', ['-n', 'trusted.glusterfs.pathinfo', '--only-values', '--absolute-names', `/mnt/gv0/vm/${VM}/disk.qcow2`])).stdout;
    const diskLeaves = /:node[34]:\/data\//.test(pathinfo);
    console.log(`[ha-remove] the disk of ${VM} lies on the replica set ${diskLeaves ? 'that leaves' : 'that stays'}`);
    if (diskLeaves) {
      const refused = await remove(LEAVING);
      expect(refused.code, refused.stdout + refused.stderr).toBe(6);
      expect(refused.stderr).toMatch(new RegExp(`VM ${VM} runs with its disk /mnt/gv0/vm/${VM}/disk.qcow2 on the replica set leaving \\(node3:\\S+ node4:\\S+ arb:\\S+\\): .*add --stop-vms`));
      expect(await runningOn()).toEqual(['node3']);
    }
    const r = await remove(LEAVING, true);
    console.log(r.stdout, r.stderr);
    if (r.code !== 0) for (const n of NAMES) console.error(`---- ${n}\n${c.h.logTail(n, 60)}`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/draining node3/);
    // the VM: live-migrated off node3 (the same guest boot ticks on a survivor), then on a survivor
    await waitFor('the same boot on a survivor', 60_000, async () => SURVIVORS.some((n) => lines(n).some((l) => l.kind === 'TICK' && l.boot === bootId)));
    const where = await runningOn();
    expect(where).toHaveLength(1);
    expect(SURVIVORS).toContain(where[0]);
    if (diskLeaves) {
      // stopped while its disk moved, started again: the new boot reads what the old one wrote
      expect(r.stdout).toMatch(new RegExp(`stopping VM ${VM}: its disk moves`));
      expect(r.stdout).toMatch(new RegExp(`VM ${VM} started again on ${where[0]}`));
      await waitFor('the new boot', 120_000, async () => lines(where[0]).some((l) => l.kind === 'BOOT' && l.boot !== bootId));
      const boot = lines(where[0]).find((l) => l.kind === 'BOOT' && l.boot !== bootId)!;
      expect(boot.prev).toMatch(new RegExp(`^HAVM boot=${bootId} tick=\\d+`));
    } else {
      expect(lines(where[0]).filter((l) => l.kind === 'BOOT')).toEqual([]);
    }
    // storage: one replica set left, every file intact
    expect((await c.on('node2', 'gluster', ['--mode=script', 'volume', 'info', 'gv0'])).stdout).toMatch(/Number of Bricks: 1 x \(2 \+ 1\) = 3/);
    expect(await checksums('node2')).toBe(before);
    // corosync: the survivors alone, quorate, with nothing restarted
    let q = '';
    try {
      await waitFor('corosync membership of the survivors', 120_000, async () => {
        q = (await c.on('node1', 'corosync-quorumtool', ['-s'], { allowFail: true })).stdout;
        return /Quorate:\s+Yes/.test(q) && /Total votes:\s+3/.test(q) && /Expected votes:\s+3/.test(q);
      }, 2000);
    } catch (e) { console.error(q); throw e; }
    for (const n of SURVIVORS) expect((await c.on(n, 'cat', ['/etc/corosync/corosync.conf'])).stdout.match(/ring0_addr:/g), n).toHaveLength(3);
    // Pacemaker: forgot them; the fence device covers the survivors only
    const nodesXml = (await c.on('node1', 'cibadmin', ['-Q', '-o', 'nodes'])).stdout;
    expect(nodesXml).not.toMatch(/uname="node[34]"/);
    expect((await c.on('node1', 'cibadmin', ['-Q', '-o', 'resources'])).stdout).toMatch(/name="pcmk_host_list" value="arb node1 node2"/);
    // (harness nodes share one PID space: look at the node's network namespace)
    // no constraint still names them (the fence device's, `vm migrate`'s preference)
    expect((await c.on('node1', 'cibadmin', ['-Q', '-o', 'constraints'])).stdout).not.toMatch(/node="node[34]"/);
    for (const n of LEAVING) {
      const comms = (await sh('sh', ['-c', `for p in $(ip netns pids ${c.h.node(n).netns}); do cat /proc/$p/comm 2>/dev/null; done`])).stdout.split('\n');
      expect(comms.filter((x) => x === 'corosync' || x === 'pacemakerd'), n).toEqual([]);
    }
    // the survivors run exactly the plan the config without them gives
    const want = agentPlan(planOf(SURVIVORS).plan);
    for (const n of SURVIVORS) expect(JSON.parse(readFileSync(join(c.h.node(n).dir, 'pc-etc', 'cluster.json'), 'utf8')), n).toEqual(want);
    await waitFor('survivors converged', 180_000, async () => SURVIVORS.every((n) => c.h.snapshot(n)?.converged), 2000);
  }, 900_000);
});
