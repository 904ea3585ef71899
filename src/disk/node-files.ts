// What a preinstalled node disk holds on top of the shared base tree: the node files every
// install path writes (src/render/node-files.ts) plus what d-i's netcfg, user-setup and
// grub-installer write on an installed node, rendered from the plan.
// Pure: the builder writes these files into the mounted image; tests read them directly.
import type { NodePlan, Plan } from '../../core/plan-types.js';
import { AGENT_CONFIG_DIR } from '../../core/paths.js';
import type { NodeFilesContext } from '../build/context.js';
import { nodeFiles, type RenderedFile } from '../render/node-files.js';
import { INSTALLED_KERNEL_OPTS } from '../render/preseed.js';

export { INSTALLED_KERNEL_OPTS };

/** The node's LAN interface gets a stable name, so /etc/network/interfaces can name it. */
export const LAN_IFACE = 'lan0';
export const HOSTKEYS_UNIT = 'personal-cloud-ssh-hostkeys.service';
export const GROW_ROOT_UNIT = 'personal-cloud-grow-root.service';

/** Filesystem identities of one node's disk. */
export interface DiskIds {
  rootUuid: string;
  espVolumeId: string; // XXXX-XXXX, as blkid shows a FAT volume id
}

function interfaces(node: NodePlan): string {
  const head = '# Written by personal-cloud from cluster.yaml (node ' + node.name + ').\nsource /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\n';
  const net = node.network;
  if (net.dhcp) return `${head}auto ${LAN_IFACE}\niface ${LAN_IFACE} inet dhcp\n`;
  return `${head}auto ${LAN_IFACE}\niface ${LAN_IFACE} inet static\n\taddress ${net.address}/${net.prefix}\n` +
    (net.gateway ? `\tgateway ${net.gateway}\n` : '') +
    (net.dns.length ? `\tdns-nameservers ${net.dns.join(' ')}\n` : '');
}

/** A systemd .link file: the NIC with the plan's MAC (or else the first PCI NIC) becomes lan0. */
function lanLink(node: NodePlan): string {
  const match = node.mac ? `MACAddress=${node.mac}\n` : 'Type=ether\nPath=pci-*\n';
  return `# personal-cloud: the cluster network interface of ${node.name}\n[Match]\n${match}\n[Link]\nName=${LAN_IFACE}\n`;
}

function hosts(node: NodePlan): string {
  const self = node.network.dhcp ? '127.0.1.1' : node.network.address;
  // The agent's hosts step adds the other nodes; this is what netcfg writes for the node itself.
  return `127.0.0.1\tlocalhost\n${self}\t${node.fqdn}\t${node.name}\n\n` +
    '::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';
}

function resolvConf(plan: Plan, node: NodePlan): string {
  // DHCP: the DHCP client writes it; never the build host's resolv.conf that debootstrap copied
  if (node.network.dhcp) return '';
  return `search ${plan.cluster.domain}\n${node.network.dns.map((d) => `nameserver ${d}\n`).join('')}`;
}

export function aptSources(plan: Plan): string {
  const { url, securityUrl } = plan.cluster.mirror;
  const r = plan.cluster.release;
  return `deb ${url} ${r} main\ndeb ${url} ${r}-updates main\ndeb ${securityUrl} ${r}-security main\n`;
}

function fstab(ids: DiskIds): string {
  return '# <file system> <mount point> <type> <options> <dump> <pass>\n' +
    `UUID=${ids.rootUuid} / ext4 errors=remount-ro 0 1\n` +
    // nofail: a headless node must not stop in emergency mode (root locked) over its ESP
    `UUID=${ids.espVolumeId} /boot/efi vfat umask=0077,nofail 0 1\n`;
}

function grubDefaults(extra: string): string {
  return '# personal-cloud: a serial console next to the screen (headless boxes, VMs)\n' +
    `GRUB_CMDLINE_LINUX="${[INSTALLED_KERNEL_OPTS, extra].filter(Boolean).join(' ')}"\n` +
    'GRUB_TERMINAL="console serial"\nGRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"\nGRUB_TIMEOUT=2\nGRUB_DISABLE_OS_PROBER=true\n';
}

// Host keys are made on the node at its first boot, never baked into an image that may be copied.
const HOSTKEYS_UNIT_TEXT = `[Unit]
Description=personal-cloud: generate this node's SSH host keys (first boot)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
`;

// A disk image is smaller than the disk it is written to: grow the root partition to the end once.
const GROW_ROOT_UNIT_TEXT = `[Unit]
Description=personal-cloud: grow the root partition to the whole OS disk (first boot)
ConditionPathExists=!/var/lib/personal-cloud-grow-root.done
DefaultDependencies=no
After=local-fs.target
Before=personal-cloud-agent.service

[Service]
Type=oneshot
ExecStart=/usr/lib/personal-cloud/grow-root
ExecStartPost=/usr/bin/touch /var/lib/personal-cloud-grow-root.done

[Install]
WantedBy=multi-user.target
`;

const GROW_ROOT_SCRIPT = `#!/bin/sh
# Moves the backup GPT to the end of the disk and grows the root partition (3) and ext4 into
# the free space behind it. Nothing before the root partition changes; no data is moved.
set -eu
root=$(findmnt -no SOURCE /)
disk=/dev/$(lsblk -no PKNAME "$root")
part=$(cat /sys/class/block/$(basename "$root")/partition)
sfdisk --relocate gpt-bak-std "$disk" || true
echo ', +' | sfdisk --no-reread --no-tell-kernel -N "$part" "$disk" || exit 0
partx -u "$disk" || true
resize2fs "$root"
`;

export interface NodeDiskInput extends NodeFilesContext {
  node: NodePlan;
  ids: DiskIds;
  /** Extra kernel options for this image (e.g. no_timer_check for VMs on a slow emulator). */
  kernelOpts?: string;
}

/** Every file the builder writes into one node's image (absolute paths inside the image). */
export function nodeDiskFiles(input: NodeDiskInput): RenderedFile[] {
  const { plan, node, ids, kernelOpts } = input;
  const files: RenderedFile[] = [
    ...nodeFiles(input, node),
    { path: '/etc/hostname', content: `${node.name}\n`, mode: 0o644 },
    { path: '/etc/hosts', content: hosts(node), mode: 0o644 },
    { path: '/etc/network/interfaces', content: interfaces(node), mode: 0o644 },
    { path: `/etc/systemd/network/10-personal-cloud-${LAN_IFACE}.link`, content: lanLink(node), mode: 0o644 },
    { path: '/etc/apt/sources.list', content: aptSources(plan), mode: 0o644 },
    { path: '/etc/fstab', content: fstab(ids), mode: 0o644 },
    { path: '/etc/default/grub.d/personal-cloud.cfg', content: grubDefaults(kernelOpts ?? ''), mode: 0o644 },
    { path: '/etc/timezone', content: `${plan.cluster.timezone}\n`, mode: 0o644 },
    { path: '/etc/default/locale', content: `LANG=${plan.cluster.locale}\n`, mode: 0o644 },
    // what d-i's keyboard-configuration writes from keyboard-configuration/xkb-keymap
    { path: '/etc/default/keyboard', content: `XKBMODEL="pc105"\nXKBLAYOUT="${plan.cluster.keyboard}"\nXKBVARIANT=""\nXKBOPTIONS=""\nBACKSPACE="guess"\n`, mode: 0o644 },
    { path: '/etc/locale.gen', content: `${plan.cluster.locale} ${plan.cluster.locale.includes('UTF-8') ? 'UTF-8' : 'ISO-8859-1'}\n`, mode: 0o644 },
    { path: `/etc/systemd/system/${HOSTKEYS_UNIT}`, content: HOSTKEYS_UNIT_TEXT, mode: 0o644 },
    { path: `/etc/systemd/system/${GROW_ROOT_UNIT}`, content: GROW_ROOT_UNIT_TEXT, mode: 0o644 },
    { path: '/usr/lib/personal-cloud/grow-root', content: GROW_ROOT_SCRIPT, mode: 0o755 },
  ];
  files.push({ path: '/etc/resolv.conf', content: resolvConf(plan, node), mode: 0o644 });
  return files;
}

/** Units enabled in the image: what late.sh enables, plus the first-boot helpers. */
export const ENABLED_UNITS = ['personal-cloud-agent.service', 'serial-getty@ttyS0.service', HOSTKEYS_UNIT, GROW_ROOT_UNIT];

/**
 * Units the packages enable that must wait for the agent (late.sh disables the same): started at
 * boot with Debian's default corosync.conf, every node forms a one-member cluster named "node1"
 * and Pacemaker writes a blank CIB; the agent enables them once its own configuration is in place.
 * corosync-qdevice would pull corosync in (Requires=); corosync-qnetd runs only on the node that
 * ha.qdevice names (both are installed only with a quorum device).
 */
export const DISABLED_UNITS = ['corosync.service', 'pacemaker.service', 'corosync-qdevice.service', 'corosync-qnetd.service'];

export { AGENT_CONFIG_DIR };
