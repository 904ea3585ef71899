// The HA stack's pure parts: corosync.conf, Pacemaker CIB fragments, libvirt configuration,
// domain/network XML, sealing secrets for the channel, and parsing crm_mon / quorumtool output.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateConfigText } from '../src/config/validate.js';
import { plan } from '../src/plan/plan.js';
import type { Plan } from '../src/plan/types.js';
import { clusterProperties, fenceDevices, vmPrimitiveXml } from '../firstboot/ha/cib.js';
import { confMembers, corosyncConf } from '../firstboot/ha/corosync-conf.js';
import { parseCrmMon, whereRuns } from '../firstboot/ha/pcmk.js';
import { parseQuorumtool } from '../firstboot/ha/api.js';
import { seal, unseal } from '../firstboot/ha/seal.js';
import { domainXml, libvirtdConf, networkXml, ovsCommands, qemuConf } from '../firstboot/virt/libvirt-conf.js';
import { vmList } from '../firstboot/virt/vm.js';

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

  it('a second ring when every node has ring1_address; a quorum device when configured', () => {
    const p = planOf('valid/ha-ipmi-bridges.yaml');
    const c = corosyncConf(p, ['node1', 'node2', 'node3']);
    expect(c.match(/linknumber: \d/g)).toEqual(['linknumber: 0', 'linknumber: 1']);
    expect(c).toMatch(/ring0_addr: 192\.168\.50\.13\n\s+ring1_addr: 10\.9\.0\.13/);
    p.ha!.qdevice = { host: 'qnetd.lab', algorithm: 'ffsplit' };
    expect(corosyncConf(p, ['node1', 'node2', 'node3'])).toMatch(/device \{\n\s+model: net\n\s+votes: 1\n\s+net \{\n\s+host: qnetd\.lab\n\s+algorithm: ffsplit\n\s+tls: on/);
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
    expect(x).toMatch(/name="monitor" interval="10s" timeout="30s"/);
  });
});

describe('libvirt', () => {
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
});
