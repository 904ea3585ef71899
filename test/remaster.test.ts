import { execa } from 'execa';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeHybridIso } from '../src/write/iso.js';
import { cli } from './helpers/cli.js';
import { REPO_ROOT, SHARED_INSTALLER_CACHE, sharedInstaller, sharedLoaders } from './helpers/installer-cache.js';
import { bootVm } from './helpers/qemu.js';

// `build --base-iso`: an official netinst cannot be downloaded here, so the base is a bootable
// image laid out like Debian's netinst (install.amd/, .disk/info, isolinux with vesamenu and
// an include'd menu, GRUB) built from the real netboot kernel and initrd. The remaster must keep
// its boot records byte for byte and boot our entry by default.

const CONFIG = join(REPO_ROOT, 'test/fixtures/iso/cluster.yaml');
let work: string;
let base: string;

/** El Torito records without the load LBA (the last column), which moves when files are added. */
function bootRecords(report: string): string[] {
  return report.split('\n')
    .filter((l) => /^El Torito (boot img|img path|img opts|img blks|hdsiz\/512|cat path)/.test(l))
    .map((l) => (l.startsWith('El Torito boot img') ? l.replace(/\s+\d+\s*$/, '') : l));
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pc-remaster-'));
  const installer = await sharedInstaller('trixie');
  base = join(work, 'debian-13-netinst.iso');
  // vesamenu of the same syslinux build as the release's ldlinux (the netboot tree carries both).
  const vesamenu = join(work, 'vesamenu.c32');
  await copyFile(join(installer.dir, 'boot-screens', 'vesamenu.c32'), vesamenu);
  await writeHybridIso({
    out: base,
    loaders: await sharedLoaders('trixie', 'iso'),
    volumeId: 'Debian 13.0.0 amd64 n',
    epoch: 1750000000,
    files: [
      { isoPath: '.disk/info', source: Buffer.from('Debian GNU/Linux 13.0.0 "Trixie" - Official amd64 NETINST with firmware 20250809-11:21\n') },
      { isoPath: 'install.amd/vmlinuz', source: installer.linux },
      { isoPath: 'install.amd/initrd.gz', source: installer.initrd },
      { isoPath: 'isolinux/vesamenu.c32', source: vesamenu },
      { isoPath: 'isolinux/isolinux.cfg', source: Buffer.from('path\ninclude menu.cfg\ndefault vesamenu.c32\nprompt 0\ntimeout 0\n') },
      { isoPath: 'isolinux/menu.cfg', source: Buffer.from('menu title Debian GNU/Linux installer menu (BIOS mode)\nlabel install\n  menu label ^Install\n  kernel /install.amd/vmlinuz\n  append vga=788 initrd=/install.amd/initrd.gz --- quiet\n') },
      { isoPath: 'boot/grub/grub.cfg', source: Buffer.from("menuentry 'Install' {\n    linux /install.amd/vmlinuz vga=788 --- quiet\n    initrd /install.amd/initrd.gz\n}\n") },
    ],
  });
}, 600_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('remastering a Debian installer ISO', () => {
  let image: string;

  beforeAll(async () => {
    const r = await cli(['build', '--config', CONFIG, '--base-iso', base, '--node', 'node1', '--console', 'serial', '--serial-log', '--out', join(work, 'out'), '--cache', SHARED_INSTALLER_CACHE, '--json'], { env: { SOURCE_DATE_EPOCH: '1750000000' } });
    if (r.code !== 0) throw new Error(r.stderr);
    image = JSON.parse(r.stdout).outputs[0].file;
  }, 600_000);

  it('keeps the original El Torito boot records (replayed, not rebuilt)', async () => {
    const report = async (iso: string) => (await execa('xorriso', ['-indev', iso, '-report_el_torito', 'plain'])).stdout;
    expect(bootRecords(await report(image))).toEqual(bootRecords(await report(base)));
    expect(bootRecords(await report(image)).length).toBeGreaterThan(4);
    // and the EFI boot image itself is the original, byte for byte
    const efi = async (iso: string, name: string) => {
      const dest = join(work, name);
      await execa('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/boot/grub/efi.img', dest]);
      return readFile(dest);
    };
    expect((await efi(image, 'efi-new.img')).equals(await efi(base, 'efi-base.img'))).toBe(true);
  });

  it('puts our entry first and keeps the original menus reachable', async () => {
    const extract = async (p: string) => {
      const dest = join(work, `x-${p.replace(/\//g, '_')}`);
      await execa('xorriso', ['-osirrox', 'on', '-indev', image, '-extract', p, dest]);
      return readFile(dest, 'utf8');
    };
    const isolinux = await extract('/isolinux/isolinux.cfg');
    expect(isolinux).toMatch(/UI vesamenu\.c32/);
    expect(isolinux).toMatch(/DEFAULT install/);
    expect(isolinux).toContain('INITRD /install.amd/personal-cloud/initrd.gz');
    expect(isolinux).toContain('CONFIG /isolinux/debian-isolinux.cfg');
    expect(await extract('/isolinux/debian-isolinux.cfg')).toContain('include menu.cfg');
    const grub = await extract('/boot/grub/grub.cfg');
    expect(grub.indexOf('Install node1')).toBeLessThan(grub.indexOf("menuentry 'Install' {"));
    expect(grub).toMatch(/set default=0/);
  });

  it('boots our unattended entry by default (BIOS)', async () => {
    const vm = await bootVm({ image, firmware: 'bios', workDir: await mkdtemp(join(work, 'vm-')), mac: '52:54:00:12:34:11', disksGiB: [20, 100] });
    try {
      await vm.waitFor('console', /personal-cloud: preseed for node1 loaded/, 420_000);
      await vm.waitFor('syslog', /ip addr add 10\.0\.2\.15\/24/, 240_000);
      await vm.waitFor('syslog', /Menu item 'choose-mirror' selected/, 180_000);
    } finally {
      await vm.stop();
    }
    expect(await readFile(image)).toBeTruthy();
  }, 900_000);
});
