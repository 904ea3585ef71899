import type { ClusterConfig, DiskSelector, NodeConfig, VolumeName } from '../../core/config-types.js';
import { RELEASES } from '../../core/config-types.js';
import { vmVolumeOptions } from '../../core/volume-options.js';
import { recoveryKeyPair } from '../../core/recovery-key.js';
import { deriveKeyId } from './keys.js';
import { haPackages, haPlan } from './ha.js';
import type { BrickPlan, NodePlan, Plan, VolumeBrickRef, VolumePlan } from '../../core/plan-types.js';

/** libvirt-qemu's uid/gid: statically allocated by Debian's libvirt packaging. */

const VOLUME_FOLDERS: Record<VolumeName, string[]> = {
  gv0: ['vm'],
  gv1: ['vm', 'iso'],
  bmv0: ['vm'],
};

/** Packages every node needs; the preseed's pkgsel/include and the disk image both read this. */
export function nodePackages(config: ClusterConfig): string[] {
  const pkgs = [
    'openssh-server', 'sudo', 'nodejs', 'openssl', 'ca-certificates',
    'avahi-daemon', 'chrony', 'unattended-upgrades',
    'glusterfs-server', 'glusterfs-client', 'xfsprogs', 'lvm2', 'thin-provisioning-tools',
    'qemu-system-x86', 'qemu-utils', 'libvirt-daemon-system', 'libvirt-clients',
    'openvswitch-switch',
    'corosync', 'pacemaker', 'pacemaker-cli-utils', 'resource-agents', 'fence-agents',
    'prometheus-node-exporter', 'prometheus-libvirt-exporter',
    // the web console: Debian's admin UI, its VM pages, and our page (/usr/share/cockpit/personal-cloud)
    'cockpit', 'cockpit-machines',
  ];
  // Bricks are unlocked by the agent (`clevis luks unlock`), not by clevis' boot units, so
  // clevis-systemd/clevis-initramfs are not needed: the OS disk is not encrypted.
  const enc = config.encryption;
  if (enc) pkgs.push('cryptsetup', 'clevis', 'clevis-luks', ...(enc.tpm2 ? ['clevis-tpm2'] : []), ...(enc.peers ? ['tang'] : []));
  pkgs.push(...haPackages(config));
  if (config.backup) pkgs.push('borgbackup', ...(config.backup.offsite ? ['rclone'] : []));
  return pkgs;
}

function brickPlan(config: ClusterConfig, node: NodeConfig, volume: VolumeName, index: number, disk: DiskSelector, arbiter: boolean): BrickPlan {
  const mountPoint = `/data/glusterfs/${volume}/brick${index}`;
  const tag = `${volume}b${index}`;
  return {
    volume,
    index,
    disk,
    layout: config.volumes[volume].brickLayout,
    vg: `pc_${node.name}_${tag}`.replace(/-/g, '_'),
    thinPool: `${tag}_pool`,
    lv: `${tag}_lv`,
    mountPoint,
    path: `${mountPoint}/brick`,
    arbiter,
  };
}

/** Arbiter bricks hold metadata only, so an arbiter box needs no brick disk: a folder will do. */
const ARBITER_DISK: DiskSelector = { id: 'arbiter:os-disk', wipe: false };

function volumeLayout(config: ClusterConfig, name: VolumeName, bricksByNode: Map<string, BrickPlan[]>): VolumeBrickRef[] {
  const data = config.nodes.filter((n) => !n.arbiter);
  const arbiters = config.nodes.filter((n) => n.arbiter);
  const perNode = config.volumes[name].bricksPerNode;
  const ref = (node: string, b: BrickPlan): VolumeBrickRef => ({ node, path: b.path, arbiter: b.arbiter });
  // Round k takes brick k of every data node: each replica set spans distinct nodes.
  const dataRefs: VolumeBrickRef[] = [];
  for (let k = 0; k < perNode; k++) {
    for (const n of data) dataRefs.push(ref(n.name, bricksByNode.get(n.name)!.filter((b) => b.volume === name)[k]));
  }
  if (config.replica === 3) return dataRefs;
  const out: VolumeBrickRef[] = [];
  const arbiterBricks = arbiters.flatMap((n) => bricksByNode.get(n.name)!.filter((b) => b.volume === name).map((b) => ref(n.name, b)));
  for (let s = 0; s * 2 < dataRefs.length; s++) {
    out.push(dataRefs[2 * s], dataRefs[2 * s + 1], arbiterBricks[s]);
  }
  return out;
}

export function plan(config: ClusterConfig): Plan {
  const bricksByNode = new Map<string, BrickPlan[]>();
  const dataCount = config.nodes.filter((n) => !n.arbiter).length;
  const arbiterNodes = config.nodes.filter((n) => n.arbiter);
  for (const node of config.nodes) {
    const bricks: BrickPlan[] = [];
    for (const volume of ['gv0', 'gv1', 'bmv0'] as const) {
      if (!config.volumes[volume].enabled) continue;
      if (node.arbiter) {
        if (volume === 'bmv0') continue;
        // replica sets of this volume, spread round-robin over the arbiter nodes
        const sets = (dataCount * config.volumes[volume].bricksPerNode) / 2;
        const mine = Array.from({ length: sets }, (_, s) => s).filter((s) => arbiterNodes[s % arbiterNodes.length] === node);
        mine.forEach((_, i) => bricks.push(brickPlan(config, node, volume, i + 1, ARBITER_DISK, true)));
        continue;
      }
      node.disks[volume].forEach((disk, i) => bricks.push(brickPlan(config, node, volume, i + 1, disk, false)));
    }
    bricksByNode.set(node.name, bricks);
  }

  const nodes: NodePlan[] = config.nodes.map((n, i) => ({
    name: n.name,
    fqdn: `${n.name}.${config.domain}`,
    network: n.network,
    ...(n.mac ? { mac: n.mac } : {}),
    arbiter: n.arbiter,
    osDisk: n.disks.os,
    bricks: bricksByNode.get(n.name)!,
    nodeId: i + 1,
    ...(n.ring1Address ? { ring1Address: n.ring1Address } : {}),
    ...(n.bmc ? { bmc: { address: n.bmc.address, user: n.bmc.user } } : {}), // the password only sealed (ha.fencing)
  }));

  const volumes: VolumePlan[] = [];
  for (const name of ['gv0', 'gv1'] as const) {
    if (!config.volumes[name].enabled) continue;
    volumes.push({
      name,
      kind: 'replicated',
      replica: 3,
      arbiterCount: config.replica === 2 ? 1 : 0,
      bricks: volumeLayout(config, name, bricksByNode),
      mountPoint: `/mnt/${name}`,
      folders: VOLUME_FOLDERS[name],
      options: vmVolumeOptions(),
    });
  }
  if (config.volumes.bmv0.enabled) {
    volumes.push({
      name: 'bmv0', kind: 'local', replica: 1, arbiterCount: 0,
      bricks: nodes.flatMap((n) => n.bricks.filter((b) => b.volume === 'bmv0').map((b) => ({ node: n.name, path: b.mountPoint, arbiter: false }))),
      mountPoint: '/mnt/bmv0', folders: VOLUME_FOLDERS.bmv0, options: {},
    });
  }

  return {
    schemaVersion: 1,
    cluster: {
      name: config.name,
      domain: config.domain,
      release: config.release,
      releaseVersion: RELEASES[config.release].version,
      replica: config.replica,
      locale: config.locale,
      keyboard: config.keyboard,
      timezone: config.timezone,
      ntp: config.ntp,
      mirror: config.mirror,
      ...(config.encryption ? { encryption: { ...config.encryption, recoveryKey: recoveryKeyPair(config.secret, config.name).publicKey } } : {}),
      keyId: deriveKeyId(config.secret, config.name),
    },
    packages: nodePackages(config),
    root: config.root,
    users: config.users,
    nodes,
    volumes,
    ha: haPlan(config),
    ...(config.backup ? { backup: config.backup } : {}),
  };
}
