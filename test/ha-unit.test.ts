// The HA stack's pure parts: corosync.conf, Pacemaker CIB fragments, libvirt configuration,
// domain/network XML, sealing secrets for the channel, and parsing crm_mon / quorumtool output.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateConfigText } from '../src/config/validate.js';
import { plan } from '../src/plan/plan.js';
import type { Plan } from '../core/plan-types.js';
import { clusterProperties, fenceDevices, vmPrimitiveXml } from '../firstboot/ha/cib.js';
import { confMembers, corosyncConf, lossDetectionMs } from '../firstboot/ha/corosync-conf.js';
import { parseCrmMon, whereRuns } from '../firstboot/ha/pcmk.js';
import { parseQuorumtool } from '../firstboot/ha/api.js';
import { formatHa } from '../core/ha-format.js';
import { seal, unseal } from '../core/seal.js';
import { domainXml, libvirtdConf, networkXml, ovsCommands, qemuConf } from '../firstboot/virt/libvirt-conf.js';
import { vmList } from '../firstboot/virt/vm.js';
import { parseVmSize } from '../firstboot/virt/vm-size.js';
import { cliWrapper, formatVms, nodeRequest, vmRequest } from '../core/vm-cli.js';
import { UserError } from '../core/errors.js';
import { longestGap } from './harness/gv0-writer.js';
import { bmcFiles } from '../firstboot/ha/bmc.js';
import { sbdDefaults } from '../firstboot/steps/ha.js';
import { deriveJoinKey } from '../src/plan/keys.js';
import { clusterNodes, pacemakerLeader, parseQdeviceTool, parseQnetdTool, pemBody, qnetdNode } from '../firstboot/ha/quorum-device.js';
import { expectedSubject, serveQnetdCa, serveQnetdSign } from '../firstboot/ha/qnetd.js';
import { haPackages } from '../src/plan/ha.js';
import { agentFiles } from '../src/render/agent-files.js';

const ROOT = join(import.meta.dirname, '..');
const FIX = join(ROOT, 'test/fixtures');

function planOf(file: string, edit: (t: string) => string = (t) => t): Plan {
  const r = validateConfigText(edit(readFileSync(join(FIX, 'config', file), 'utf8')), file);
  expect(r.errors).toEqual([]);
  return plan(r.config!);
}

describe('corosync.conf', () => {
  it('knet with crypto, nodeids from the plan, one link, votequorum', () => {
    const p = planOf('valid/three-nodes.yaml');
    const c = corosyncConf(p, ['node1', 'node2', 'node3']);
    expect(c).toMatch(/transport: knet\n\s+crypto_cipher: aes256\n\s+crypto_hash: sha256/);
    expect(c).toContain('cluster_name: homelab');
    expect(c.match(/linknumber/g)).toHaveLength(1);
    expect(c).toMatch(/name: node2\n\s+nodeid: 2\n\s+ring0_addr: 192\.168\.50\.12\n/);
    expect(c).not.toMatch(/ring1_addr|device/);
    expect(confMembers(c)).toEqual(['node1', 'node2', 'node3']);
    // scale-out: members not admitted yet are left out, nodeids stay
    expect(corosyncConf(p, ['node1', 'node3'])).toMatch(/name: node3\n\s+nodeid: 3/);
  });

  it('notices a lost node within ~3 s at 3 nodes and ~6 s at 9 (token 1000, coefficient 250)', () => {
    const c = corosyncConf(planOf('valid/three-nodes.yaml'), ['node1', 'node2', 'node3']);
    expect(c).toMatch(/^ {2}token: 1000\n {2}token_coefficient: 250\n/m);
    expect(c).not.toMatch(/consensus:/); // corosync's 1.2 × token
    expect(lossDetectionMs(3)).toBe(2750);
    expect(lossDetectionMs(9)).toBe(6050);
  });

  it('a second ring when every node has ring1_address; a quorum device when configured', () => {
    const p = planOf('valid/ha-ipmi-bridges.yaml');
    const c = corosyncConf(p, ['node1', 'node2', 'node3']);
    expect(c.match(/linknumber: \d/g)).toEqual(['linknumber: 0', 'linknumber: 1']);
    expect(c).toMatch(/ring0_addr: 192\.168\.50\.13\n\s+ring1_addr: 10\.9\.0\.13/);
    p.ha!.qdevice = { host: 'qnetd.lab', algorithm: 'ffsplit' };
    expect(corosyncConf(p, ['node1', 'node2', 'node3'])).toMatch(/device \{\n\s+model: net\n\s+votes: 1\n\s+net \{\n\s+host: qnetd\.lab\n\s+algorithm: ffsplit\n\s+tls: on/);
  });
});

describe('the write-stall measure of bench-ha and the failover test', () => {
  it('is the longest gap between completed writes within the window', () => {
    expect(longestGap([0, 50, 100, 3400, 3450], 60, 5000)).toEqual({ ms: 3300, at: 100, writes: 3 });
    // a gap open at the window's start counts from its last write, one open at its end up to the end
    expect(longestGap([0, 50, 4000], 1000, 4100)).toEqual({ ms: 3950, at: 50, writes: 1 });
    expect(longestGap([0, 50, 100], 60, 9000)).toEqual({ ms: 8900, at: 100, writes: 1 });
    expect(longestGap([], 0, 2000)).toEqual({ ms: 2000, at: 0, writes: 0 });
  });
});

describe('Pacemaker configuration', () => {
  it('fencing on (sbd: watchdog timeout), no-quorum-policy stop', () => {
    const p = planOf('valid/three-nodes.yaml');
    expect(clusterProperties(p)).toMatchObject({ 'stonith-enabled': 'true', 'no-quorum-policy': 'stop', 'stonith-watchdog-timeout': '10s' });
    expect(fenceDevices(p)).toEqual([]);
  });

  it('ipmi: one fence_ipmilan per node, never run by the node it fences', () => {
    const p = planOf('valid/ha-ipmi-bridges.yaml');
    const d = fenceDevices(p);
    expect(d.map((x) => x.id)).toEqual(['fence-ipmi-node1', 'fence-ipmi-node2', 'fence-ipmi-node3']);
    expect(d[1].xml).toMatch(/type="fence_ipmilan"/);
    expect(d[1].xml).toMatch(/name="ip" value="192\.168\.60\.12"/);
    expect(d[1].xml).toMatch(/name="pcmk_host_list" value="node2"/);
    expect(d[1].constraints[0]).toBe('<rsc_location id="fence-ipmi-node2-not-self" rsc="fence-ipmi-node2" node="node2" score="-INFINITY"/>');
  });

  it('ipmi: BMC passwords only sealed in the image, opened on the node into 0600 files behind a password_script', () => {
    const text = readFileSync(join(FIX, 'config/valid/ha-ipmi-bridges.yaml'), 'utf8');
    const r = validateConfigText(text, 'ha-ipmi-bridges.yaml');
    const p = plan(r.config!);
    const key = deriveJoinKey(r.config!.secret, r.config!.name);
    const image = agentFiles(p, 'node1', key).map((f) => String(f.content)).join('\n');
    expect(image).not.toContain('bmc-pw-node');
    expect(JSON.stringify(plan(validateConfigText(text, 'again.yaml').config!))).toBe(JSON.stringify(p)); // reproducible
    const xml = fenceDevices(p).map((d) => d.xml).join('');
    expect(xml).toContain('name="password_script" value="/etc/personal-cloud/bmc/node2.password-script"');
    expect(xml).not.toMatch(/bmc-pw|name="passw(or)?d"/);
    const files = bmcFiles(p, key);
    expect(files.map((f) => [f.path, f.mode.toString(8)])).toEqual([
      ['/etc/personal-cloud/bmc/node1.password', '600'], ['/etc/personal-cloud/bmc/node1.password-script', '700'],
      ['/etc/personal-cloud/bmc/node2.password', '600'], ['/etc/personal-cloud/bmc/node2.password-script', '700'],
      ['/etc/personal-cloud/bmc/node3.password', '600'], ['/etc/personal-cloud/bmc/node3.password-script', '700'],
    ]);
    expect(files[2].content).toBe('bmc-pw-node2');
    expect(files[3].content).toMatch(/^#!\/bin\/sh\n.*\nexec cat \/etc\/personal-cloud\/bmc\/node2\.password\n$/);
    expect(() => bmcFiles(p, 'b'.repeat(64))).toThrow();
    expect(bmcFiles(planOf('valid/three-nodes.yaml'), key)).toEqual([]);
  });

  it('sbd: diskless, on the configured watchdog; Pacemaker waits twice its timeout', () => {
    const p = planOf('valid/three-nodes.yaml');
    expect(p.ha!.fencing).toEqual({ kind: 'sbd', watchdog: '/dev/watchdog', watchdogTimeoutS: 5 });
    const d = sbdDefaults(p.ha!.fencing as { watchdog: string; watchdogTimeoutS: number });
    expect(d).toMatch(/^SBD_WATCHDOG_DEV=\/dev\/watchdog$/m);
    expect(d).toMatch(/^SBD_WATCHDOG_TIMEOUT=5$/m);
    expect(d).toMatch(/^SBD_PACEMAKER=yes$/m);
    expect(d).not.toMatch(/SBD_DEVICE/); // diskless
    expect(clusterProperties(p)['stonith-watchdog-timeout']).toBe('10s');
  });

  it('the explicit opt-out is the only way to stonith-enabled=false, and validate warns loudly', () => {
    const text = readFileSync(join(FIX, 'config/valid/three-nodes.yaml'), 'utf8') + 'ha: { fencing: none-i-accept-vm-disk-corruption }\n';
    const r = validateConfigText(text, 'x.yaml');
    expect(r.errors).toEqual([]);
    expect(r.warnings.map((w) => w.message).join('\n')).toMatch(/NO FENCING: .*corrupted/);
    expect(clusterProperties(plan(r.config!))['stonith-enabled']).toBe('false');
    const typo = validateConfigText(readFileSync(join(FIX, 'config/valid/three-nodes.yaml'), 'utf8') + 'ha: { fencing: none }\n', 'y.yaml');
    expect(typo.errors.map((e) => e.message).join()).toMatch(/sbd, ipmi, none-i-accept-vm-disk-corruption/);
  });

  it('a VM is a VirtualDomain primitive with allow-migrate, monitoring and TLS migration', () => {
    const x = vmPrimitiveXml('web', { configPath: '/mnt/gv0/vm/web/web.xml' });
    expect(x).toMatch(/^<primitive id="vm-web" class="ocf" provider="heartbeat" type="VirtualDomain">/);
    expect(x).toContain('name="config" value="/mnt/gv0/vm/web/web.xml"');
    expect(x).toContain('name="migration_transport" value="tls"');
    expect(x).toContain('name="allow-migrate" value="true"');
    expect(x).toMatch(/name="monitor" interval="10s" timeout="90s"/);
    expect(x).toMatch(/name="migrate_to" interval="0s" timeout="180s"/);
    // a large VM (long live migration) gets its own bound for start, stop and migration
    const big = vmPrimitiveXml('db', { configPath: '/mnt/gv0/vm/db/db.xml', opTimeoutS: 900 });
    for (const op of ['start', 'stop', 'migrate_to', 'migrate_from']) expect(big).toMatch(new RegExp(`name="${op}" interval="0s" timeout="900s"`));
    expect(big).toMatch(/name="monitor" interval="10s" timeout="90s"/);
  });
});

describe('libvirt', () => {
  it('a VM\'s memory and vCPUs from its definition: ours (MiB), libvirt\'s default unit (KiB), others; unreadable → none', () => {
    const ours = domainXml({ name: 'web', memoryMiB: 2048, vcpus: 2, disk: '/mnt/gv0/vm/web/disk.qcow2', networks: [], serialLog: '/x', domainType: 'kvm' });
    expect(parseVmSize(ours)).toEqual({ memoryMiB: 2048, vcpus: 2 });
    expect(parseVmSize("<domain><memory>1048576</memory><vcpu placement='static'>4</vcpu></domain>")).toEqual({ memoryMiB: 1024, vcpus: 4 });
    expect(parseVmSize("<domain><memory unit='GiB'>8</memory><vcpu>1</vcpu></domain>")).toEqual({ memoryMiB: 8192, vcpus: 1 });
    expect(parseVmSize("<domain><memory unit='furlongs'>8</memory><vcpu>1</vcpu></domain>")).toBeNull();
    expect(parseVmSize('')).toBeNull();
  });

  it('TLS only, certificate-checked; QEMU migration over TLS', () => {
    const l = libvirtdConf({ allowedNodes: ['node1', 'node2'] });
    expect(l).toMatch(/^listen_tls = 1$/m);
    expect(l).toMatch(/^listen_tcp = 0$/m);
    expect(l).not.toMatch(/auth_tcp/);
    expect(l).toContain('tls_allowed_dn_list = ["CN=node1", "CN=node2"]');
    const q = qemuConf({ allowedNodes: [] });
    expect(q).toMatch(/^migrate_tls_force = 1$/m);
    expect(q).not.toMatch(/user = "root"/);
  });

  it('bridges: libvirt networks on Open vSwitch; VLAN fake bridges', () => {
    const p = planOf('valid/ha-ipmi-bridges.yaml');
    expect(networkXml(p.ha!.bridges[0])).toBe("<network><name>br0</name><forward mode='bridge'/><bridge name='br0'/><virtualport type='openvswitch'/></network>\n");
    expect(ovsCommands(p.ha!.bridges)).toEqual([
      ['--may-exist', 'add-br', 'br0'], ['--may-exist', 'add-port', 'br0', 'eno1'],
      ['--may-exist', 'add-br', 'wan0'], ['--may-exist', 'add-port', 'wan0', 'enp2s0'],
      ['--may-exist', 'add-br', 'wan1'],
      ['--may-exist', 'add-br', 'lab2', 'br0', '2'],
    ]);
  });

  it('domain XML: qcow2 on the Gluster FUSE path, cache=none, serial console to a file', () => {
    const x = domainXml({ name: 'web', memoryMiB: 2048, vcpus: 2, disk: '/mnt/gv0/vm/web/disk.qcow2', networks: ['br0'], serialLog: '/var/log/libvirt/qemu/web-serial.log', domainType: 'kvm', cdrom: '/mnt/gv1/iso/d.iso' });
    expect(x).toContain("<driver name='qemu' type='qcow2' cache='none'/><source file='/mnt/gv0/vm/web/disk.qcow2'/>");
    expect(x).not.toMatch(/gluster:|protocol='gluster'/);
    expect(x).toContain("<interface type='network'><source network='br0'/>");
    expect(x).toContain("<domain type='kvm'>");
    // the guest agent's channel (libvirt picks the socket): backups freeze a guest that answers on it
    expect(x).toContain("<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>");
  });
});

describe('secrets over the channel', () => {
  const key = 'a'.repeat(64);
  it('sealed with the join key: opens with it, not with another key, not when tampered', () => {
    const s = seal(key, 'ha-secrets', 'corosync authkey bytes');
    expect(s.data).not.toContain('corosync');
    expect(unseal(key, 'ha-secrets', s).toString()).toBe('corosync authkey bytes');
    expect(() => unseal('b'.repeat(64), 'ha-secrets', s)).toThrow();
    expect(() => unseal(key, 'other-purpose', s)).toThrow();
    expect(() => unseal(key, 'ha-secrets', { ...s, data: Buffer.from('x').toString('base64') })).toThrow();
  });
});

describe('cluster state parsing (output captured from the namespace harness)', () => {
  it('crm_mon XML: DC, quorum, nodes, where each VM runs, fencing history', () => {
    const s = parseCrmMon(readFileSync(join(FIX, 'ha/crm_mon.xml'), 'utf8'));
    expect(s.dc).toMatch(/^node\d$/);
    expect(s.quorate).toBe(true);
    expect(s.nodes.map((n) => n.name)).toEqual(['node1', 'node2', 'node3']);
    const vms = vmList(s);
    expect(vms.map((v) => v.name)).toEqual(['havm']);
    expect(whereRuns(s, 'vm-havm')).toHaveLength(1);
  });

  it('corosync-quorumtool -s', () => {
    const q = parseQuorumtool(readFileSync(join(FIX, 'ha/quorumtool.txt'), 'utf8'));
    expect(q).toMatchObject({ running: true, quorate: true, expectedVotes: 3, totalVotes: 3 });
    expect(q.members).toEqual(['node1', 'node2', 'node3']);
  });

  it('status text: quorum, Pacemaker nodes and resources, where each VM runs', () => {
    const s = parseCrmMon(readFileSync(join(FIX, 'ha/crm_mon.xml'), 'utf8'));
    const text = formatHa({ node: 'node1', enabled: true, corosync: parseQuorumtool(readFileSync(join(FIX, 'ha/quorumtool.txt'), 'utf8')), pacemaker: { ok: true, ...s }, vms: vmList(s) });
    expect(text).toMatch(/corosync: quorate \(3 of 3 votes; members node1 node2 node3\)/);
    expect(text).toMatch(/pacemaker: DC node3; online node1 \(standby\) node2 node3\n/);
    expect(text).toMatch(/vm havm: Started on node\d/);
    expect(formatHa({ node: 'node1', enabled: true, corosync: { running: false, error: 'Cannot initialize CMAP service' }, pacemaker: { ok: false, error: 'crm_mon: not connected' }, vms: [] }))
      .toBe('  HA (seen from node1):\n    corosync: not running (Cannot initialize CMAP service)\n    pacemaker: crm_mon: not connected\n');
  });
});

describe('vm / node command lines (shared by the builder and the agent on a node)', () => {
  const p = () => planOf('valid/three-nodes.yaml');
  const usage = (f: () => unknown) => { try { f(); } catch (e) { expect(e).toBeInstanceOf(UserError); return (e as UserError); } throw new Error('no error'); };

  it('requests from arguments', () => {
    expect(vmRequest('pc', ['create', 'web'], { memory: '512', 'disk-size': '20G', tcg: true, kernel: '/mnt/gv0/k', initrd: '/mnt/gv0/i' })).toEqual({
      action: 'create', vm: { name: 'web', memoryMiB: 512, diskSize: '20G', kernel: '/mnt/gv0/k', initrd: '/mnt/gv0/i', networks: [], domainType: 'qemu' },
    });
    expect(vmRequest('pc', ['create', 'db'], { 'op-timeout': '900' })).toEqual({ action: 'create', vm: { name: 'db', networks: [], domainType: 'kvm', opTimeoutS: 900 } });
    expect(usage(() => vmRequest('pc', ['create', 'db'], { 'op-timeout': '15m' })).message).toContain('--op-timeout must be a positive whole number');
    expect(vmRequest('pc', ['list'], {})).toEqual({ action: 'list' });
    expect(vmRequest('pc', ['migrate', 'web', 'node2'], {})).toEqual({ action: 'migrate', name: 'web', node: 'node2' });
    expect(vmRequest('pc', ['remove', 'web'], { 'delete-disk': true })).toEqual({ action: 'remove', name: 'web', deleteDisk: true });
    expect(nodeRequest('pc', ['drain', 'node2'], p())).toEqual({ action: 'drain', node: 'node2' });
  });

  it('usage errors (exit 2) say what is wrong', () => {
    expect(usage(() => vmRequest('pc', ['frob'], {})).message).toMatch(/unknown action "frob".*\n.*pc vm --help/);
    expect(usage(() => vmRequest('pc', ['create', 'web'], { memory: '-1' })).message).toMatch(/--memory must be a positive whole number, got "-1"/);
    expect(usage(() => vmRequest('pc', ['create', 'web'], { 'disk-size': '10 GB' })).message).toMatch(/--disk-size must look like 20G/);
    expect(usage(() => vmRequest('pc', ['create', 'web'], { initrd: '/mnt/gv0/i' })).message).toMatch(/--initrd and --cmdline need --kernel/);
    expect(usage(() => vmRequest('pc', ['migrate', 'web'], {})).message).toMatch(/usage: pc vm migrate NAME NODE/);
    expect(usage(() => nodeRequest('pc', ['drain', 'node9'], p())).message).toMatch(/no node named 'node9' \(nodes: node1, node2, node3\)/);
    expect(usage(() => nodeRequest('pc', ['evict', 'node1'])).exitCode).toBe(2);
  });

  it('vm list output; the node-side wrapper runs the installed agent bundle', () => {
    expect(formatVms([])).toBe('no VMs\n');
    expect(formatVms([{ name: 'web', resource: 'vm-web', role: 'Started', nodes: ['node2'], failed: false }])).toMatch(/^web\s+Started\s+node2\n$/);
    expect(cliWrapper('/usr/lib/personal-cloud/personal-cloud-agent.mjs')).toMatch(/^#!\/bin\/sh\n[^\n]*\nexec \/usr\/bin\/node \/usr\/lib\/personal-cloud\/personal-cloud-agent\.mjs "\$@"\n$/);
  });
});

describe('quorum device on a node of the plan (ha.qdevice names the arbiter)', () => {
  const duo = () => planOf('valid/two-plus-qdevice.yaml');

  it('that node runs corosync-qnetd and is no corosync member; the members point their device at its address', () => {
    const p = duo();
    expect(qnetdNode(p)).toBe('witness');
    expect(clusterNodes(p).map((n) => n.name)).toEqual(['alpha', 'beta']);
    expect(p.ha!.qdevice).toEqual({ host: '10.1.0.23', algorithm: 'ffsplit', node: 'witness' });
    const c = corosyncConf(p, clusterNodes(p).map((n) => n.name));
    expect(confMembers(c)).toEqual(['alpha', 'beta']);
    expect(c).toMatch(/quorum \{\n\s+provider: corosync_votequorum\n\s+device \{\n\s+model: net\n\s+votes: 1\n\s+net \{\n\s+host: 10\.1\.0\.23\n\s+algorithm: ffsplit\n\s+tls: on\n\s+\}\n\s+\}\n\}/);
    expect(c).not.toMatch(/two_node/);
    // without ha.qdevice, or with HA off, nobody runs qnetd and every node is a member
    const three = planOf('valid/two-plus-arbiter.yaml');
    expect(qnetdNode(three)).toBeUndefined();
    expect(clusterNodes(three).map((n) => n.name)).toEqual(['alpha', 'beta', 'witness']);
    const off = duo(); off.ha!.enabled = false;
    expect(qnetdNode(off)).toBeUndefined();
    // a qnetd host outside the plan: every node a member, the device at that host
    const outside = planOf('valid/qdevice-outside-host.yaml');
    expect(outside.ha!.qdevice).toEqual({ host: 'qnetd.dc.example.net', algorithm: 'ffsplit' });
    expect(clusterNodes(outside)).toHaveLength(6);
  });

  it('a DHCP node as the quorum device is reached by its FQDN (/etc/hosts)', () => {
    const p = planOf('valid/two-plus-qdevice.yaml', (t) => t.replace('    address: 10.1.0.23\n', '    address: dhcp\n'));
    expect(p.ha!.qdevice).toEqual({ host: 'witness.home.arpa', algorithm: 'ffsplit', node: 'witness' });
  });

  it('packages: corosync-qdevice everywhere, corosync-qnetd when a node of the plan runs it', () => {
    const r = validateConfigText(readFileSync(join(FIX, 'config/valid/two-plus-qdevice.yaml'), 'utf8'), 'x');
    expect(haPackages(r.config!)).toEqual(['corosync-qdevice', 'corosync-qnetd']);
    const o = validateConfigText(readFileSync(join(FIX, 'config/valid/qdevice-outside-host.yaml'), 'utf8'), 'x');
    expect(haPackages(o.config!)).toEqual(['sbd', 'corosync-qdevice']);
  });

  it('fencing and Pacemaker only for the members', () => {
    const p = duo();
    expect(fenceDevices(p).map((d) => d.id)).toEqual(['fence-ipmi-alpha', 'fence-ipmi-beta']);
    p.ha!.fencing = { kind: 'agent', agent: 'fence_pcharness', params: {} };
    expect(fenceDevices(p)[0].xml).toMatch(/name="pcmk_host_list" value="alpha beta"/);
    // the agents' leader configures Pacemaker unless it is the quorum device node
    expect(pacemakerLeader(p, 'alpha', 'beta', ['alpha', 'witness'])).toBe('alpha');
    expect(pacemakerLeader(p, 'witness', 'beta', ['alpha', 'witness'])).toBe('alpha');
    expect(pacemakerLeader(p, 'witness', 'beta', ['witness'])).toBe('beta');
    expect(pacemakerLeader(p, null, 'witness', [])).toBeNull();
  });

  it('the qnetd channel operations serve only on the qnetd node and only to members (before touching anything)', async () => {
    const p = duo();
    await expect(serveQnetdCa(p, 'alpha', 'beta')).rejects.toThrow(/alpha runs no quorum device \(ha\.qdevice names witness\)/);
    await expect(serveQnetdCa(p, 'witness', 'witness')).rejects.toThrow(/witness is no cluster member/);
    await expect(serveQnetdCa(p, 'witness', 'gamma')).rejects.toThrow(/gamma is no cluster member/);
    await expect(serveQnetdSign(p, 'witness', 'alpha', { csr: 'not base64!' })).rejects.toThrow(/expected \{ csr: base64 \}/);
    await expect(serveQnetdSign(p, 'witness', 'alpha', null)).rejects.toThrow(/expected \{ csr: base64 \}/);
    // qnetd checks the client certificate's CN against cluster_name: only such requests are signed
    expect(expectedSubject(p).test('subject=CN = duo-q\n')).toBe(true);
    expect(expectedSubject(p).test('subject=CN = duo-qx\n')).toBe(false);
    expect(expectedSubject(p).test('subject=CN = evil, CN = duo-q\n')).toBe(false);
  });

  it('parses quorumtool (device vote), qdevice-tool (connection) and qnetd-tool (members and votes), as captured in the harness; status text', () => {
    const q = parseQuorumtool(readFileSync(join(FIX, 'ha/quorumtool-qdevice.txt'), 'utf8'));
    expect(q).toMatchObject({ running: true, quorate: true, expectedVotes: 3, totalVotes: 3, qdevice: { votes: 1 } });
    expect(q.members).toEqual(['node1', 'node2']);
    const d = parseQdeviceTool(readFileSync(join(FIX, 'ha/qdevice-tool.txt'), 'utf8'));
    expect(d).toEqual({ state: 'Connected', host: '10.77.5.13:5403', algorithm: 'Fifty-Fifty split' });
    const clients = parseQnetdTool(readFileSync(join(FIX, 'ha/qnetd-tool.txt'), 'utf8'));
    expect(clients).toEqual([
      { cluster: 'testcloud', nodeId: 1, address: '10.77.5.11', vote: 'ACK' }, // "No change (ACK)": the vote in force
      { cluster: 'testcloud', nodeId: 2, address: '10.77.5.12', vote: 'ACK' },
    ]);
    const member = formatHa({ node: 'node2', enabled: true, corosync: { ...q, qdevice: { votes: 1, state: d.state, host: d.host } }, pacemaker: { ok: false, error: 'x' }, vms: [] });
    expect(member).toMatch(/corosync: quorate \(3 of 3 votes; members node1 node2; quorum device 1 vote, Connected to 10\.77\.5\.13:5403\)/);
    const qnetd = formatHa({ node: 'node3', enabled: true, corosync: { running: false }, qnetd: { running: true, clients }, pacemaker: { ok: false, error: 'no cluster member' }, vms: [] });
    expect(qnetd).toBe('  HA (seen from node3):\n    quorum device (corosync-qnetd): running; testcloud node 1 (10.77.5.11) vote ACK; testcloud node 2 (10.77.5.12) vote ACK\n');
    // the CA as corosync-qnetd-certutil exports it (pretty-print, then PEM) compares by its PEM body
    expect(pemBody('Certificate:\n  Data: ...\n-----BEGIN CERTIFICATE-----\nAAA\nBBB\n-----END CERTIFICATE-----\n')).toBe('AAABBB');
    expect(pemBody('no certificate')).toBeNull();
  });
});
