// libvirt configuration as the how-to does it, plus what HA needs: libvirtd listens for TLS
// only (client certificates from the cluster CA, no TCP without auth), QEMU migrates over TLS,
// storage pools per volume folder, one libvirt network per Open vSwitch bridge.
import type { BridgeConfig } from '../../core/config-types.js';
import { esc } from '../ha/cib.js';

export const LIBVIRTD_CONF = '/etc/libvirt/libvirtd.conf';
export const QEMU_CONF = '/etc/libvirt/qemu.conf';

export interface LibvirtOptions {
  /** Names/addresses whose client certificates may connect (DN check on top of the CA). */
  allowedNodes: string[];
  /** Test harness only: QEMU runs as root without cgroups/namespaces (no systemd there). */
  sandbox?: boolean;
}

export function libvirtdConf(o: LibvirtOptions): string {
  return [
    '# Written by personal-cloud-agent: edits are overwritten.',
    'listen_tls = 1',
    'listen_tcp = 0',
    'auth_tls = "none"          # the client certificate (cluster CA) is the authentication',
    'tls_no_verify_certificate = 0',
    `tls_allowed_dn_list = [${o.allowedNodes.map((n) => `"CN=${n}"`).join(', ')}]`,
    'unix_sock_group = "libvirt"',
    'unix_sock_rw_perms = "0770"',
    'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"',
    '',
  ].join('\n');
}

export function qemuConf(o: LibvirtOptions): string {
  return [
    '# Written by personal-cloud-agent: edits are overwritten.',
    'security_driver = "none"',
    'default_tls_x509_cert_dir = "/etc/pki/qemu"',
    'default_tls_x509_verify = 1',
    'migrate_tls_force = 1',
    ...(o.sandbox ? ['user = "root"', 'group = "root"', 'dynamic_ownership = 0', 'remember_owner = 0', 'stdio_handler = "file"', 'namespaces = [ ]', 'cgroup_controllers = [ ]'] : []),
    '',
  ].join('\n');
}

export function poolXml(name: string, path: string): string {
  return `<pool type='dir'><name>${esc(name)}</name><target><path>${esc(path)}</path></target></pool>\n`;
}

export function networkXml(b: BridgeConfig): string {
  // a VLAN fake bridge is its own OVS bridge name; libvirt attaches to it like any other
  return `<network><name>${esc(b.name)}</name><forward mode='bridge'/><bridge name='${esc(b.name)}'/><virtualport type='openvswitch'/></network>\n`;
}

/** ovs-vsctl commands (idempotent, --may-exist) creating the bridges. */
export function ovsCommands(bridges: BridgeConfig[], datapath?: 'netdev'): string[][] {
  const out: string[][] = [];
  for (const b of bridges) {
    if (b.parent) { out.push(['--may-exist', 'add-br', b.name, b.parent, String(b.vlan)]); continue; }
    out.push(['--may-exist', 'add-br', b.name, ...(datapath ? ['--', 'set', 'bridge', b.name, `datapath_type=${datapath}`] : [])]);
    if (b.nic) out.push(['--may-exist', 'add-port', b.name, b.nic]);
  }
  return out;
}

export interface DomainSpec {
  name: string;
  memoryMiB: number;
  vcpus: number;
  disk: string;
  /** Direct kernel boot (files on the shared volume), else boot from disk, then cdrom. */
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  cdrom?: string;
  networks: string[];
  /** Guest serial console: a file (append) so it survives and can be read on the node. */
  serialLog: string;
  /** 'qemu' (TCG) where there is no KVM, e.g. the test harness. */
  domainType: 'kvm' | 'qemu';
}

export function domainXml(d: DomainSpec): string {
  const os = d.kernel
    ? `<kernel>${esc(d.kernel)}</kernel>${d.initrd ? `<initrd>${esc(d.initrd)}</initrd>` : ''}<cmdline>${esc(d.cmdline ?? 'console=ttyS0')}</cmdline>`
    : `<boot dev='hd'/>${d.cdrom ? "<boot dev='cdrom'/>" : ''}`;
  return [
    `<domain type='${d.domainType}'>`,
    `  <name>${esc(d.name)}</name>`,
    `  <memory unit='MiB'>${d.memoryMiB}</memory>`,
    `  <vcpu>${d.vcpus}</vcpu>`,
    `  <os><type arch='x86_64' machine='pc'>hvm</type>${os}</os>`,
    ...(d.domainType === 'kvm' ? ["  <cpu mode='host-model'/>"] : []),
    "  <clock offset='utc'/>",
    '  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>',
    '  <devices>',
    // cache=none: no host page cache between two nodes during live migration
    `    <disk type='file' device='disk'><driver name='qemu' type='qcow2' cache='none'/><source file='${esc(d.disk)}'/><target dev='vda' bus='virtio'/></disk>`,
    ...(d.cdrom ? [`    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='${esc(d.cdrom)}'/><target dev='sda' bus='sata'/><readonly/></disk>`] : []),
    ...d.networks.map((n) => `    <interface type='network'><source network='${esc(n)}'/><model type='virtio'/></interface>`),
    `    <serial type='file'><source path='${esc(d.serialLog)}' append='on'/><target port='0'/></serial>`,
    // qemu-guest-agent's port: a guest that runs the agent is frozen around its backup's point in time
    "    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>",
    "    <controller type='usb' model='none'/>",
    '    <memballoon model="none"/>',
    '  </devices>',
    '</domain>',
    '',
  ].join('\n');
}
