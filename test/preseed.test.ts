import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { osDiskConf } from '../src/assemble/payload.js';
import { plan } from '../src/plan/plan.js';
import { netmask, renderNodePreseed } from '../src/render/preseed.js';
import { sampleConfig, sampleNode } from './helpers/sample-config.js';
import { REPO_ROOT } from './helpers/installer-cache.js';

let work: string;
beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'pc-preseed-')); });
afterAll(async () => { await rm(work, { recursive: true, force: true }); });

async function debconfCheck(text: string, name: string) {
  const f = join(work, name);
  await writeFile(f, text);
  const r = await execa('debconf-set-selections', ['-c', f], { reject: false });
  return { code: r.exitCode, out: `${r.stdout}${r.stderr}` };
}

describe('rendered preseed', () => {
  const variants = {
    trixie: sampleConfig(),
    bookworm: sampleConfig({ release: 'bookworm' }),
    dhcpNoMac: sampleConfig({ nodes: [1, 2, 3].map((i) => sampleNode(i, { network: { dhcp: true }, mac: undefined })) }),
    rootAndProxy: sampleConfig({ root: { passwordHash: '$6$x$y' }, mirror: { url: 'https://mirror.example.org/debian/', proxy: 'http://proxy.lan:3128', securityUrl: 'http://security.debian.org/debian-security' } }),
  };

  for (const [name, config] of Object.entries(variants)) {
    it(`passes debconf-set-selections -c for every node (${name})`, async () => {
      const p = plan(config);
      for (const node of p.nodes) {
        const text = renderNodePreseed(p, node, { serialLog: name === 'trixie' });
        const r = await debconfCheck(text, `${name}-${node.name}.cfg`);
        expect(r.out).toBe('');
        expect(r.code).toBe(0);
        expect(text).toContain(`d-i netcfg/get_hostname string ${node.name}`);
        expect(text).toContain(`d-i mirror/suite string ${config.release}`);
      }
    });
  }

  it('answers every question of an unattended install from the plan', () => {
    const p = plan(sampleConfig());
    const text = renderNodePreseed(p, p.nodes[1]);
    expect(text).toContain('d-i netcfg/get_ipaddress string 10.0.2.16');
    expect(text).toContain('d-i netcfg/get_netmask string 255.255.255.0');
    expect(text).toContain('d-i netcfg/get_gateway string 10.0.2.2');
    expect(text).toContain('d-i netcfg/choose_interface select 52:54:00:12:34:12');
    expect(text).toContain('d-i passwd/root-login boolean false');
    expect(text).toContain('d-i passwd/user-password-crypted password $6$');
    expect(text).toContain('d-i passwd/user-default-groups string sudo'); // libvirt groups are added in late.sh
    expect(text).toContain(`d-i pkgsel/include string ${p.packages.join(' ')}`);
    expect(text).toMatch(/pkgsel\/include string .*\bnodejs\b.*\bglusterfs-server\b/);
    expect(text).toContain('d-i debian-installer/add-kernel-opts string console=tty0 console=ttyS0,115200n8');
    expect(text).toContain('d-i partman/early_command string sh /personal-cloud/select-os-disk.sh /personal-cloud/nodes/node2/os-disk.conf');
    expect(text).toContain('d-i preseed/late_command string sh /personal-cloud/late.sh node2');
    expect(text).not.toContain('partman-auto/disk string'); // set at install time from the selector
    expect(text).not.toContain(sampleConfig().secret);
  });

  it('computes netmasks', () => {
    expect(netmask(24)).toBe('255.255.255.0');
    expect(netmask(20)).toBe('255.255.240.0');
    expect(netmask(32)).toBe('255.255.255.255');
    expect(netmask(0)).toBe('0.0.0.0');
  });
});

// select-os-disk.sh runs in the installer; here it runs against a made-up /sys and /dev
// (regular files as disks) with debconf-set recorded, to prove the selection and safety rules.
describe('select-os-disk.sh', () => {
  const GiB = 2 ** 30;
  async function fakeMachine(disks: { name: string; gib: number; model?: string; serial?: string; removable?: boolean; partitions?: boolean; data?: boolean }[]) {
    const root = await mkdtemp(join(work, 'machine-'));
    for (const d of disks) {
      const sys = join(root, 'sys/block', d.name);
      await mkdir(join(sys, 'device'), { recursive: true });
      await mkdir(join(sys, 'queue'), { recursive: true });
      await writeFile(join(sys, 'size'), `${(d.gib * GiB) / 512}\n`);
      await writeFile(join(sys, 'removable'), d.removable ? '1\n' : '0\n');
      await writeFile(join(sys, 'queue/rotational'), '0\n');
      if (d.model) await writeFile(join(sys, 'device/model'), `${d.model}   \n`);
      if (d.serial) await writeFile(join(sys, 'device/serial'), `${d.serial}\n`);
      if (d.partitions) await mkdir(join(sys, `${d.name}1`));
      await mkdir(join(root, 'dev'), { recursive: true });
      const dev = Buffer.alloc(64 * 1024);
      if (d.data) dev.write('XFSB', 0);
      await writeFile(join(root, 'dev', d.name), dev);
    }
    await mkdir(join(root, 'bin'), { recursive: true });
    await writeFile(join(root, 'bin/debconf-set'), `#!/bin/sh\necho "$1=$2" >> ${root}/debconf.log\n`);
    await writeFile(join(root, 'bin/logger'), '#!/bin/sh\nexit 0\n');
    await chmod(join(root, 'bin/debconf-set'), 0o755);
    await chmod(join(root, 'bin/logger'), 0o755);
    await writeFile(join(root, 'mounts'), '');
    return root;
  }
  async function select(root: string, conf: string) {
    await writeFile(join(root, 'os-disk.conf'), conf);
    const r = await execa('sh', [join(REPO_ROOT, 'preseed/scripts/select-os-disk.sh'), join(root, 'os-disk.conf')], {
      reject: false,
      env: { PC_SYSFS: join(root, 'sys'), PC_DEVDIR: join(root, 'dev'), PC_MOUNTS: join(root, 'mounts'), PATH: `${root}/bin:${process.env.PATH}` },
    });
    const log = await readFile(join(root, 'debconf.log'), 'utf8').catch(() => '');
    return { code: r.exitCode, log };
  }
  const match = (minGiB?: number, maxGiB?: number, extra: Record<string, unknown> = {}) =>
    osDiskConf({ match: { ...(minGiB ? { minBytes: minGiB * GiB } : {}), ...(maxGiB ? { maxBytes: maxGiB * GiB } : {}), ...extra }, wipe: false });

  it('picks the one disk in the size range and points partman and GRUB at it', async () => {
    const root = await fakeMachine([{ name: 'vda', gib: 20 }, { name: 'vdb', gib: 100 }, { name: 'sda', gib: 32, removable: true }]);
    const r = await select(root, match(8, 64));
    expect(r.code).toBe(0);
    expect(r.log).toBe(`partman-auto/disk=${root}/dev/vda\ngrub-installer/bootdev=${root}/dev/vda\n`);
  });

  it('matches model and serial globs', async () => {
    const root = await fakeMachine([{ name: 'sda', gib: 500, model: 'Samsung SSD 870', serial: 'S6PX1' }, { name: 'sdb', gib: 500, model: 'WDC WD40', serial: 'WD-1' }]);
    const r = await select(root, match(undefined, undefined, { model: 'Samsung*' }));
    expect(r.code).toBe(0);
    expect(r.log).toContain(`${root}/dev/sda`);
  });

  it('refuses when the selector matches several disks or none, and sets nothing', async () => {
    const root = await fakeMachine([{ name: 'vda', gib: 20 }, { name: 'vdb', gib: 30 }]);
    expect(await select(root, match(8, 64))).toEqual({ code: 1, log: '' });
    expect(await select(root, match(200))).toEqual({ code: 1, log: '' });
  });

  it('refuses a disk with partitions or data unless wipe is allowed', async () => {
    const parts = await fakeMachine([{ name: 'vda', gib: 20, partitions: true }]);
    expect((await select(parts, match(8, 64))).code).toBe(1);
    const data = await fakeMachine([{ name: 'vda', gib: 20, data: true }]);
    expect((await select(data, match(8, 64))).code).toBe(1);
    const wipe = osDiskConf({ match: { minBytes: 8 * GiB, maxBytes: 64 * GiB }, wipe: true });
    const r = await select(data, wipe);
    expect(r.code).toBe(0);
    expect(r.log).toContain('partman-auto/disk=');
  });
});

// check-mac.sh runs in the installer before netcfg; here against a made-up /sys/class/net and
// the node directories the payload puts in the initrd.
describe('check-mac.sh', () => {
  async function fakeMedium(nodes: Record<string, string | undefined>, cards: Record<string, string>) {
    const root = await mkdtemp(join(work, 'medium-'));
    for (const [name, mac] of Object.entries(nodes)) {
      await mkdir(join(root, 'nodes', name), { recursive: true });
      if (mac) await writeFile(join(root, 'nodes', name, 'mac'), `${mac}\n`);
    }
    for (const [name, mac] of Object.entries(cards)) {
      await mkdir(join(root, 'sys/class/net', name), { recursive: true });
      await writeFile(join(root, 'sys/class/net', name, 'address'), `${mac}\n`);
    }
    await mkdir(join(root, 'sys/class/net'), { recursive: true });
    return root;
  }
  async function check(root: string, node: string) {
    const r = await execa('sh', [join(REPO_ROOT, 'preseed/scripts/check-mac.sh'), join(root, 'nodes', node)], {
      reject: false,
      env: { PC_SYSFS: join(root, 'sys'), PC_NIC_WAIT: '0' },
    });
    return { code: r.exitCode, out: r.stdout };
  }
  const lo = { lo: '00:00:00:00:00:00' };

  it("passes on the node's PC, whichever of its cards has the MAC", async () => {
    const root = await fakeMedium({ node1: '52:54:00:12:34:01' }, { ...lo, enp1s0: '52:54:00:aa:bb:cc', enp2s0: '52:54:00:12:34:01' });
    expect(await check(root, 'node1')).toEqual({ code: 0, out: '' });
  });

  it('says which PC the stick is for and which cards this PC has', async () => {
    const root = await fakeMedium({ node1: '52:54:00:12:34:01' }, { ...lo, enp1s0: '52:54:00:aa:bb:cc', enp2s0: '52:54:00:aa:bb:cd' });
    expect(await check(root, 'node1')).toEqual({
      code: 1,
      out: "This stick installs node1 (network card 52:54:00:12:34:01), but this PC's network cards are 52:54:00:aa:bb:cc (enp1s0), 52:54:00:aa:bb:cd (enp2s0).\n"
        + 'Nothing was installed and no disk was changed.\n'
        + "Use the universal stick, or fix node1's mac in cluster.yaml and rebuild.",
    });
  });

  it('on a universal medium, points at the boot menu instead', async () => {
    const root = await fakeMedium({ node1: '52:54:00:12:34:01', node2: '52:54:00:12:34:02' }, { ...lo, ens3: '52:54:00:12:34:02' });
    const r = await check(root, 'node1');
    expect(r.code).toBe(1);
    expect(r.out).toContain("Node node1 was chosen at boot (network card 52:54:00:12:34:01), but this PC's network card is 52:54:00:12:34:02 (ens3).");
    expect(r.out).toContain("Choose this PC's node (or the automatic entry) in the boot menu, or fix node1's mac in cluster.yaml and rebuild.");
  });

  it('changes nothing for a node without a MAC, or while no card is visible yet', async () => {
    expect(await check(await fakeMedium({ node1: undefined }, { ...lo, ens3: '52:54:00:aa:bb:cc' }), 'node1')).toEqual({ code: 0, out: '' });
    expect((await check(await fakeMedium({ node1: '52:54:00:12:34:01' }, lo), 'node1')).code).toBe(0);
  });
});
