import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';
import { REPO_ROOT, SHARED_INSTALLER_CACHE, sharedInstaller } from './helpers/installer-cache.js';
import { existsSync } from 'node:fs';
import { bootVm, OVMF_SECBOOT_CODE, writtenRanges, type Vm } from './helpers/qemu.js';

// Boots our images in QEMU (TCG) and follows the real Debian installer through its serial
// console and its syslog (streamed to the 2nd serial port). The archive reachable here serves
// no .udeb files, so an install stops at "Download installer components": everything up to
// there — preseed found, no question asked for language, keyboard, network, hostname, mirror —
// is asserted. On a normal mirror the same image installs completely (make e2e-installer).

const CONFIG = join(REPO_ROOT, 'test/fixtures/iso/cluster.yaml');
const BOOT_TIMEOUT = 420_000;

let work: string;
const images: Record<string, string> = {};

async function buildImages(release: 'trixie' | 'bookworm', out: string, args: string[]) {
  let config = CONFIG;
  if (release === 'bookworm') {
    const fs = await import('node:fs/promises');
    config = join(work, 'bookworm.yaml');
    await fs.writeFile(config, (await fs.readFile(CONFIG, 'utf8')).replace('release: trixie', 'release: bookworm'));
  }
  const r = await cli(['build', '--config', config, '--out', out, '--cache', SHARED_INSTALLER_CACHE, '--console', 'serial', '--serial-log', '--json', ...args]);
  if (r.code !== 0) throw new Error(`build failed: ${r.stderr}`);
  return JSON.parse(r.stdout).outputs as { file: string; target: string }[];
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pc-boot-'));
  await sharedInstaller('trixie');
  await sharedInstaller('bookworm');
  const trixie = await buildImages('trixie', join(work, 'trixie'), []);
  for (const o of trixie) images[`trixie-${o.target}`] = o.file;
  const bookworm = await buildImages('bookworm', join(work, 'bookworm'), ['--node', 'node2']);
  images['bookworm-node2'] = bookworm[0].file;
}, 900_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The installer got from boot to the mirror with our answers and asked nothing on the way. */
async function expectUnattendedUpToMirror(vm: Vm, node: string, address: string, release: string) {
  await vm.waitFor('console', new RegExp(`personal-cloud: preseed for ${node} loaded`), BOOT_TIMEOUT);
  await vm.waitFor('syslog', /preseed: successfully loaded preseed file from file:\/\/\/preseed\.cfg/, 60_000);
  await vm.waitFor('syslog', new RegExp(`ip addr add ${address.replace(/\./g, '\\.')}/24`), 240_000);
  await vm.waitFor('syslog', /netcfg\[\d+\]: DEBUG: Writing static IPv4 stanza/, 120_000);
  await vm.waitFor('syslog', /Menu item 'choose-mirror' selected/, 120_000);
  await vm.waitFor('syslog', new RegExp(`choose-mirror.*dists/${release}/`), 120_000);
  await vm.waitFor('syslog', /Menu item 'download-installer' selected/, 120_000);
  const log = vm.read('syslog');
  // localechooser, keyboard, netcfg and hostname ran from the preseed: no debconf question was shown
  expect(log).not.toMatch(/debconf: .*(localechooser|keyboard-configuration|netcfg\/get_hostname).* seen false/);
  expect(log).toMatch(/Kernel command line:.*auto=true priority=critical/);
}

describe.concurrent('installer boot in QEMU', () => {
  it('BIOS (SeaBIOS, El Torito): trixie node1 image installs unattended up to the mirror', async () => {
    const dir = await mkdtemp(join(work, 'vm-bios-'));
    const vm = await bootVm({ image: images['trixie-node1'], firmware: 'bios', workDir: dir, mac: '52:54:00:12:34:11', disksGiB: [20, 100] });
    try {
      await vm.waitFor('console', /personal-cloud: qemulab \/ node1/, 120_000); // our isolinux menu
      await expectUnattendedUpToMirror(vm, 'node1', '10.0.2.15', 'trixie');
    } finally {
      await vm.stop();
    }
  }, BOOT_TIMEOUT + 600_000);

  it("BIOS: node1's stick on a PC without node1's network card says so before netcfg, powers off on Continue, touches no disk", async () => {
    const dir = await mkdtemp(join(work, 'vm-wrongpc-'));
    const vm = await bootVm({ image: images['trixie-node1'], firmware: 'bios', workDir: dir, mac: '52:54:00:aa:bb:cc', disksGiB: [20, 100] });
    try {
      const why = /This stick installs node1 \(network card 52:54:00:12:34:11\), but this PC's network card is 52:54:00:aa:bb:cc \(\w+\)\./;
      const todo = /Use the universal stick, or fix node1's mac in cluster\.yaml and rebuild\./;
      for (const log of ['console', 'syslog'] as const) {
        await vm.waitFor(log, new RegExp(`personal-cloud: ERROR: not installing: ${why.source}`), log === 'console' ? BOOT_TIMEOUT : 60_000);
        await vm.waitFor(log, new RegExp(`personal-cloud: ERROR: not installing: ${todo.source}`), 60_000);
      }
      // the installer's own error screen (here on the serial console) and nothing after it
      await vm.waitFor('console', /Not installing: this PC is not the one this installer is for/, 120_000);
      await new Promise((r) => setTimeout(r, 30_000));
      const logs = vm.read('console') + vm.read('syslog');
      expect(logs).not.toMatch(/Configure the network|Installation step failed|Menu item 'netcfg' selected/);
      expect(logs).not.toMatch(/powering off/); // the error waits for the user
      await vm.type('\r'); // Continue
      await vm.waitFor('console', /personal-cloud: powering off \(nothing was installed\)/, 60_000);
      expect(await vm.exited(60_000)).toBe(0);
      expect(vm.read('console') + vm.read('syslog')).not.toMatch(/Configure the network|Menu item 'netcfg' selected/);
    } finally {
      await vm.stop();
    }
    for (const disk of vm.disks) expect(await writtenRanges(disk)).toEqual([]);
  }, BOOT_TIMEOUT + 600_000);

  it('UEFI (OVMF, image as a USB stick): the universal image picks node3 by its MAC', async () => {
    const dir = await mkdtemp(join(work, 'vm-uefi-'));
    const vm = await bootVm({ image: images['trixie-universal'], firmware: 'uefi', workDir: dir, mac: '52:54:00:12:34:13', disksGiB: [20, 100] });
    try {
      await expectUnattendedUpToMirror(vm, 'node3', '10.0.2.17', 'trixie');
      expect(vm.read('console')).toMatch(/installing node node3 \(matched MAC 52:54:00:12:34:13\)/);
    } finally {
      await vm.stop();
    }
  }, BOOT_TIMEOUT + 600_000);
});

// Secure Boot on, Microsoft's keys: shim (signed by Microsoft), GRUB and the kernel (signed by
// Debian) of the release's own packages must each pass verification for the installer to start.
describe('Secure Boot', () => {
  it('UEFI with Secure Boot on: the trixie node1 image boots trixie\'s shim and GRUB into the installer', async () => {
    // the claim needs the enforcing firmware (package ovmf): missing is a failure, never a skip
    expect(existsSync(OVMF_SECBOOT_CODE), `${OVMF_SECBOOT_CODE} (apt-get install ovmf)`).toBe(true);
    const dir = await mkdtemp(join(work, 'vm-sb-'));
    const vm = await bootVm({ image: images['trixie-node1'], firmware: 'uefi-secureboot', workDir: dir, mac: '52:54:00:12:34:11', disksGiB: [20, 100] });
    try {
      await vm.waitFor('console', /personal-cloud: preseed for node1 loaded/, BOOT_TIMEOUT);
      await vm.waitFor('syslog', /Secure boot enabled/, 60_000);
    } finally {
      await vm.stop();
    }
  }, BOOT_TIMEOUT + 300_000);
});

describe('bookworm installer boot', () => {
  it('BIOS: bookworm node2 image installs unattended up to the mirror', async () => {
    const dir = await mkdtemp(join(work, 'vm-bw-'));
    const vm = await bootVm({ image: images['bookworm-node2'], firmware: 'bios', workDir: dir, mac: '52:54:00:12:34:12', disksGiB: [20, 100] });
    try {
      await expectUnattendedUpToMirror(vm, 'node2', '10.0.2.16', 'bookworm');
    } finally {
      await vm.stop();
    }
  }, BOOT_TIMEOUT + 600_000);
});
