import { execa, type ResultPromise } from 'execa';
import { mkdtemp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCpio } from '../src/assemble/cpio-read.js';
import { renderDnsmasqConf } from '../src/pxe/dnsmasq.js';
import { createPxeHttpServer } from '../src/pxe/http-server.js';
import { cli } from './helpers/cli.js';
import { REPO_ROOT, SHARED_INSTALLER_CACHE, sharedInstaller } from './helpers/installer-cache.js';
import { netbootVm, serialBootSector, type NetbootVm } from './helpers/qemu-netboot.js';
import { createPxeNet, type PxeNet } from './helpers/pxe-netns.js';
import type { InstallerSource } from '../src/installer/resolve.js';

// The PXE tree built by the CLI from the real debian-installer-13-netboot-amd64 package, booted
// by QEMU (TCG) through QEMU's own TFTP (BIOS and UEFI) and through our dnsmasq (`serve`) in a
// network namespace. As in boot-qemu.test.ts, assertions follow the real installer's serial
// console and syslog (2nd serial port).

const CONFIG = join(REPO_ROOT, 'test/fixtures/iso/cluster.yaml');
const NETNS_CONFIG = join(REPO_ROOT, 'test/fixtures/pxe/cluster-netns.yaml');
const BIN = join(REPO_ROOT, 'bin/personal-cloud.js');
const EPOCH = '1750000000';
const BOOT_TIMEOUT = 420_000;

let work: string;
let installer: InstallerSource;
let tree: string;
let netnsTree: string;

async function buildTree(config: string, out: string) {
  const r = await cli(['build', 'pxe', '--config', config, '--out', out, '--cache', SHARED_INSTALLER_CACHE, '--console', 'serial', '--serial-log', '--json'], { env: { SOURCE_DATE_EPOCH: EPOCH } });
  if (r.code !== 0) throw new Error(`build pxe failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as { outputs: { file: string; target: string; sha256: string }[]; manifest: string };
}

const read = (...p: string[]) => readFile(join(...p), 'utf8');

/** Writes the files of the n-th (0-based) concatenated cpio archive of a gzip'd initrd to dir; lists its names. */
async function extractMember(initrd: string, n: number, dir: string): Promise<string> {
  const records = readCpio(gunzipSync(await readFile(initrd))).filter((r) => r.archive === n);
  for (const r of records) {
    if ((r.mode & 0o170000) !== 0o100000) continue;
    await mkdir(dirname(join(dir, r.name)), { recursive: true });
    await writeFile(join(dir, r.name), r.data, { mode: r.mode & 0o777 });
  }
  return records.map((r) => r.name).join('\n');
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pc-pxe-'));
  installer = await sharedInstaller('trixie');
  tree = join(work, 'tree');
  netnsTree = join(work, 'netns-tree');
  await buildTree(CONFIG, tree);
  await buildTree(NETNS_CONFIG, netnsTree);
}, 900_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('build pxe: the tree', () => {
  const macs = { node1: '01-52-54-00-12-34-11', node2: '01-52-54-00-12-34-12', node3: '01-52-54-00-12-34-13' };

  it('has per-MAC pxelinux, GRUB and iPXE entries that boot straight into that node\'s install', async () => {
    for (const [node, tag] of Object.entries(macs)) {
      const px = await read(tree, 'pxelinux.cfg', tag);
      expect(px).toMatch(/^DEFAULT install$/m);
      expect(px).toContain(`MENU TITLE personal-cloud: qemulab / ${node}`);
      expect(px).toContain('KERNEL debian-installer/amd64/linux');
      expect(px).toContain(`INITRD nodes/${node}/initrd.gz`);
      expect(px).toMatch(/APPEND auto=true priority=critical .*console=ttyS0,115200n8 --- quiet$/m);
      expect(px).toMatch(/LABEL local\n.*\n {2}LOCALBOOT 0/);
      const grub = await read(tree, 'debian-installer/amd64/grub', `grub.cfg-${tag}`);
      expect(grub).toMatch(/set default=0[\s\S]*?menuentry 'Install [^']+' --id install \{\n.*\n\s+linux\s+\/debian-installer\/amd64\/linux auto=true priority=critical/);
      expect(grub).toContain(`initrd  /nodes/${node}/initrd.gz`);
      expect(grub).toContain('pc.pxe-server=${net_default_server}');
      expect(grub).not.toContain('configfile');
      const ipxe = await read(tree, 'ipxe', `${tag}.ipxe`);
      expect(ipxe).toMatch(/^#!ipxe\n/);
      expect(ipxe).toContain(`initrd --name initrd.gz /nodes/${node}/initrd.gz`);
      expect(ipxe).toMatch(/choose --default install /);
    }
    expect(await read(tree, 'boot.ipxe')).toContain('chain --autofree /ipxe/01-${mac:hexhyp}.ipxe || chain --autofree /ipxe/default.ipxe');
  });

  it('gives unknown machines a menu whose default is the local disk', async () => {
    const px = await read(tree, 'pxelinux.cfg/default');
    expect(px).toMatch(/^DEFAULT local$/m);
    for (const n of ['node1', 'node2', 'node3']) expect(px).toContain(`MENU LABEL Install as ${n}`);
    const grub = await read(tree, 'debian-installer/amd64/grub/grub.cfg');
    expect(grub).toMatch(/set default=0\n[\s\S]*?\nmenuentry 'Boot from the local disk' --id local \{\n\s+exit\n\}/);
    expect(grub.indexOf("--id local")).toBeLessThan(grub.indexOf('--id node-node1'));
    // Debian's netboot GRUB does not look for grub.cfg-01-<mac> by itself: the menu hands over first.
    expect(grub).toContain('configfile "$prefix/grub.cfg-01-$m1-$m2-$m3-$m4-$m5-$m6"');
    expect(await read(tree, 'ipxe/default.ipxe')).toMatch(/choose --default local /);
  });

  it('ships pxelinux from Debian\'s pxelinux + syslinux-common and the signed shim + GRUB from the netboot package', async () => {
    const same = async (a: string, b: string) => expect((await readFile(a)).equals(await readFile(b))).toBe(true);
    await same(join(tree, 'pxelinux.0'), '/usr/lib/PXELINUX/pxelinux.0');
    for (const m of ['ldlinux', 'libcom32', 'libutil', 'menu']) await same(join(tree, `${m}.c32`), `/usr/lib/syslinux/modules/bios/${m}.c32`);
    for (const f of ['bootnetx64.efi', 'grubx64.efi', 'linux']) await same(join(tree, 'debian-installer/amd64', f), join(installer.dir, f));
    // GRUB fetches its config over TFTP from its prefix, /debian-installer/amd64/grub (see the strings of the binary).
    const grub = (await readFile(join(tree, 'debian-installer/amd64/grubx64.efi'))).toString('latin1');
    expect(grub).toContain('/debian-installer/amd64/grub');
    expect(grub).toContain('feature_net_search_cfg');
    const shim = await readFile(join(tree, 'debian-installer/amd64/bootnetx64.efi'));
    expect(shim.subarray(0, 2).toString()).toBe('MZ');
  });

  it('per-node initrd = installer initrd ‖ the image payload ‖ the installed-report files, in a 0700 folder', async () => {
    const initrd = join(tree, 'nodes/node2/initrd.gz');
    expect((await stat(join(tree, 'nodes'))).mode & 0o777).toBe(0o700);
    const base = await readFile(installer.initrd);
    const ours = await readFile(initrd);
    expect(ours.subarray(0, base.length).equals(base)).toBe(true);
    const payload = await extractMember(initrd, 1, join(work, 'x-node2-payload'));
    expect(payload).toMatch(/^preseed\.cfg$/m);
    expect(payload).toMatch(/^personal-cloud\/nodes\/node2\/etc\/join\.key$/m);
    expect(await read(work, 'x-node2-payload', 'preseed.cfg')).toMatch(/netcfg\/get_hostname string node2/);
    const report = await extractMember(initrd, 2, join(work, 'x-node2-report'));
    expect(report).toMatch(/^personal-cloud\/pxe\/token$/m);
    expect((await stat(join(work, 'x-node2-report/personal-cloud/pxe/token'))).mode & 0o777).toBe(0o600);
    expect(await read(work, 'x-node2-report/personal-cloud/pxe/mac')).toBe('52:54:00:12:34:12\n');
  });

  it('writes a manifest and SHA256SUMS that check, and the same epoch gives the same bytes', async () => {
    await execa('sha256sum', ['--quiet', '-c', 'SHA256SUMS'], { cwd: tree });
    const again = join(work, 'tree-again');
    await buildTree(CONFIG, again);
    // dnsmasq.conf names the tree's own folder as tftp-root; every other file is byte-identical.
    const sums = async (d: string) => (await read(d, 'SHA256SUMS')).split('\n').filter((l) => !l.endsWith('dnsmasq.conf'));
    expect(await sums(again)).toEqual(await sums(tree));
    const state = JSON.parse(await read(tree, 'pxe-state.json'));
    expect(Object.keys(state.nodes)).toEqual(['node1', 'node2', 'node3']);
    expect((await stat(join(tree, 'pxe-state.json'))).mode & 0o777).toBe(0o600);
    expect(await read(tree, 'pxe-state.json')).not.toMatch(/pcs1_/);
  }, 300_000);

  it('dnsmasq --test accepts the tree\'s configuration (proxy-DHCP) and the full-DHCP one', async () => {
    const proxy = await read(tree, 'dnsmasq.conf');
    expect(proxy).toMatch(/^dhcp-range=10\.0\.2\.0,proxy,255\.255\.255\.0$/m);
    expect(proxy).toMatch(/^dhcp-match=set:efi64,option:client-arch,7$/m);
    expect(proxy).toMatch(/^pxe-service=tag:!ipxe,X86-64_EFI,.*debian-installer\/amd64\/bootnetx64\.efi$/m);
    expect(proxy).toMatch(/^pxe-service=tag:!ipxe,x86PC,.*,pxelinux$/m);
    await execa('dnsmasq', ['--test', `--conf-file=${join(tree, 'dnsmasq.conf')}`]);
    const full = join(work, 'full.conf');
    await writeFile(full, renderDnsmasqConf({ tftpRoot: tree, mode: 'full', network: '10.78.0.0', prefix: 24, interface: 'br0', range: { start: '10.78.0.100', end: '10.78.0.150' }, hosts: [{ mac: '52:54:00:78:00:11', address: '10.78.0.11', name: 'pxe1' }], gateway: '10.78.0.1', dns: ['10.78.0.1'] }));
    expect(await read(full)).toMatch(/^dhcp-boot=tag:efi64,tag:!ipxe,debian-installer\/amd64\/bootnetx64\.efi$/m);
    await execa('dnsmasq', ['--test', `--conf-file=${full}`]);
  });

  it('refuses --node for a node without a MAC, with a clear message', async () => {
    const cfg = join(work, 'nomac.yaml');
    await writeFile(cfg, (await read(CONFIG)).replace('    mac: "52:54:00:12:34:13"\n', ''));
    const r = await cli(['build', 'pxe', '--config', cfg, '--out', join(work, 'nomac'), '--cache', SHARED_INSTALLER_CACHE, '--offline', '--node', 'node3']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/node 'node3' has no mac in cluster\.yaml/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('installed → local boot', () => {
  const tag = '01-52-54-00-78-00-12';
  const active = () => read(netnsTree, 'pxelinux.cfg', tag);

  it('the node\'s own report (token from its initrd) flips its entries; wrong tokens and strangers cannot', async () => {
    const lines: string[] = [];
    const server = createPxeHttpServer(netnsTree, { log: (l) => lines.push(l) });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as AddressInfo).port;
    try {
      const url = (p: string) => `http://127.0.0.1:${port}${p}`;
      expect((await fetch(url('/installed/52:54:00:78:00:12?token=00'))).status).toBe(403);
      expect((await fetch(url('/installed/52:54:00:78:00:99?token=00'))).status).toBe(404);
      expect((await fetch(url('/pxe-state.json'))).status).toBe(404);
      expect((await fetch(url('/../../etc/passwd'))).status).toBe(404);
      expect(await (await fetch(url('/boot.ipxe'))).text()).toMatch(/^#!ipxe/);
      expect(await active()).toMatch(/^DEFAULT install$/m);

      // The report script the installer runs, with the files the node's initrd carries.
      const dir = join(work, 'x-pxe2');
      await extractMember(join(netnsTree, 'nodes/pxe2/initrd.gz'), 2, dir);
      const cmdline = join(work, 'cmdline-pxe2');
      const grubLinux = /linux\s+\S+ (.*)/.exec(await read(netnsTree, 'nodes/pxe2/grub-install.cfg'))![1];
      await writeFile(cmdline, `BOOT_IMAGE=/debian-installer/amd64/linux ${grubLinux.replace('${net_default_server}', '127.0.0.1').replace(/pc\.pxe-port=\d+/, `pc.pxe-port=${port}`)}\n`);
      const consoleOut = join(work, 'report-console');
      await execa('sh', [join(REPO_ROOT, 'preseed/scripts/report-installed.sh')], { env: { PC_PXE_DIR: join(dir, 'personal-cloud/pxe'), PC_CMDLINE: cmdline, PC_CONSOLE: consoleOut } });
      expect(await read(consoleOut)).toMatch(/told the PXE server 127\.0\.0\.1:\d+ that 52:54:00:78:00:12 is installed/);
      expect(lines.join('\n')).toMatch(/pxe2 52:54:00:78:00:12 reported installed: its network boot now goes to the local disk/);
      expect(lines.join('\n')).not.toMatch(/token=[0-9a-f]{8}/);
      expect(await active()).toMatch(/^DEFAULT local$/m);
      expect(await read(netnsTree, 'debian-installer/amd64/grub', `grub.cfg-${tag}`)).toBe(await read(netnsTree, 'nodes/pxe2/grub-local.cfg'));
      expect(JSON.parse(await read(netnsTree, 'pxe-state.json')).nodes.pxe2.installed).toBe(true);
    } finally {
      await new Promise((ok) => server.close(ok));
    }
  });

  it('a rebuild keeps the installed node on local boot; serve --reinstall flips it back', async () => {
    await buildTree(NETNS_CONFIG, netnsTree);
    expect(await active()).toMatch(/^DEFAULT local$/m);
    const r = await cli(['serve', '--out', netnsTree, '--reinstall', 'pxe2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/pxe2 \(52:54:00:78:00:12\): next network boot reinstalls it/);
    expect(await active()).toBe(await read(netnsTree, 'nodes/pxe2/pxelinux-install.cfg'));
    const bad = await cli(['serve', '--out', netnsTree, '--reinstall', 'nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/no node 'nope'/);
  }, 300_000);
});

/** The node's installer started from its own preseed and answered the early questions itself. */
async function expectInstallerStarted(vm: NetbootVm, node: string, address: string) {
  await vm.waitFor('console', new RegExp(`personal-cloud: preseed for ${node} loaded`), BOOT_TIMEOUT);
  await vm.waitFor('syslog', /preseed: successfully loaded preseed file from file:\/\/\/preseed\.cfg/, 60_000);
  await vm.waitFor('syslog', new RegExp(`ip addr add ${address.replace(/\./g, '\\.')}/24`), 240_000);
  await vm.waitFor('syslog', /netcfg\[\d+\]: DEBUG: Writing static IPv4 stanza/, 120_000);
  const log = vm.read('syslog');
  expect(log).toMatch(/debconf: Setting debconf\/priority to critical/);
  expect(log).not.toMatch(/debconf: .*(localechooser|keyboard-configuration|netcfg\/get_hostname).* seen false/);
}

describe.concurrent('network boot in QEMU through its built-in TFTP', () => {
  it('BIOS (SeaBIOS + iPXE ROM → pxelinux): node1 gets its per-MAC entry and installs unattended up to the mirror', async () => {
    const dir = await mkdtemp(join(work, 'vm-bios-'));
    const vm = await netbootVm({ firmware: 'bios', workDir: dir, mac: '52:54:00:12:34:11', net: { kind: 'user', tftp: tree, bootfile: 'pxelinux.0' } });
    try {
      await vm.waitFor('console', /PXELINUX 6\.04/, 120_000);
      await vm.waitFor('console', /personal-cloud: qemulab \/ node1/, 120_000);
      await expectInstallerStarted(vm, 'node1', '10.0.2.15');
      await vm.waitFor('syslog', /Menu item 'choose-mirror' selected/, 120_000);
    } finally {
      await vm.stop();
    }
  }, BOOT_TIMEOUT + 600_000);

  it('UEFI (OVMF → signed shim → GRUB netboot): node2 gets grub.cfg-01-<mac> and installs unattended up to the mirror', async () => {
    const dir = await mkdtemp(join(work, 'vm-uefi-'));
    const vm = await netbootVm({ firmware: 'uefi', workDir: dir, mac: '52:54:00:12:34:12', net: { kind: 'user', tftp: tree, bootfile: 'debian-installer/amd64/bootnetx64.efi' } });
    try {
      await vm.waitFor('console', /personal-cloud: qemulab \/ node2/, 240_000);
      await expectInstallerStarted(vm, 'node2', '10.0.2.16');
      expect(vm.read('syslog')).toMatch(/Command line: .*pc\.pxe-server=10\.0\.2\.2 /);
      await vm.waitFor('syslog', /Menu item 'choose-mirror' selected/, 120_000);
    } finally {
      await vm.stop();
    }
  }, BOOT_TIMEOUT + 600_000);
});

// Not concurrent: vitest would batch these with the two boots above (at most two QEMUs at once).
describe('menu for unknown machines, and serve with real dnsmasq', () => {
  it('an unknown MAC gets the menu and falls back to its local disk', async () => {
    const dir = await mkdtemp(join(work, 'vm-unknown-'));
    const vm = await netbootVm({ firmware: 'bios', workDir: dir, mac: '52:54:00:99:99:99', bootSector: serialBootSector('PC-TEST: booted from the local disk'), net: { kind: 'user', tftp: tree, bootfile: 'pxelinux.0' } });
    try {
      await vm.waitFor('console', /personal-cloud: qemulab \(unknown machine\)/, 120_000);
      expect(vm.read('console')).toMatch(/Install as node1/);
      await vm.waitFor('console', /PC-TEST: booted from the local disk/, 120_000);
      expect(vm.read('console')).not.toMatch(/preseed for/);
    } finally {
      await vm.stop();
    }
  }, 300_000);

  it('serve in a namespace: refuses full DHCP next to another DHCP server, then serves DHCP+TFTP to a QEMU guest on a tap, logs it, flips it on its report, stops on Ctrl-C', async () => {
    let net: PxeNet | undefined;
    let vm: NetbootVm | undefined;
    let serve: ResultPromise | undefined;
    let other: ResultPromise | undefined;
    try {
      net = await createPxeNet();
      other = execa('ip', ['netns', 'exec', net.other, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--interface=voth',
        '--dhcp-range=10.78.0.100,10.78.0.150,1h', `--dhcp-leasefile=${join(work, 'other.leases')}`, `--pid-file=${join(work, 'other.pid')}`, '--log-facility=-'], { reject: false });
      await new Promise((r) => setTimeout(r, 1000));
      const refused = await execa('ip', ['netns', 'exec', net.server, 'node', BIN, 'serve', '--out', netnsTree, '--interface', 'br0', '--dhcp', 'full'], { reject: false, timeout: 60_000 });
      expect(refused.exitCode).toBe(6);
      expect(refused.stderr).toMatch(/a DHCP server \(10\.78\.0\.2\) already answers on br0/);
      other.kill('SIGTERM');
      await other;

      serve = execa('ip', ['netns', 'exec', net.server, 'node', BIN, 'serve', '--out', netnsTree, '--interface', 'br0', '--dhcp', 'full'], { reject: false, all: true });
      let log = '';
      serve.all!.on('data', (d: Buffer) => { log += d.toString(); });
      const until = async (re: RegExp, ms: number) => {
        const end = Date.now() + ms;
        while (!re.test(log)) {
          if (Date.now() > end) throw new Error(`serve never printed ${re}:\n${log.slice(-3000)}`);
          await new Promise((r) => setTimeout(r, 500));
        }
      };
      await until(/serve: DHCP \+ TFTP on br0 \(10\.78\.0\.0\/24\)/, 30_000);
      await until(/dnsmasq.*started/i, 30_000);
      expect(await read(netnsTree, 'pxelinux.cfg/01-52-54-00-78-00-11')).toContain('pc.pxe-server=10.78.0.1 ');

      const dir = await mkdtemp(join(work, 'vm-netns-'));
      vm = await netbootVm({ firmware: 'bios', workDir: dir, mac: '52:54:00:78:00:11', net: { kind: 'tap', netns: net.server, ifname: net.tap } });
      // QEMU's PXE ROM is iPXE: it says so (option 175) and dnsmasq hands it boot.ipxe.
      await until(/serve: pxe1 52:54:00:78:00:11 \(10\.78\.0\.11\): DHCPACK/, 180_000);
      await until(/serve: pxe1 52:54:00:78:00:11 \(10\.78\.0\.11\) fetched boot\.ipxe/, 60_000);
      await until(/serve: pxe1 52:54:00:78:00:11 \(10\.78\.0\.11\) fetched ipxe\/01-52-54-00-78-00-11\.ipxe/, 60_000);
      await until(/serve: pxe1 52:54:00:78:00:11 \(10\.78\.0\.11\) fetched nodes\/pxe1\/initrd\.gz/, 240_000);
      await expectInstallerStarted(vm, 'pxe1', '10.78.0.11');
      expect(log).not.toMatch(/fetched ipxe\/default\.ipxe/);
      const cmdline = /Command line: (.*)/.exec(vm.read('syslog'))![1];
      expect(cmdline).toContain('pc.pxe-server=10.78.0.1 ');
      await vm.stop();
      vm = undefined;

      // What late_command does once the install is done, from the node's address on that network.
      const x = join(work, 'x-pxe1');
      await extractMember(join(netnsTree, 'nodes/pxe1/initrd.gz'), 2, x);
      await writeFile(join(work, 'cmdline-pxe1'), `${cmdline}\n`);
      await execa('ip', ['netns', 'exec', net.other, 'sh', join(REPO_ROOT, 'preseed/scripts/report-installed.sh')], { env: { PC_PXE_DIR: join(x, 'personal-cloud/pxe'), PC_CMDLINE: join(work, 'cmdline-pxe1'), PC_CONSOLE: join(work, 'report-pxe1') } });
      await until(/serve: pxe1 52:54:00:78:00:11 reported installed/, 10_000);
      expect(await read(netnsTree, 'pxelinux.cfg/01-52-54-00-78-00-11')).toMatch(/^DEFAULT local$/m);

      serve.kill('SIGINT');
      const r = await serve;
      expect(r.exitCode).toBe(0);
      expect(log).toMatch(/serve: stopped/);
      const left = await execa('ip', ['netns', 'pids', net.server]);
      expect(String(left.stdout).trim()).toBe('');
      serve = undefined;
    } finally {
      await vm?.stop();
      if (serve) { serve.kill('SIGKILL'); await serve; }
      if (other) { other.kill('SIGKILL'); await other; }
      await net?.teardown();
    }
  }, BOOT_TIMEOUT + 300_000);
});
