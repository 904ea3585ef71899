import { execa, type ResultPromise } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/installer-cache.js';
import { netbootVm, serialBootSector, type NetbootVm } from './helpers/qemu-netboot.js';
import { createPxeNet, type PxeNet } from './helpers/pxe-netns.js';
import {
  CLI_BIN, PXE_CONFIG, PXE_NETNS_CONFIG, buildPxeTree, extractMember, readText as read, waitForText,
} from './helpers/pxe-tree.js';

// Network boots (QEMU TCG) of the PXE tree `build pxe` makes from the real
// debian-installer-13-netboot-amd64 package: through QEMU's built-in TFTP (BIOS and UEFI), and
// through `serve` (real dnsmasq) in network namespaces with the guest on a tap device — as the
// only DHCP server (BIOS, iPXE ROM), and as proxy-DHCP next to the network's own DHCP server
// (UEFI, OVMF's PXE). Assertions follow the installer's serial console and its syslog (2nd
// serial port); a guest is stopped as soon as its installer has answered the early questions
// (language, keyboard, hostname, network) from its node's preseed. The tree itself (files,
// payload, manifest, dnsmasq --test, refusals) is checked without QEMU in pxe-tree.test.ts.

const BOOT_TIMEOUT = 420_000;
/** All scenarios start together; at most two guests run at once (TCG: one core each). */
const SCENARIO_TIMEOUT = 40 * 60_000;

let work: string;
let tree: string;
let netnsTree: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pc-pxe-'));
  tree = join(work, 'tree');
  netnsTree = join(work, 'netns-tree');
  await buildPxeTree(PXE_CONFIG, tree);
  await buildPxeTree(PXE_NETNS_CONFIG, netnsTree);
}, 900_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function limiter(slots: number) {
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (slots > 0) slots--; else await new Promise<void>((r) => waiting.push(r));
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next(); else slots++;
    }
  };
}
const guestSlot = limiter(2);

/** The node's installer started from its own preseed and answered the early questions itself. */
async function expectInstallerStarted(vm: NetbootVm, node: string, address: string) {
  await vm.waitFor('console', new RegExp(`personal-cloud: preseed for ${node} loaded`), BOOT_TIMEOUT);
  await vm.waitFor('syslog', /preseed: successfully loaded preseed file from file:\/\/\/preseed\.cfg/, 60_000);
  await vm.waitFor('syslog', new RegExp(`ip addr add ${address.replace(/\./g, '\\.')}/24`), 240_000);
  await vm.waitFor('syslog', /netcfg\[\d+\]: DEBUG: Writing static IPv4 stanza/, 120_000);
  const log = vm.read('syslog');
  expect(log).toMatch(/Command line: .*auto=true priority=critical/);
  expect(log).toMatch(/debconf: Setting debconf\/priority to critical/);
  expect(log).not.toMatch(/debconf: .*(localechooser|keyboard-configuration|netcfg\/get_hostname).* seen false/);
}

/** `personal-cloud serve` in the server namespace, its output collected. */
function startServe(net: PxeNet, args: string[]) {
  const proc = execa('ip', ['netns', 'exec', net.server, 'node', CLI_BIN, 'serve', '--out', netnsTree, '--interface', 'br0', ...args], { reject: false, all: true });
  let log = '';
  proc.all!.on('data', (d: Buffer) => { log += d.toString(); });
  return { proc, log: () => log, until: (re: RegExp, ms: number) => waitForText(() => log, re, ms, 'serve') };
}

/** The network's own DHCP server on the other host: plain dnsmasq, addresses only, no boot options. */
async function startOtherDhcp(net: PxeNet) {
  const proc = execa('ip', ['netns', 'exec', net.other, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--interface=voth', '--log-dhcp',
    '--dhcp-range=10.78.0.100,10.78.0.150,1h', `--dhcp-leasefile=${join(work, `${net.other}.leases`)}`, `--pid-file=${join(work, `${net.other}.pid`)}`, '--log-facility=-'], { reject: false, all: true });
  let log = '';
  proc.all!.on('data', (d: Buffer) => { log += d.toString(); });
  await waitForText(() => log, /DHCP, IP range 10\.78\.0\.100/, 20_000, 'the other DHCP server');
  return { proc, log: () => log };
}

describe.concurrent('network boot in QEMU (TCG)', () => {
  it('BIOS through QEMU\'s TFTP (SeaBIOS + iPXE ROM → pxelinux): node1 gets its per-MAC entry and its installer answers the early questions itself', () => guestSlot(async () => {
    const vm = await netbootVm({ firmware: 'bios', workDir: await mkdtemp(join(work, 'vm-bios-')), mac: '52:54:00:12:34:11', net: { kind: 'user', tftp: tree, bootfile: 'pxelinux.0' } });
    try {
      await vm.waitFor('console', /PXELINUX 6\.04/, 120_000);
      await vm.waitFor('console', /personal-cloud: qemulab \/ node1/, 120_000);
      await expectInstallerStarted(vm, 'node1', '10.0.2.15');
    } finally {
      await vm.stop();
    }
  }), SCENARIO_TIMEOUT);

  it('UEFI through QEMU\'s TFTP (OVMF → signed shim → GRUB netboot): node2 gets grub.cfg-01-<mac> and its installer answers the early questions itself', () => guestSlot(async () => {
    const vm = await netbootVm({ firmware: 'uefi', workDir: await mkdtemp(join(work, 'vm-uefi-')), mac: '52:54:00:12:34:12', net: { kind: 'user', tftp: tree, bootfile: 'debian-installer/amd64/bootnetx64.efi' } });
    try {
      await vm.waitFor('console', /personal-cloud: qemulab \/ node2/, 240_000);
      await expectInstallerStarted(vm, 'node2', '10.0.2.16');
      expect(vm.read('syslog')).toMatch(/Command line: .*pc\.pxe-server=10\.0\.2\.2 /);
    } finally {
      await vm.stop();
    }
  }), SCENARIO_TIMEOUT);

  it('serve, full DHCP + TFTP (real dnsmasq) in a namespace, BIOS guest on a tap: pxe1 installs, serve names it, its report flips it to local boot, Ctrl-C stops', () => guestSlot(async () => {
    let net: PxeNet | undefined;
    let vm: NetbootVm | undefined;
    let serve: ReturnType<typeof startServe> | undefined;
    try {
      net = await createPxeNet();
      serve = startServe(net, ['--dhcp', 'full']);
      await serve.until(/serve: DHCP \+ TFTP on br0 \(10\.78\.0\.0\/24\)/, 60_000);
      await serve.until(/dnsmasq.*started/i, 30_000);
      expect(await read(netnsTree, 'pxelinux.cfg/01-52-54-00-78-00-11')).toContain('pc.pxe-server=10.78.0.1 ');

      vm = await netbootVm({ firmware: 'bios', workDir: await mkdtemp(join(work, 'vm-full-')), mac: '52:54:00:78:00:11', net: { kind: 'tap', netns: net.server, ifname: net.tap } });
      // QEMU's PXE ROM is iPXE: it says so (option 175) and dnsmasq hands it boot.ipxe.
      await serve.until(/serve: pxe1 52:54:00:78:00:11 \(10\.78\.0\.11\): DHCPACK/, 180_000);
      await serve.until(/serve: pxe1 52:54:00:78:00:11 \(10\.78\.0\.11\) fetched boot\.ipxe/, 60_000);
      await serve.until(/serve: pxe1 52:54:00:78:00:11 \(10\.78\.0\.11\) fetched ipxe\/01-52-54-00-78-00-11\.ipxe/, 60_000);
      await serve.until(/serve: pxe1 52:54:00:78:00:11 \(10\.78\.0\.11\) fetched nodes\/pxe1\/initrd\.gz/, 600_000);
      await expectInstallerStarted(vm, 'pxe1', '10.78.0.11');
      expect(serve.log()).not.toMatch(/fetched ipxe\/default\.ipxe/);
      const cmdline = /Command line: (.*)/.exec(vm.read('syslog'))![1];
      expect(cmdline).toContain('pc.pxe-server=10.78.0.1 ');
      await vm.stop();
      vm = undefined;

      // What late_command does once the install is done, from another address on that network.
      const x = join(work, 'x-pxe1');
      await extractMember(join(netnsTree, 'nodes/pxe1/initrd.gz'), 2, x);
      await writeFile(join(work, 'cmdline-pxe1'), `${cmdline}\n`);
      await execa('ip', ['netns', 'exec', net.other, 'sh', join(REPO_ROOT, 'preseed/scripts/report-installed.sh')], { env: { PC_PXE_DIR: join(x, 'personal-cloud/pxe'), PC_CMDLINE: join(work, 'cmdline-pxe1'), PC_CONSOLE: join(work, 'report-pxe1') } });
      await serve.until(/serve: pxe1 52:54:00:78:00:11 reported installed/, 10_000);
      expect(await read(netnsTree, 'pxelinux.cfg/01-52-54-00-78-00-11')).toMatch(/^DEFAULT local$/m);
      expect(await read(netnsTree, 'ipxe/01-52-54-00-78-00-11.ipxe')).toMatch(/choose --default local /);

      serve.proc.kill('SIGINT');
      const r = await serve.proc;
      expect(r.exitCode).toBe(0);
      expect(serve.log()).toMatch(/serve: stopped/);
      expect(String((await execa('ip', ['netns', 'pids', net.server])).stdout).trim()).toBe('');
      serve = undefined;
    } finally {
      await vm?.stop();
      if (serve) { serve.proc.kill('SIGKILL'); await serve.proc; }
      await net?.teardown();
    }
  }), SCENARIO_TIMEOUT);

  it('serve, proxy-DHCP next to the network\'s own DHCP server (real dnsmasq ×2) in a namespace, UEFI guest (firmware PXE) on a tap: the other server gives the address, ours the boot file by arch (shim → GRUB), pxe2 installs', () => guestSlot(async () => {
    let net: PxeNet | undefined;
    let vm: NetbootVm | undefined;
    let serve: ReturnType<typeof startServe> | undefined;
    let other: Awaited<ReturnType<typeof startOtherDhcp>> | undefined;
    try {
      net = await createPxeNet();
      other = await startOtherDhcp(net);
      serve = startServe(net, ['--dhcp', 'proxy']);
      await serve.until(/serve: proxy-DHCP \+ TFTP on br0 \(10\.78\.0\.0\/24\)/, 60_000);
      await serve.until(/DHCP, proxy on subnet 10\.78\.0\.0/, 30_000);

      // OVMF's own PXE client (no iPXE ROM): what a PC's UEFI firmware does.
      vm = await netbootVm({ firmware: 'uefi', firmwarePxe: true, workDir: await mkdtemp(join(work, 'vm-proxy-')), mac: '52:54:00:78:00:12', net: { kind: 'tap', netns: net.server, ifname: net.tap } });
      // The address comes from the network's own server (its range, not pxe2's address from cluster.yaml)...
      const lease = await waitForText(other.log, /DHCPACK\(voth\) (10\.78\.0\.1[0-5]\d) 52:54:00:78:00:12/, 240_000, 'the other DHCP server');
      // ...the boot file from ours: OVMF says it is x86-64 UEFI (option 93), so it gets the signed shim, then GRUB.
      await serve.until(/fetched debian-installer\/amd64\/bootnetx64\.efi/, 120_000);
      await serve.until(/fetched debian-installer\/amd64\/grubx64\.efi/, 120_000);
      await serve.until(/fetched debian-installer\/amd64\/grub\/grub\.cfg-01-52-54-00-78-00-12/, 180_000);
      await serve.until(/fetched nodes\/pxe2\/initrd\.gz/, 600_000);
      await vm.waitFor('console', /personal-cloud: pxelab \/ pxe2/, 60_000);
      await expectInstallerStarted(vm, 'pxe2', '10.78.0.12');
      const log = serve.log();
      expect(log).not.toMatch(/fetched pxelinux\.0|fetched boot\.ipxe/);
      expect(log).toMatch(new RegExp(`${lease[1].replace(/\./g, '\\.')} fetched debian-installer/amd64/bootnetx64\\.efi|pxe2 52:54:00:78:00:12 \\(${lease[1].replace(/\./g, '\\.')}\\) fetched debian-installer/amd64/bootnetx64\\.efi`));
      // Ours never handed out an address.
      expect(log).not.toMatch(/DHCPACK|DHCPOFFER/);
      // GRUB tells the installer where its boot server is (for the "installed" report): ours, not the DHCP server.
      expect(vm.read('syslog')).toMatch(/Command line: .*pc\.pxe-server=10\.78\.0\.1 /);
      await vm.stop();
      vm = undefined;

      serve.proc.kill('SIGINT');
      expect((await serve.proc).exitCode).toBe(0);
      serve = undefined;
    } finally {
      await vm?.stop();
      if (serve) { serve.proc.kill('SIGKILL'); await serve.proc; }
      if (other) { other.proc.kill('SIGTERM'); await other.proc; }
      await net?.teardown();
    }
  }), SCENARIO_TIMEOUT);

  it('an unknown MAC gets the menu and, untouched, falls back to its local disk', () => guestSlot(async () => {
    const vm = await netbootVm({ firmware: 'bios', workDir: await mkdtemp(join(work, 'vm-unknown-')), mac: '52:54:00:99:99:99', bootSector: serialBootSector('PC-TEST: booted from the local disk'), net: { kind: 'user', tftp: tree, bootfile: 'pxelinux.0' } });
    try {
      await vm.waitFor('console', /personal-cloud: qemulab \(unknown machine\)/, 120_000);
      const menu = vm.read('console');
      for (const n of ['node1', 'node2', 'node3']) expect(menu).toMatch(new RegExp(`Install as ${n}`));
      await vm.waitFor('console', /PC-TEST: booted from the local disk/, 120_000);
      const log = vm.read('console');
      expect(log).not.toMatch(/preseed for|Loading debian-installer/);
      // The disk came after the menu, not instead of it.
      expect(log.indexOf('PC-TEST: booted from the local disk')).toBeGreaterThan(log.indexOf('(unknown machine)'));
    } finally {
      await vm.stop();
    }
  }), SCENARIO_TIMEOUT);
});
