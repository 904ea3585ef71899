import type { ClusterConfig, NodeConfig } from '../../core/config-types.js';

// A ClusterConfig built in code, for tests that need a plan without going through YAML.
export const SAMPLE_SECRET = 'pcs1_test-secret-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
export const SAMPLE_HASH = '$6$pcexample$XNLAgAV7RoM83wm375zjH6Y1jvYI6Lu09C4Hbp8d6Y1fYet4exl/0eZBhvceh9f68tQ78SFhsjvodO2y/o5Rc/';

export function sampleNode(i: number, over: Partial<NodeConfig> = {}): NodeConfig {
  return {
    name: `node${i}`,
    network: { dhcp: false, address: `10.0.2.${14 + i}`, prefix: 24, gateway: '10.0.2.2', dns: ['10.0.2.3'] },
    mac: `52:54:00:12:34:${(0x10 + i).toString(16)}`,
    arbiter: false,
    disks: {
      os: { match: { minBytes: 8 * 2 ** 30, maxBytes: 64 * 2 ** 30 }, wipe: false },
      gv0: [{ match: { minBytes: 65 * 2 ** 30 }, wipe: false }],
      gv1: [],
      bmv0: [],
    },
    ...over,
  };
}

export function sampleConfig(over: Partial<ClusterConfig> = {}): ClusterConfig {
  return {
    name: 'testlab',
    domain: 'lab.example.org',
    release: 'trixie',
    replica: 3,
    secret: SAMPLE_SECRET,
    locale: 'en_US.UTF-8',
    keyboard: 'us',
    timezone: 'UTC',
    ntp: ['0.debian.pool.ntp.org'],
    mirror: { url: 'http://deb.debian.org/debian', securityUrl: 'http://deb.debian.org/debian-security' },
    root: {},
    users: [{ name: 'admin', fullName: 'Cluster Admin', passwordHash: SAMPLE_HASH, sshKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHdPbn5sQ4uL4t0YI0nxk3D9ymoEUsjVOv5h8JUtt1zo admin@laptop'], groups: ['sudo', 'libvirt', 'libvirt-qemu'] }],
    volumes: {
      gv0: { enabled: true, bricksPerNode: 1, brickLayout: 'lvm-thin' },
      gv1: { enabled: false, bricksPerNode: 2, brickLayout: 'lvm-thin' },
      bmv0: { enabled: false, bricksPerNode: 1, brickLayout: 'lvm-thin' },
    },
    nodes: [1, 2, 3].map((i) => sampleNode(i)),
    ...over,
  };
}
