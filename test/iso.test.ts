import { execa } from 'execa';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';
import { REPO_ROOT, SHARED_INSTALLER_CACHE, packageFile, sharedInstaller, sharedLoaders } from './helpers/installer-cache.js';
import type { Release } from '../core/config-types.js';

// Real images from the real debian-installer netboot package, built by the CLI with real xorriso.

const CONFIG = join(REPO_ROOT, 'test/fixtures/iso/cluster.yaml');
const SECRET = 'pcs1_iso-test-secret-Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0';
const EPOCH = '1750000000';

let work: string;

async function build(out: string, extra: string[] = [], env: Record<string, string> = {}) {
  const r = await cli(['build', '--config', CONFIG, '--out', out, '--cache', SHARED_INSTALLER_CACHE, '--json', ...extra], { env: { SOURCE_DATE_EPOCH: EPOCH, ...env } });
  if (r.code !== 0) throw new Error(`build failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as { outputs: { file: string; target: string; sha256: string; size: number }[]; manifest: string };
}

async function extract(iso: string, path: string, dest: string): Promise<Buffer> {
  await execa('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', path, dest]);
  return readFile(dest);
}

/** The image's boot loaders: the ESP's shim, MokManager and GRUB, isolinux and its modules, the hybrid MBR. */
async function imageLoaders(iso: string, dir: string): Promise<Record<string, Buffer>> {
  const efi = await extract(iso, '/boot/grub/efi.img', join(dir, 'efi.img')).then(() => join(dir, 'efi.img'));
  const esp = async (name: string) => {
    await execa('mcopy', ['-n', '-i', efi, `::/EFI/boot/${name}`, join(dir, name)], { env: { MTOOLS_SKIP_CHECK: '1' } });
    return readFile(join(dir, name));
  };
  const head = Buffer.alloc(432);
  const fh = await import('node:fs/promises').then((fs) => fs.open(iso));
  await fh.read(head, 0, 432, 0);
  await fh.close();
  const out: Record<string, Buffer> = {
    'usr/lib/shim/shimx64.efi.signed': await esp('bootx64.efi'),
    'usr/lib/shim/mmx64.efi.signed': await esp('mmx64.efi'),
    'usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed': await esp('grubx64.efi'),
    // xorriso patches the MBR's partition table and isolinux.bin's boot info table: compare the code parts.
    'usr/lib/ISOLINUX/isohdpfx.bin': head.subarray(0, 0x1b8 - 0x20),
    'usr/lib/ISOLINUX/isolinux.bin': (await extract(iso, '/isolinux/isolinux.bin', join(dir, 'isolinux.bin'))).subarray(64),
  };
  for (const m of ['ldlinux', 'libcom32', 'libutil', 'menu']) out[`usr/lib/syslinux/modules/bios/${m}.c32`] = await extract(iso, `/isolinux/${m}.c32`, join(dir, `${m}.c32`));
  return out;
}

const PACKAGE_OF: Record<string, string> = {
  'usr/lib/shim/shimx64.efi.signed': 'shim-signed',
  'usr/lib/shim/mmx64.efi.signed': 'shim-helpers-amd64-signed',
  'usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed': 'grub-efi-amd64-signed',
  'usr/lib/ISOLINUX/isohdpfx.bin': 'isolinux',
  'usr/lib/ISOLINUX/isolinux.bin': 'isolinux',
};

/** Every loader of the image equals the file of `release`'s package, as dpkg unpacks it. */
async function expectReleaseLoaders(iso: string, release: Release, dir: string): Promise<Record<string, Buffer>> {
  await sharedLoaders(release, 'iso');
  await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
  const got = await imageLoaders(iso, dir);
  for (const [path, bytes] of Object.entries(got)) {
    const want = await packageFile(release, PACKAGE_OF[path] ?? 'syslinux-common', path);
    const cut = path.endsWith('isohdpfx.bin') ? want.subarray(0, bytes.length) : path.endsWith('isolinux.bin') ? want.subarray(64) : want;
    expect(bytes.equals(cut), `${path} of the ${release} image is ${release}'s`).toBe(true);
  }
  return got;
}

const hostCodename = async () => /VERSION_CODENAME=(\w+)/.exec(await readFile('/etc/os-release', 'utf8'))?.[1];

/** Lists the cpio archive that follows the installer's own one (our payload), with modes. */
async function listAppendedCpio(initrd: string): Promise<string> {
  const r = await execa('sh', ['-c', `zcat "${initrd}" | (cpio -it >/dev/null 2>&1; cpio -itv 2>/dev/null)`]);
  return r.stdout;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pc-iso-'));
  await sharedInstaller('trixie');
}, 600_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('trixie images from the netboot package', () => {
  let result: Awaited<ReturnType<typeof build>>;
  const out = () => join(work, 'a');

  beforeAll(async () => {
    result = await build(out());
  }, 600_000);

  it('writes one image per node plus the universal one, mode 0600, with a manifest', async () => {
    expect(result.outputs.map((o) => o.target).sort()).toEqual(['node1', 'node2', 'node3', 'universal']);
    for (const o of result.outputs) {
      const st = await stat(o.file);
      expect(st.mode & 0o777).toBe(0o600);
      expect(st.size).toBe(o.size);
    }
    await execa('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out() });
    const manifest = JSON.parse(await readFile(result.manifest, 'utf8'));
    expect(manifest.epoch).toBe(Number(EPOCH));
    expect(manifest.inputs.map((i: { name: string }) => i.name)).toEqual(expect.arrayContaining(['cluster.yaml', 'dist/personal-cloud-agent.mjs']));
    expect(manifest.inputs.some((i: { name: string }) => /debian-installer-13-netboot-amd64/.test(i.name))).toBe(true);
    // The boot loaders are inputs as the release's packages (name, version, sha256), not host paths.
    const loaders = await sharedLoaders('trixie', 'iso');
    expect(loaders.inputs.map((i) => i.name.split('_')[0])).toEqual(['isolinux', 'syslinux-common', 'shim-signed', 'shim-helpers-amd64-signed', 'grub-efi-amd64-signed']);
    expect(manifest.inputs).toEqual(expect.arrayContaining(loaders.inputs));
    for (const i of loaders.inputs) expect(i.version && i.name.includes(i.version.replace(/^\d+:/, ''))).toBeTruthy();
    expect(manifest.inputs.some((i: { name: string }) => i.name.startsWith('/usr/lib/'))).toBe(false);
  });

  it("boots trixie's own loaders: shim, MokManager, CD GRUB, isolinux and its modules are byte-identical to trixie's packages, not the build machine's", async () => {
    const iso = result.outputs.find((o) => o.target === 'node1')!.file;
    const got = await expectReleaseLoaders(iso, 'trixie', join(work, 'loaders-trixie'));
    if ((await hostCodename()) !== 'trixie') {
      // A bookworm build machine has another GRUB (2.06 vs 2.12): the image must not carry it.
      const host = await readFile('/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed').catch(() => undefined);
      if (host) expect(got['usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed'].equals(host)).toBe(false);
    }
    // And the universal image has the same ESP.
    const universal = result.outputs.find((o) => o.target === 'universal')!.file;
    await expectReleaseLoaders(universal, 'trixie', join(work, 'loaders-trixie-u'));
  });

  it('has El Torito BIOS and UEFI entries and a hybrid MBR + GPT for USB sticks', async () => {
    const iso = result.outputs.find((o) => o.target === 'node1')!.file;
    const r = await execa('xorriso', ['-indev', iso, '-report_el_torito', 'plain', '-report_system_area', 'plain']);
    const report = r.stdout;
    expect(report).toMatch(/El Torito boot img :\s+1\s+BIOS\s+y\s+none.*\n/);
    expect(report).toMatch(/El Torito img path :\s+1\s+\/isolinux\/isolinux\.bin/);
    expect(report).toMatch(/El Torito boot img :\s+2\s+UEFI\s+y\s+none/);
    expect(report).toMatch(/El Torito img path :\s+2\s+\/boot\/grub\/efi\.img/);
    expect(report).toMatch(/MBR partition\s+:\s+2\s+0x00\s+0xef/);
    expect(report).toMatch(/GPT partition path :\s+2\s+\/boot\/grub\/efi\.img/);
    const head = Buffer.alloc(1024);
    const fh = await import('node:fs/promises').then((fs) => fs.open(iso));
    await fh.read(head, 0, 1024, 0);
    await fh.close();
    expect(head.readUInt16LE(510)).toBe(0xaa55); // MBR boot signature
    expect(head.subarray(512, 520).toString('latin1')).toBe('EFI PART'); // GPT header at LBA 1
  });

  it('puts Debian\'s signed shim and CD GRUB in the ESP', async () => {
    const iso = result.outputs.find((o) => o.target === 'node1')!.file;
    const efi = join(work, 'efi.img');
    await extract(iso, '/boot/grub/efi.img', efi);
    const r = await execa('mdir', ['-b', '-i', efi, '::/EFI/boot'], { env: { MTOOLS_SKIP_CHECK: '1' } });
    expect(r.stdout.toLowerCase()).toContain('bootx64.efi');
    expect(r.stdout.toLowerCase()).toContain('grubx64.efi');
    const grub = (await extract(iso, '/boot/grub/grub.cfg', join(work, 'grub.cfg'))).toString();
    expect(grub).toContain("menuentry 'Install node1 (unattended, erases its OS disk)'");
    expect(grub).toContain('auto=true priority=critical');
    const disk = (await extract(iso, '/.disk/info', join(work, 'info'))).toString();
    expect(disk).toMatch(/Debian 13 "trixie"/);
  });

  it("appends our payload to the installer's initrd: preseed, agent and node config", async () => {
    const iso = result.outputs.find((o) => o.target === 'node2')!.file;
    const initrd = join(work, 'initrd-node2.gz');
    await extract(iso, '/install/initrd.gz', initrd);
    const installer = await sharedInstaller('trixie');
    const original = await readFile(installer.initrd);
    const ours = await readFile(initrd);
    // concatenation, not a rebuild: the installer's initrd is an unchanged prefix
    expect(ours.subarray(0, original.length).equals(original)).toBe(true);
    const listing = await listAppendedCpio(initrd);
    const names = listing.split('\n').map((l) => l.trim().split(/\s+/).pop());
    expect(names).toEqual(expect.arrayContaining([
      'preseed.cfg',
      'personal-cloud/late.sh',
      'personal-cloud/select-os-disk.sh',
      'personal-cloud/check-mac.sh',
      'personal-cloud/nodes/node2/mac',
      'personal-cloud/root/usr/lib/personal-cloud/personal-cloud-agent.mjs',
      'personal-cloud/root/etc/systemd/system/personal-cloud-agent.service',
      'personal-cloud/root/etc/personal-cloud/cluster.json',
      'personal-cloud/root/etc/personal-cloud/join.key',
      'personal-cloud/nodes/node2/root/etc/personal-cloud/node.json',
      'personal-cloud/nodes/node2/files.list',
      'personal-cloud/nodes/node2/os-disk.conf',
      'personal-cloud/root/etc/chrony/sources.d/personal-cloud.sources',
    ]));
    // a per-node image carries only its own node
    expect(names.some((n) => n?.startsWith('personal-cloud/nodes/node1'))).toBe(false);
    const keyLine = listing.split('\n').find((l) => l.endsWith('join.key'))!;
    expect(keyLine.startsWith('-rw-------')).toBe(true);
    // owner root, fixed dates
    expect(listing.split('\n').filter(Boolean).every((l) => /\broot\s+root\b/.test(l))).toBe(true);
  });

  it('never carries the raw cluster secret: only the derived key', async () => {
    for (const o of result.outputs) {
      const bytes = await readFile(o.file);
      expect(bytes.includes(Buffer.from(SECRET))).toBe(false);
      // and not inside the compressed payload either
      const payloadIso = o.target === 'universal' ? '/install/payload.gz' : '/install/initrd.gz';
      const payload = gunzipSync(await extract(o.file, payloadIso, join(work, `p-${o.target}`)));
      expect(payload.includes(Buffer.from(SECRET))).toBe(false);
    }
  });

  it('gives the universal image a menu entry per node and every node in its payload', async () => {
    const iso = result.outputs.find((o) => o.target === 'universal')!.file;
    const isolinux = (await extract(iso, '/isolinux/isolinux.cfg', join(work, 'u-isolinux.cfg'))).toString();
    for (const n of ['node1', 'node2', 'node3']) expect(isolinux).toContain(`pc.node=${n}`);
    expect(isolinux).toMatch(/DEFAULT auto/);
    expect(isolinux).toContain('INITRD /install/initrd.gz,/install/payload.gz');
    await extract(iso, '/install/payload.gz', join(work, 'u-payload.gz'));
    const listing = await execa('sh', ['-c', `zcat "${join(work, 'u-payload.gz')}" | cpio -it 2>/dev/null`]);
    for (const n of ['node1', 'node2', 'node3']) expect(listing.stdout).toContain(`personal-cloud/nodes/${n}/mac`);
    expect(listing.stdout).toContain('usr/lib/debian-installer-startup.d/S29personal-cloud-pick-node');
    expect(listing.stdout).not.toMatch(/^preseed\.cfg$/m);
  });

  it('inspect shows the image with secrets redacted', async () => {
    const iso = result.outputs.find((o) => o.target === 'node1')!.file;
    const r = await cli(['inspect', iso, '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.nodes).toEqual(['node1']);
    expect(info.cluster).toMatchObject({ name: 'qemulab', release: 'trixie', volumes: expect.arrayContaining(['gv0']) });
    expect(info.boot.map((b: { platform: string }) => b.platform)).toEqual(['BIOS', 'UEFI']);
    expect(info.files).toEqual(expect.arrayContaining([{ path: '/personal-cloud/root/etc/personal-cloud/join.key', mode: '0600', size: 65 }]));
    const preseed = await cli(['inspect', iso, '--show', '/preseed.cfg']);
    expect(preseed.stdout).toContain('d-i passwd/user-password-crypted password [redacted]');
    expect(preseed.stdout).not.toContain('$6$');
    const key = await cli(['inspect', iso, '--show', '/personal-cloud/root/etc/personal-cloud/join.key']);
    expect(key.stdout).toBe('[redacted: derived join key]'); // cli() strips the final newline
    const notIso = await cli(['inspect', CONFIG]);
    expect(notIso.code).toBe(2);
    expect(notIso.stderr).toMatch(/is not an ISO 9660 image/);
  });

  it('is reproducible: the same inputs and SOURCE_DATE_EPOCH give byte-identical images', async () => {
    const again = await build(join(work, 'b'));
    const sums = (r: typeof result) => Object.fromEntries(r.outputs.map((o) => [o.target, o.sha256]));
    expect(sums(again)).toEqual(sums(result));
    const later = await build(join(work, 'c'), ['--node', 'node1'], { SOURCE_DATE_EPOCH: String(Number(EPOCH) + 3600) });
    expect(later.outputs[0].sha256).not.toBe(sums(result).node1);
  }, 600_000);

  it('builds one node only with --node, and a serial-console variant with --console serial', async () => {
    const r = await build(join(work, 'd'), ['--node', 'node3', '--console', 'serial']);
    expect(r.outputs.map((o) => o.target)).toEqual(['node3']);
    const grub = (await extract(r.outputs[0].file, '/boot/grub/grub.cfg', join(work, 'serial-grub.cfg'))).toString();
    expect(grub).toContain('console=ttyS0,115200n8');
  });
});

describe('bookworm', () => {
  it('builds from debian-installer-12-netboot-amd64', async () => {
    await sharedInstaller('bookworm');
    const cfg = join(work, 'bookworm.yaml');
    const text = (await readFile(CONFIG, 'utf8')).replace('release: trixie', 'release: bookworm');
    await import('node:fs/promises').then((fs) => fs.writeFile(cfg, text));
    const r = await cli(['build', '--config', cfg, '--out', join(work, 'bw'), '--cache', SHARED_INSTALLER_CACHE, '--node', 'node1', '--json'], { env: { SOURCE_DATE_EPOCH: EPOCH } });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const info = (await extract(out.outputs[0].file, '/.disk/info', join(work, 'bw-info'))).toString();
    expect(info).toMatch(/Debian 12 "bookworm" installer 20230607/);
    await extract(out.outputs[0].file, '/install/initrd.gz', join(work, 'bw-initrd.gz'));
    const preseed = (await execa('sh', ['-c', `zcat "${join(work, 'bw-initrd.gz')}" | (cpio -i --to-stdout preseed.cfg 2>/dev/null; cpio -i --to-stdout preseed.cfg 2>/dev/null)`])).stdout;
    expect(preseed).toContain('d-i mirror/suite string bookworm');
    await expectReleaseLoaders(out.outputs[0].file, 'bookworm', join(work, 'loaders-bookworm'));
  }, 600_000);
});

describe('boot loader options', () => {
  it('--host-loaders takes the build machine\'s loaders and records them as host files', async () => {
    const r = await build(join(work, 'host'), ['--node', 'node1', '--host-loaders']);
    const got = await imageLoaders(r.outputs[0].file, await mkdtemp(join(work, 'host-x-')));
    for (const path of ['usr/lib/shim/shimx64.efi.signed', 'usr/lib/shim/mmx64.efi.signed', 'usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed', 'usr/lib/syslinux/modules/bios/ldlinux.c32']) {
      expect(got[path].equals(await readFile(`/${path}`)), path).toBe(true);
    }
    const manifest = JSON.parse(await readFile(r.manifest, 'utf8')) as { inputs: { name: string; sha256: string }[] };
    const names = manifest.inputs.map((i) => i.name);
    expect(names).toEqual(expect.arrayContaining(['/usr/lib/shim/shimx64.efi.signed', '/usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed', '/usr/lib/ISOLINUX/isolinux.bin']));
    expect(names.some((n) => /^(shim-signed|grub-efi-amd64-signed)_/.test(n))).toBe(false);
    const help = await cli(['build', '--help']);
    expect(help.stdout).toMatch(/--host-loaders\s+take the boot loaders/);
  }, 600_000);

  it('--offline with an empty cache says what is missing and how to get it; --host-loaders does not apply to --base-iso', async () => {
    const empty = await mkdtemp(join(work, 'empty-cache-'));
    const r = await cli(['build', '--config', CONFIG, '--out', join(work, 'offline'), '--cache', empty, '--offline']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/offline, and the cache \(.*empty-cache-\w+\) has no installer for trixie from http:\/\/deb\.debian\.org\/debian/);
    expect(r.stderr).toContain('personal-cloud fetch');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    const iso = await cli(['build', '--config', CONFIG, '--out', join(work, 'x'), '--base-iso', CONFIG, '--host-loaders']);
    expect(iso.code).toBe(2);
    expect(iso.stderr).toMatch(/--host-loaders does not apply to --base-iso/);
  });
});
