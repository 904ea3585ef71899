// The HA VM stack on three simulated nodes (namespace harness): the agents form Gluster,
// libvirtd (TLS, cluster CA), corosync (knet, crypto) and Pacemaker with a fence device
// (stonith-enabled=true). Scenarios, in order, on one cluster: a VM created through our CLI
// boots; `node drain` live-migrates it (the same guest boot continues); the node running it
// is killed → fenced → the VM runs on a survivor with its disk state; the dead node returns
// and rejoins, and the VM still runs exactly once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, FENCE_AGENT, HaCluster } from './harness/ha-cluster.js';
import { ensureGuest, parseConsole } from './harness/ha-guest.js';
import { sh, sleep, waitFor } from './harness/sh.js';

const NODES = ['node1', 'node2', 'node3'];
const VM = 'havm';
let c: HaCluster;
let cli: string;

/** Runs the builder CLI on a node, as an operator would there (the agent's files supply the key). */
async function pc(node: string, args: string[], allowFail = false) {
  const r = await c.on(node, process.execPath, [cli, ...args], { allowFail: true, timeoutMs: 360_000 });
  if (r.code !== 0 && !allowFail) throw new Error(`personal-cloud ${args.join(' ')} on ${node} → exit ${r.code}: ${r.stderr.trim()}`);
  return r;
}

/** Runs the agent bundle's CLI on a node: `personal-cloud vm|node …` as a node has it (no builder there). */
async function agentCli(node: string, args: string[], allowFail = false) {
  const r = await c.on(node, process.execPath, [c.h.agentPath, ...args], { allowFail: true, timeoutMs: 360_000 });
  if (r.code !== 0 && !allowFail) throw new Error(`personal-cloud-agent ${args.join(' ')} on ${node} → exit ${r.code}: ${r.stderr.trim()}`);
  return r;
}

async function vmList(node = 'node1'): Promise<{ name: string; role: string; nodes: string[] }[]> {
  return JSON.parse((await pc(node, ['vm', 'list', '--json'])).stdout);
}

async function whereVm(node: string): Promise<string | null> {
  const v = (await vmList(node)).find((x) => x.name === VM);
  return v && v.role === 'Started' && v.nodes.length === 1 ? v.nodes[0] : null;
}

/** Nodes whose libvirtd reports the VM running. */
const runningOn = (nodes = NODES) => c.runningOn(VM, nodes);

const lines = (n: string) => parseConsole(c.serialLog(n, VM));

describe('HA VMs: create, drain (live migration), failover with fencing, rejoin', () => {
  let where = '';
  let bootId = '';

  beforeAll(async () => {
    const guest = await ensureGuest();
    cli = await buildCli();
    c = await HaCluster.create(NODES);
    await c.start();
    await c.waitConverged('all three agents converged (gluster, virt, ha)', 420_000);
    await c.stageGuest(guest);
  }, 600_000);

  // PC_HA_KEEP=1 leaves the cluster running for a look (the next run tears it down first)
  afterAll(async () => { if (process.env.PC_HA_KEEP !== '1') await c?.teardown(); }, 180_000);

  it('formed corosync (knet, crypto) and Pacemaker with fencing on', async () => {
    const conf = (await c.on('node2', 'cat', ['/etc/corosync/corosync.conf'])).stdout;
    expect(conf).toMatch(/transport: knet/);
    expect(conf).toMatch(/crypto_cipher: aes256/);
    expect(conf.match(/ring0_addr: 10\.77\.5\.\d+/g)).toHaveLength(3);
    const keys = await Promise.all(NODES.map(async (n) => (await c.on(n, 'sha256sum', ['/etc/corosync/authkey'])).stdout.split(' ')[0]));
    expect(new Set(keys).size).toBe(1);
    expect((await c.on('node3', 'stat', ['-c', '%a', '/etc/corosync/authkey', '/var/lib/personal-cloud/ha-secrets.json'])).stdout.trim()).toBe('400\n600');
    const q = (await c.on('node3', 'corosync-quorumtool', ['-s'])).stdout;
    expect(q).toMatch(/Quorate:\s+Yes/);
    expect(q).toMatch(/Total votes:\s+3/);
    const props = (await c.on('node1', 'cibadmin', ['-Q', '-o', 'crm_config'])).stdout;
    expect(props).toMatch(/name="stonith-enabled" value="true"/);
    expect((await c.on('node1', 'cibadmin', ['-Q', '-o', 'resources'])).stdout).toContain(`type="${FENCE_AGENT}"`);
    // libvirt: TLS only, client certificates from the cluster CA; no plain TCP
    const lconf = (await c.on('node1', 'cat', ['/etc/libvirt/libvirtd.conf'])).stdout;
    expect(lconf).toMatch(/^listen_tcp = 0$/m);
    expect(lconf).not.toMatch(/auth_tcp/);
    expect((await c.on('node1', 'virsh', ['-c', 'qemu+tls://node2/system', 'hostname'])).stdout.trim()).toMatch(/^node2(\.|$)/);
    // a client without a cluster certificate is refused
    const bare = await c.on('node1', 'sh', ['-c', 'mkdir -p /tmp/nocert && virsh -c "qemu+tls://node3/system?pkipath=/tmp/nocert" hostname'], { allowFail: true });
    expect(bare.code).not.toBe(0);
    expect((await c.on('node1', 'virsh', ['-c', 'qemu:///system', 'pool-list', '--name'])).stdout).toContain('gv0-vm');
    // Open vSwitch bridges of cluster.yaml as autostarted libvirt networks (forward bridge, virtualport openvswitch)
    for (const n of NODES) {
      expect((await c.on(n, 'virsh', ['-c', 'qemu:///system', 'net-list', '--name', '--autostart'])).stdout.split('\n').map((x) => x.trim()).filter(Boolean).sort()).toEqual(['lab2', 'wan1']);
      const xml = (await c.on(n, 'virsh', ['-c', 'qemu:///system', 'net-dumpxml', 'lab2'])).stdout;
      expect(xml).toMatch(/<forward mode=['"]bridge['"]\s*\/>/);
      expect(xml).toMatch(/<virtualport type=['"]openvswitch['"]\s*\/>/);
    }
    expect((await c.on('node2', 'ovs-vsctl', ['br-to-parent', 'lab2'])).stdout.trim()).toBe('wan1');
    expect((await c.on('node2', 'ovs-vsctl', ['br-to-vlan', 'lab2'])).stdout.trim()).toBe('2');
    expect((await c.on('node2', 'ovs-vsctl', ['get', 'bridge', 'wan1', 'datapath_type'])).stdout.trim()).toBe('netdev');
  }, 120_000);

  it('a VM created through the CLI runs and its guest prints on its console', async () => {
    const t = Date.now();
    for (const help of [['vm', '--help'], ['node', '--help']]) expect((await agentCli('node2', help)).stdout).toMatch(/^Usage: personal-cloud (vm|node) /);
    expect((await agentCli('node2', ['vm', 'frobnicate'], true)).code).toBe(2);
    const r = await agentCli('node2', ['vm', 'create', VM, '--memory', '128', '--disk-size', '16M', '--tcg', '--kernel', '/mnt/gv0/vm/boot/vmlinuz', '--initrd', '/mnt/gv0/vm/boot/initrd.gz', '--cmdline', 'console=ttyS0 quiet panic=-1', '--json']);
    const info = JSON.parse(r.stdout);
    expect(info.role).toBe('Started');
    where = info.nodes[0];
    await waitFor('guest boot line', 120_000, async () => lines(where).some((l) => l.kind === 'BOOT'));
    await waitFor('guest ticks', 30_000, async () => lines(where).filter((l) => l.kind === 'TICK').length >= 3);
    bootId = lines(where).find((l) => l.kind === 'BOOT')!.boot;
    console.log(`[ha] vm create → Started on ${where}, guest console after ${((Date.now() - t) / 1000).toFixed(1)} s (boot ${bootId})`);
    expect(await runningOn()).toEqual([where]);
    const files = (await c.on(where, 'ls', ['/mnt/gv0/vm/havm'])).stdout.split('\n').filter(Boolean).sort();
    expect(files).toEqual(['disk.qcow2', 'havm.xml']);
    const prim = (await c.on('node1', 'cibadmin', ['-Q', '-o', 'resources'])).stdout;
    expect(prim).toMatch(/<primitive id="vm-havm" class="ocf" provider="heartbeat" type="VirtualDomain">/);
    expect(prim).toMatch(/name="allow-migrate" value="true"/);
    expect(prim).toMatch(/name="monitor" interval="10s"/);
  }, 240_000);

  it('node drain live-migrates the VM: the same guest boot continues', async () => {
    const from = where;
    const lastBefore = lines(from).filter((l) => l.kind === 'TICK').pop()!;
    const t = Date.now();
    await agentCli('node1', ['node', 'drain', from]);
    const secs = (Date.now() - t) / 1000;
    const to = (await whereVm('node1'))!;
    expect(to).not.toBe(from);
    await waitFor('ticks on the target', 30_000, async () => lines(to).some((l) => l.kind === 'TICK' && l.boot === bootId));
    const after = lines(to);
    expect(after.filter((l) => l.kind === 'BOOT')).toEqual([]); // no reboot: a live migration
    const first = after.find((l) => l.kind === 'TICK')!;
    expect(first.boot).toBe(bootId);
    expect(first.tick!).toBeGreaterThan(lastBefore.tick!);
    const job = (await c.on(to, 'virsh', ['-c', 'qemu:///system', 'domjobinfo', VM, '--completed'], { allowFail: true })).stdout;
    console.log(`[ha] drain ${from}: VM live-migrated to ${to} in ${secs.toFixed(1)} s (tick ${lastBefore.tick} → ${first.tick}); ${job.split('\n').filter((l) => /Time elapsed:|Total downtime:/.test(l)).map((l) => l.replace(/\s+/g, ' ').trim()).join(', ')}`);
    expect(await runningOn()).toEqual([to]);
    await pc('node1', ['node', 'resume', from]);
    expect(await whereVm('node1')).toBe(to); // stickiness: resuming does not pull it back
    where = to;
  }, 240_000);

  it('the node running the VM is killed → fenced → the VM runs on a survivor with its disk state', async () => {
    const victim = where;
    const survivor = NODES.find((n) => n !== victim)!;
    const lastTick = lines(victim).filter((l) => l.kind === 'TICK').pop()!.tick!;
    const offsets = Object.fromEntries(NODES.map((n) => [n, c.serialLog(n, VM).length]));
    // what the other nodes read from the VM's disk on Gluster right now (the guest writes its tick there)
    const onDisk = await c.on(survivor, 'qemu-io', ['-f', 'qcow2', '-r', '-U', '-c', 'read -v 0 48', '/mnt/gv0/vm/havm/disk.qcow2'], { allowFail: true });
    console.log(`[ha] before the kill, ${survivor} reads the VM disk: ${onDisk.stdout.split('\n').slice(0, 3).join(' | ')} ${onDisk.stderr.trim()}`);
    expect(parseConsole(c.serialLog(victim, VM)).filter((l) => l.kind === 'TICK').length).toBeGreaterThan(0);
    expect(c.serialLog(victim, VM)).not.toContain('HAVM-WERR');
    const t = Date.now();
    await c.killNode(victim);
    const newBoot = await waitFor('the guest booting on a survivor', 120_000, async () => {
      for (const n of NODES.filter((x) => x !== victim)) {
        const b = parseConsole(c.serialLog(n, VM).slice(offsets[n])).find((l) => l.kind === 'BOOT');
        if (b) return { node: n, line: b };
      }
      return null;
    }, 250);
    const secs = (Date.now() - t) / 1000;
    const previous = bootId;
    where = newBoot.node;
    bootId = newBoot.line.boot;
    console.log(`[ha] failover: ${victim} killed → guest booted on ${newBoot.node} after ${secs.toFixed(1)} s; ${newBoot.line.raw.trim()}`);
    expect(newBoot.line.prev).toMatch(new RegExp(`^HAVM boot=${previous} tick=\\d+$`));
    const prevTick = Number(/tick=(\d+)/.exec(newBoot.line.prev!)![1]);
    expect(prevTick).toBeGreaterThanOrEqual(lastTick);
    expect(c.fenceLog()).toMatch(new RegExp(`(reboot|off) ${victim} by node\\d`));
    const mon = (await c.on(survivor, 'crm_mon', ['-1', '--fence-history=2'])).stdout;
    expect(mon).toMatch(new RegExp(`(reboot|off) of ${victim} by node\\d.* successful`));
    expect(await runningOn(NODES.filter((n) => n !== victim))).toEqual([newBoot.node]);
    // the survivors keep the dead node's certificate: no glusterd restart, no brick lost under the VM
    for (const n of NODES.filter((x) => x !== victim)) expect((await c.on(n, 'grep', ['-c', 'BEGIN CERTIFICATE', '/etc/ssl/glusterfs.ca'])).stdout.trim()).toBe('3');
    await sleep(3000);
    expect(c.serialLog(newBoot.node, VM).slice(offsets[newBoot.node])).not.toContain('HAVM-WERR');
  }, 180_000);

  it('the dead node returns and rejoins; the VM still runs exactly once', async () => {
    const back = [...c.poweredOff][0];
    expect(back).toBeTruthy();
    await c.reboot(back);
    await waitFor(`${back} online in Pacemaker`, 240_000, async () => {
      const m = (await c.on('node1' === back ? 'node2' : 'node1', 'crm_mon', ['-1'], { allowFail: true })).stdout;
      return /Online: \[ node1 node2 node3 \]/.test(m);
    }, 1000);
    await sleep(5000); // Pacemaker probes the returning node; nothing must start twice
    expect(await runningOn()).toEqual([where]);
    expect(await whereVm(where)).toBe(where);
    // the returned node's own CLI sees the same (its agent answers after the rejoin)
    const listed = (await agentCli(back, ['vm', 'list'])).stdout;
    expect(listed).toMatch(new RegExp(`^${VM}\\s+Started\\s+${where}$`, 'm'));
    expect(c.serialLog(where, VM)).not.toContain('HAVM-WERR');
    // `personal-cloud status` on the node: quorum, Pacemaker, where the VM runs
    const st = (await agentCli(back, ['status'], true)).stdout;
    expect(st).toMatch(/corosync: quorate \(3 of 3 votes; members node1 node2 node3\)/);
    expect(st).toContain(`vm ${VM}: Started on ${where}`);
    expect(st).toMatch(/resource fence-pcharness \(stonith:fence_pcharness\): Started/);
    const ticks = lines(where).filter((l) => l.kind === 'TICK' && l.boot === bootId);
    await sleep(2000);
    expect(lines(where).filter((l) => l.kind === 'TICK' && l.boot === bootId).length).toBeGreaterThan(ticks.length);
  }, 300_000);
});
