// Installer source: real archive downloads (deb.debian.org), real gpgv, real xz, real xorriso.
// Tampering runs against a loopback server that serves copies of the real archive files.
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveInstaller, DEFAULT_MIRROR, type InstallerSource, type ResolveOptions } from '../src/installer/resolve.js';
import { compareVersions, findPackage, parseStanzas } from '../src/installer/packages-index.js';
import { extractDebData, readArMembers, readDebControl } from '../src/installer/deb.js';
import { Cache } from '../src/installer/cache.js';
import { defaultCacheDir } from '../src/util/cache-dir.js';
import { releaseFromDiskInfo } from '../src/installer/base-iso.js';
import { fetchCommand } from '../src/commands/fetch.js';
import { EXIT, UserError } from '../core/errors.js';
import { silentProgress, type Progress } from '../src/util/progress.js';
import { archiveSnapshot, packageFile, sharedInstaller, sharedLoaders, SHARED_INSTALLER_CACHE, type ArchiveSnapshot } from './helpers/installer-cache.js';
import { packagesOf } from '../src/write/boot-files.js';
import { startMirror, type MirrorServer, type Route } from './helpers/installer-server.js';
import { buildDeb } from './helpers/installer-deb.js';

let work: string;
beforeAll(async () => { work = await mkdtemp(join(tmpdir(), 'pc-installer-')); });
afterAll(async () => { await rm(work, { recursive: true, force: true }); });

const newCache = async () => mkdtemp(join(work, 'cache-'));

async function head(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try { const b = Buffer.alloc(n); await fh.read(b, 0, n, 0); return b; } finally { await fh.close(); }
}

async function expectBootable(src: InstallerSource): Promise<void> {
  const k = await head(src.linux, 0x206);
  expect(k.toString('latin1', 0x202, 0x206)).toBe('HdrS');
  const i = await head(src.initrd, 2);
  expect([i[0], i[1]]).toEqual([0x1f, 0x8b]);
  expect((await stat(src.initrd)).size).toBeGreaterThan(10_000_000);
}

/** Every file under the cache, relative (so a leftover partial download shows up by name). */
async function listCache(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) { out.push(`${r}/`); await walk(join(d, e.name), r); } else out.push(r);
    }
  };
  await walk(dir, '');
  return out.sort();
}

/** After a failed resolve the cache holds only its empty skeleton: no blob, tree, index or temp file. */
async function expectCleanCache(dir: string): Promise<void> {
  expect(await listCache(dir)).toEqual(['blobs/', 'index/', 'iso/', 'loaders/', 'netboot/', 'tmp/']);
}

async function expectUserError(p: Promise<unknown>, pattern: RegExp, exitCode?: number): Promise<UserError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e, 'expected a UserError').toBeInstanceOf(UserError);
  expect((e as Error).message).toMatch(pattern);
  if (exitCode !== undefined) expect((e as UserError).exitCode).toBe(exitCode);
  return e as UserError;
}

function recordingProgress(): Progress & { steps: string[] } {
  const steps: string[] = [];
  return { steps, step: (m) => steps.push(m), bytes() {}, done: (m) => { if (m) steps.push(m); } };
}

function routesFor(s: ArchiveSnapshot, over: { inRelease?: Route; packages?: (data: Buffer) => Buffer; deb?: Route | null } = {}): Map<string, Route> {
  const dists = `/debian/dists/${s.release}`;
  const m = new Map<string, Route>([[`${dists}/InRelease`, over.inRelease ?? { data: s.inRelease }]]);
  for (const [path, data] of s.indexes) m.set(`${dists}/${path}`, { data: over.packages ? over.packages(data) : data });
  if (over.deb !== null) m.set(`/debian/${s.entry.filename}`, over.deb ?? { file: s.debPath });
  return m;
}

async function closedPort(): Promise<number> {
  const srv = await startMirror();
  const port = Number(new URL(srv.url).port);
  await srv.close();
  return port;
}

describe('Debian archive (real downloads)', () => {
  for (const [release, n] of [['trixie', 13], ['bookworm', 12]] as const) {
    it(`fetches and verifies debian-installer-${n}-netboot-amd64 for ${release}`, async () => {
      const src = await sharedInstaller(release);
      expect(src.kind).toBe('netboot');
      expect(src.release).toBe(release);
      expect(src.version).toMatch(/^\d{8}(\+deb\d+u\d+)?/);
      expect(src.dir).toBe(join(SHARED_INSTALLER_CACHE, 'netboot', src.inputs[0].sha256, 'tree', 'debian-installer', 'amd64'));
      await expectBootable(src);
      for (const f of ['grubx64.efi', 'bootnetx64.efi', 'pxelinux.0', 'boot-screens/ldlinux.c32', 'boot-screens/vesamenu.c32', 'grub/font.pf2', 'grub/x86_64-efi/linux.mod']) {
        expect((await stat(join(src.dir, f))).isFile(), f).toBe(true);
      }
      // The top-level links of the package's tree resolve inside it.
      expect((await stat(join(src.root!, 'pxelinux.0'))).size).toBe((await stat(join(src.dir, 'pxelinux.0'))).size);
      expect((await stat(join(src.root!, 'ldlinux.c32'))).isFile()).toBe(true);
      expect(await readFile(join(src.dir, 'pxelinux.cfg', 'default'), 'utf8')).toBe(await readFile(join(src.dir, 'boot-screens', 'syslinux.cfg'), 'utf8'));
      expect(await readFile(join(src.root!, 'version.info'), 'utf8')).toContain(`Debian version:  ${n}`);
      expect(src.inputs.map((i) => i.name)).toEqual([`debian-installer-${n}-netboot-amd64_${src.version}_all.deb`, 'linux', 'initrd.gz']);
      for (const i of src.inputs) expect(i.sha256).toMatch(/^[0-9a-f]{64}$/);
    });
  }

  it('resolves again without network when offline, and falls back to the cache when the mirror is unreachable', async () => {
    const first = await sharedInstaller('trixie');
    // Any network use would go through this proxy, which is a closed loopback port.
    const deadProxy = `http://127.0.0.1:${await closedPort()}`;
    const base: ResolveOptions = { release: 'trixie', mirror: DEFAULT_MIRROR, cacheDir: SHARED_INSTALLER_CACHE, proxy: deadProxy, progress: silentProgress };
    const offline = await resolveInstaller({ ...base, offline: true });
    expect(offline.origin).toBe('cache');
    expect(offline.linux).toBe(first.linux);
    expect(offline.inputs).toEqual(first.inputs);
    const progress = recordingProgress();
    const fallback = await resolveInstaller({ ...base, progress });
    expect(fallback.origin).toBe('cache');
    expect(progress.steps.join('\n')).toMatch(/mirror unreachable.*ECONNREFUSED.*using the cached debian-installer-13-netboot-amd64/s);
  });
});

describe('archive via a loopback mirror serving the real files', () => {
  let snap: ArchiveSnapshot;
  let mirror: MirrorServer;
  beforeAll(async () => { snap = await archiveSnapshot('trixie'); mirror = await startMirror(); });
  afterAll(async () => { await mirror.close(); });
  const opts = (cacheDir: string, extra: Partial<ResolveOptions> = {}): ResolveOptions => ({ release: 'trixie', mirror: mirror.url, cacheDir, progress: silentProgress, ...extra });
  const serve = (over: Parameters<typeof routesFor>[1] = {}) => {
    mirror.routes.clear();
    for (const [k, v] of routesFor(snap, over)) mirror.routes.set(k, v);
    mirror.requests.length = 0;
  };

  it('downloads, verifies and unpacks into a fresh cache; then works offline against a dead 127.0.0.1 port', async () => {
    serve();
    const cacheDir = await newCache();
    const bytes: number[] = [];
    const progress: Progress = { step() {}, done() {}, bytes: (_l, d) => bytes.push(d) };
    const src = await resolveInstaller(opts(cacheDir, { progress }));
    expect(src.origin).toBe('archive');
    expect(src.version).toBe(snap.entry.version);
    expect(src.inputs[0]).toEqual({ name: snap.entry.filename.split('/').pop(), sha256: snap.entry.sha256, size: snap.entry.size });
    expect(bytes.at(-1)).toBe(snap.entry.size);
    await expectBootable(src);
    const files = await listCache(cacheDir);
    expect(files).toContain(`blobs/${snap.entry.sha256}`);
    expect(files.filter((f) => f.startsWith('tmp/') && f !== 'tmp/')).toEqual([]);
    expect(files.filter((f) => f.startsWith('index/') && f.endsWith('.json'))).toHaveLength(1);

    // Online again: the verified .deb is reused, only InRelease and the indexes are fetched.
    mirror.requests.length = 0;
    expect((await resolveInstaller(opts(cacheDir))).origin).toBe('archive');
    expect(mirror.requests[0]).toBe('/debian/dists/trixie/InRelease');
    expect(mirror.requests.slice(1).every((r) => /\/dists\/trixie\/main\/binary-(all|amd64)\/(by-hash\/SHA256\/\w+|Packages\.xz)$/.test(r)), mirror.requests.join()).toBe(true);

    // Resolutions are remembered per mirror: a mirror never used before has nothing cached.
    const other = `http://127.0.0.1:${await closedPort()}/debian`;
    await expectUserError(resolveInstaller({ ...opts(cacheDir), mirror: other, offline: true }), /offline, and the cache .* has no installer for trixie from http:\/\/127\.0\.0\.1/);
    // Now the mirror itself goes away (its port is closed): offline and "unreachable" both use the cache.
    await mirror.close();
    try {
      const again = await resolveInstaller({ ...opts(cacheDir), offline: true });
      expect(again.origin).toBe('cache');
      expect(again.linux).toBe(src.linux);
      const progress2 = recordingProgress();
      const fallback = await resolveInstaller({ ...opts(cacheDir), progress: progress2 });
      expect(fallback.origin).toBe('cache');
      expect(progress2.steps.join('\n')).toContain('mirror unreachable');
      // A corrupted tree is noticed and rebuilt from the verified blob, still offline.
      await writeFile(src.initrd, 'garbage');
      const rebuilt = await resolveInstaller({ ...opts(cacheDir), offline: true });
      await expectBootable(rebuilt);
    } finally {
      mirror = await startMirror(mirror.routes);
    }
  });

  it('rejects an InRelease with one byte flipped (bad signature)', async () => {
    const bad = Buffer.from(snap.inRelease);
    const at = bad.indexOf('main/binary-all/Packages.xz');
    bad[at - 20] = bad[at - 20] === 0x30 ? 0x31 : 0x30; // a hex digit in a signed hash line
    serve({ inRelease: { data: bad } });
    const cacheDir = await newCache();
    await expectUserError(resolveInstaller(opts(cacheDir)), /signature check of http:\/\/127\.0\.0\.1:\d+\/debian\/dists\/trixie\/InRelease failed: .*BAD signature/, EXIT.verification);
    await expectCleanCache(cacheDir);
  });

  it('rejects an InRelease without a signature', async () => {
    const text = snap.inRelease.toString('utf8');
    const body = text.slice(text.indexOf('\n\n') + 2, text.indexOf('-----BEGIN PGP SIGNATURE'));
    serve({ inRelease: { data: Buffer.from(body) } });
    const cacheDir = await newCache();
    await expectUserError(resolveInstaller(opts(cacheDir)), /signature check of .*InRelease failed/, EXIT.verification);
    await expectCleanCache(cacheDir);
  });

  it('rejects a Packages.xz that does not match the hash in InRelease', async () => {
    serve({ packages: (data) => { const bad = Buffer.from(data); bad[bad.length >> 1] ^= 0x01; return bad; } });
    const cacheDir = await newCache();
    const e = await expectUserError(resolveInstaller(opts(cacheDir)), /no Packages index of http:\/\/127\.0\.0\.1:\d+\/debian matches its InRelease: .*SHA256 mismatch for http:\/\/127\.0\.0\.1:\d+\/debian\/dists\/trixie\/main\/binary-(all|amd64)\/Packages\.xz: expected [0-9a-f]{64}, got [0-9a-f]{64}/, EXIT.verification);
    const [, want, got] = /expected (\w+), got (\w+)/.exec(e.message)!;
    expect(want).not.toBe(got);
    await expectCleanCache(cacheDir);
  });

  it('rejects a .deb cut off mid-transfer (connection closed early) and leaves no partial file', async () => {
    serve({ deb: { file: snap.debPath, cutAfter: 20_000_000 } });
    const cacheDir = await newCache();
    await expectUserError(resolveInstaller(opts(cacheDir)), /download of .*debian-installer-13-netboot-amd64_.*\.deb truncated: got \d+ bytes of \d+ \(connection closed early/, EXIT.verification);
    await expectCleanCache(cacheDir);
  });

  it('rejects a .deb shorter than the index says', async () => {
    serve({ deb: { file: snap.debPath, shortBy: 1000 } });
    const cacheDir = await newCache();
    await expectUserError(resolveInstaller(opts(cacheDir)), new RegExp(`download of .*\\.deb truncated: got ${snap.entry.size - 1000} bytes of ${snap.entry.size} \\(the server has fewer bytes`), EXIT.verification);
    await expectCleanCache(cacheDir);
  });

  it('rejects a .deb with one byte changed (hash mismatch)', async () => {
    serve({ deb: { file: snap.debPath, flipByteAt: 100_000_000 } });
    const cacheDir = await newCache();
    await expectUserError(resolveInstaller(opts(cacheDir)), new RegExp(`SHA256 mismatch for .*\\.deb: expected ${snap.entry.sha256}, got [0-9a-f]{64}`), EXIT.verification);
    await expectCleanCache(cacheDir);
  });

  it('names the URL on a 404', async () => {
    serve({ deb: null });
    const cacheDir = await newCache();
    await expectUserError(resolveInstaller(opts(cacheDir)), new RegExp(`HTTP 404 for http://127\\.0\\.0\\.1:\\d+/debian/${snap.entry.filename.replace(/[+.]/g, '\\$&')}`));
    await expectCleanCache(cacheDir);
  });

  it('says so when the mirror is unreachable and nothing is cached', async () => {
    const cacheDir = await newCache();
    await expectUserError(resolveInstaller(opts(cacheDir, { mirror: `http://127.0.0.1:${await closedPort()}/debian` })),
      /mirror unreachable \(cannot reach http:\/\/127\.0\.0\.1:\d+\/debian\/dists\/trixie\/InRelease: ECONNREFUSED.*\), and the cache .* has no installer for trixie/);
    await expectCleanCache(cacheDir);
  });

  it('rejects an InRelease signed for another release', async () => {
    mirror.routes.clear();
    mirror.routes.set('/debian/dists/bookworm/InRelease', { data: snap.inRelease });
    const cacheDir = await newCache();
    await expectUserError(resolveInstaller(opts(cacheDir, { release: 'bookworm' })), /InRelease is for trixie, not bookworm/, EXIT.verification);
  });
});

describe('boot loader packages via a loopback mirror serving the real files', () => {
  let snap: ArchiveSnapshot;
  let mirror: MirrorServer;
  /** Pool path and cached .deb of each loader package (verified from the real archive first). */
  const debs = new Map<string, { filename: string; sha256: string; path: string }>();
  beforeAll(async () => {
    snap = await archiveSnapshot('trixie');
    await sharedLoaders('trixie', 'all');
    const cache = new Cache(SHARED_INSTALLER_CACHE);
    for (const pkg of packagesOf('all')) {
      const e = (await cache.readIndex(DEFAULT_MIRROR, 'trixie', pkg))!;
      debs.set(pkg, { filename: e.filename, sha256: e.sha256, path: cache.blobPath(e.sha256) });
    }
    mirror = await startMirror();
  }, 600_000);
  afterAll(async () => { await mirror.close(); });
  const serve = (over: Record<string, Route> = {}) => {
    mirror.routes.clear();
    for (const [k, v] of routesFor(snap)) mirror.routes.set(k, v);
    for (const [pkg, d] of debs) mirror.routes.set(`/debian/${d.filename}`, over[pkg] ?? { file: d.path });
  };
  const opts = (cacheDir: string, extra: Partial<ResolveOptions> = {}): ResolveOptions => ({ release: 'trixie', mirror: mirror.url, cacheDir, progress: silentProgress, ...extra });

  it('fetches and verifies the loader packages, extracts only the loaders, and works offline afterwards', async () => {
    serve();
    const cacheDir = await newCache();
    const src = await resolveInstaller(opts(cacheDir, { loaders: 'iso' }));
    expect(src.loaders!.origin).toBe('archive');
    expect(src.loaders!.inputs.map((i) => i.sha256)).toEqual(packagesOf('iso').map((p) => debs.get(p)!.sha256));
    expect(src.inputs.slice(3)).toEqual(src.loaders!.inputs);
    for (const [name, path] of Object.entries(src.loaders!.files)) {
      expect(path.startsWith(join(cacheDir, 'loaders')), name).toBe(true);
    }
    expect((await readFile(src.loaders!.files.grubCd!)).equals(await packageFile('trixie', 'grub-efi-amd64-signed', 'usr/lib/grub/x86_64-efi-signed/gcdx64.efi.signed'))).toBe(true);
    // Only the files the media need: grub-efi-amd64-signed's other three images stay in the .deb.
    expect((await listCache(join(cacheDir, 'loaders'))).filter((f) => !f.endsWith('/') && !f.endsWith('files.json'))).toHaveLength(9);
    const files = await listCache(cacheDir);
    expect(files.filter((f) => f.startsWith('tmp/') && f !== 'tmp/')).toEqual([]);

    // Offline: the same files from the cache; a damaged extraction is redone from the verified .deb.
    await writeFile(src.loaders!.files.shim!, 'garbage');
    const offline = await resolveInstaller(opts(cacheDir, { loaders: 'iso', offline: true }));
    expect(offline.loaders!.origin).toBe('cache');
    expect(offline.loaders!.files).toEqual(src.loaders!.files);
    expect((await readFile(offline.loaders!.files.shim!)).equals(await packageFile('trixie', 'shim-signed', 'usr/lib/shim/shimx64.efi.signed'))).toBe(true);
    // The PXE set needs pxelinux, which this cache never fetched: offline says so and how to get it.
    const e = await expectUserError(resolveInstaller(opts(cacheDir, { loaders: 'pxe', offline: true })),
      /^offline, and the cache \(.*\) has no boot loader packages \(pxelinux, syslinux-common\) for trixie from http:\/\/127\.0\.0\.1:\d+\/debian \(missing: pxelinux\)$/, EXIT.failure);
    expect(e.hint).toMatch(/personal-cloud fetch.*--host-loaders/);
  });

  it('offline with an installer but no loaders in the cache names every missing package', async () => {
    serve();
    const cacheDir = await newCache();
    await resolveInstaller(opts(cacheDir)); // the installer only
    await expectUserError(resolveInstaller(opts(cacheDir, { loaders: 'iso', offline: true })),
      /offline, and the cache .* has no boot loader packages .* for trixie from .* \(missing: isolinux, syslinux-common, shim-signed, shim-helpers-amd64-signed, grub-efi-amd64-signed\)/, EXIT.failure);
  });

  it('rejects a loader .deb with one byte changed (exit 4) and keeps nothing of it', async () => {
    const shim = debs.get('shim-signed')!;
    serve({ 'shim-signed': { file: shim.path, flipByteAt: 1000 } });
    const cacheDir = await newCache();
    const e = await expectUserError(resolveInstaller(opts(cacheDir, { loaders: 'iso' })), new RegExp(`SHA256 mismatch for .*/shim-signed_[^ ]+_amd64\\.deb: expected ${shim.sha256}, got [0-9a-f]{64}`), EXIT.verification);
    expect(e.exitCode).toBe(EXIT.verification);
    const files = await listCache(cacheDir);
    expect(files).not.toContain(`blobs/${shim.sha256}`);
    expect(files.filter((f) => (f.startsWith('loaders/') && f !== 'loaders/') || (f.startsWith('tmp/') && f !== 'tmp/'))).toEqual([]);
    // Nothing of this failed fetch is remembered: offline knows no loader package.
    expect(files.filter((f) => /index\/.*-(shim|grub|isolinux|syslinux)/.test(f))).toEqual([]);
  });
});

describe('local installer', () => {
  it('accepts the netboot .deb and unpacks it with the same code', async () => {
    const snap = await archiveSnapshot('trixie');
    const deb = join(work, 'netboot.deb');
    await copyFile(snap.debPath, deb);
    const src = await resolveInstaller({ release: 'trixie', mirror: 'http://127.0.0.1:9/unused', installer: deb, cacheDir: await newCache(), progress: silentProgress });
    expect(src.origin).toBe('local-deb');
    expect(src.version).toBe(snap.entry.version);
    expect(src.inputs[0].sha256).toBe(snap.entry.sha256);
    await expectBootable(src);
    // Wrong release for this package.
    await expectUserError(resolveInstaller({ release: 'bookworm', mirror: DEFAULT_MIRROR, installer: deb, cacheDir: await newCache(), progress: silentProgress }),
      /netboot\.deb is the trixie installer \(debian-installer-13-netboot-amd64\) but the release is bookworm/, EXIT.verification);
  });

  it('rejects a .deb of another package, and a file that is no .deb', async () => {
    // A real Debian package that is not the installer: build a minimal one with dpkg-deb.
    const pkgDir = join(work, 'other-pkg');
    await mkdir(join(pkgDir, 'DEBIAN'), { recursive: true });
    await writeFile(join(pkgDir, 'DEBIAN', 'control'), 'Package: hello-other\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: not an installer\n');
    const other = join(work, 'hello-other.deb');
    await execa('dpkg-deb', ['-Zxz', '--build', pkgDir, other]);
    const cacheDir = await newCache();
    await expectUserError(resolveInstaller({ release: 'trixie', mirror: DEFAULT_MIRROR, installer: other, cacheDir, progress: silentProgress }),
      /hello-other\.deb is package 'hello-other', expected a Debian netboot installer \(debian-installer-13-netboot-amd64\)/, EXIT.verification);
    await expectCleanCache(cacheDir);
    const junk = join(work, 'junk.deb');
    await writeFile(junk, randomBytes(4096));
    await expectUserError(resolveInstaller({ release: 'trixie', mirror: DEFAULT_MIRROR, installer: junk, cacheDir, progress: silentProgress }), /junk\.deb is not a Debian package/, EXIT.verification);
    await expectCleanCache(cacheDir);
  });

  it('accepts the images/NN/amd64/text dir and its debian-installer/amd64 subdir', async () => {
    const shared = await sharedInstaller('trixie');
    const cacheDir = await newCache();
    for (const path of [shared.root!, shared.dir]) {
      const src = await resolveInstaller({ release: 'trixie', mirror: DEFAULT_MIRROR, installer: path, cacheDir, progress: silentProgress });
      expect(src.origin).toBe('local-dir');
      expect(src.dir).toBe(shared.dir);
      expect(src.linux).toBe(shared.linux);
      expect(src.inputs.map((i) => i.sha256)).toEqual(shared.inputs.slice(1).map((i) => i.sha256));
    }
    expect((await resolveInstaller({ release: 'trixie', mirror: DEFAULT_MIRROR, installer: shared.root!, cacheDir, progress: silentProgress })).version).toBe(shared.version);
    await expectUserError(resolveInstaller({ release: 'bookworm', mirror: DEFAULT_MIRROR, installer: shared.root!, cacheDir, progress: silentProgress }), /is the trixie installer .* but the release is bookworm/);
    const empty = await mkdtemp(join(work, 'empty-'));
    await expectUserError(resolveInstaller({ release: 'trixie', mirror: DEFAULT_MIRROR, installer: empty, cacheDir, progress: silentProgress }), /does not hold a Debian netboot installer: expected linux and initrd\.gz/);
    const fake = await mkdtemp(join(work, 'fake-'));
    await writeFile(join(fake, 'linux'), randomBytes(8192));
    await writeFile(join(fake, 'initrd.gz'), randomBytes(8192));
    await expectUserError(resolveInstaller({ release: 'trixie', mirror: DEFAULT_MIRROR, installer: fake, cacheDir, progress: silentProgress }), /linux is not an x86 Linux kernel/);
  });
});

describe('base ISO', () => {
  let real: InstallerSource;
  beforeAll(async () => { real = await sharedInstaller('trixie'); });

  async function makeIso(name: string, files: Record<string, string | { copy: string }>, bootable = true): Promise<string> {
    const src = await mkdtemp(join(work, `iso-${name}-`));
    for (const [p, content] of Object.entries(files)) {
      await mkdir(join(src, p, '..'), { recursive: true });
      if (typeof content === 'string') await writeFile(join(src, p), content);
      else await copyFile(content.copy, join(src, p));
    }
    const iso = join(work, `${name}.iso`);
    const boot = bootable
      ? ['-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '-eltorito-alt-boot', '-e', 'boot/grub/efi.img', '-no-emul-boot']
      : [];
    if (bootable) {
      await mkdir(join(src, 'isolinux'), { recursive: true });
      await mkdir(join(src, 'boot', 'grub'), { recursive: true });
      await writeFile(join(src, 'isolinux', 'isolinux.bin'), Buffer.alloc(2048));
      await writeFile(join(src, 'boot', 'grub', 'efi.img'), Buffer.alloc(64 * 1024));
    }
    await execa('xorriso', ['-as', 'mkisofs', '-o', iso, '-V', `Debian 13.0.0 amd64 n`, '-r', '-J', ...boot, src]);
    return iso;
  }

  it('recognizes a Debian netinst-shaped ISO and extracts kernel, initrd and boot menus', async () => {
    const iso = await makeIso('netinst', {
      '.disk/info': 'Debian GNU/Linux 13.0.0 "Trixie" - Official amd64 NETINST with firmware 20250809-11:21',
      'install.amd/vmlinuz': { copy: real.linux },
      'install.amd/initrd.gz': { copy: real.initrd },
      'boot/grub/grub.cfg': 'menuentry "Install" { linux /install.amd/vmlinuz }\n',
      'isolinux/isolinux.cfg': 'include menu.cfg\ndefault vesamenu.c32\n',
    });
    const cacheDir = await newCache();
    const progress = recordingProgress();
    // No --release: the release comes from /.disk/info.
    const src = await resolveInstaller({ release: 'bookworm', releaseFromSource: true, mirror: DEFAULT_MIRROR, baseIso: iso, cacheDir, progress });
    expect(src.kind).toBe('iso');
    expect(src.release).toBe('trixie');
    expect(src.version).toBe('Debian 13.0.0 amd64 n');
    await expectBootable(src);
    expect((await readFile(src.linux)).equals(await readFile(real.linux))).toBe(true);
    expect(src.iso).toMatchObject({ path: iso, volumeId: 'Debian 13.0.0 amd64 n', kernelPath: '/install.amd/vmlinuz', initrdPath: '/install.amd/initrd.gz' });
    expect(await readFile(src.iso!.grubCfg!, 'utf8')).toContain('menuentry "Install"');
    expect(await readFile(src.iso!.isolinuxCfg!, 'utf8')).toContain('include menu.cfg');
    expect(src.iso!.bootImages.map((b) => b.platform).sort()).toEqual(['BIOS', 'UEFI']);
    expect(src.inputs).toEqual([{ name: 'netinst.iso', sha256: (await execa('sha256sum', [iso])).stdout.split(' ')[0], size: (await stat(iso)).size }]);
    expect(progress.steps[0]).toMatch(/Checking base ISO .*netinst\.iso \(Debian 13\.0\.0 amd64 n\)/);
    // Second time: from the cache (no re-extraction), same answer.
    expect(await resolveInstaller({ release: 'trixie', mirror: DEFAULT_MIRROR, baseIso: iso, cacheDir, progress: silentProgress })).toEqual(src);
    // Strict release: a trixie ISO is not accepted for a bookworm build.
    await expectUserError(resolveInstaller({ release: 'bookworm', mirror: DEFAULT_MIRROR, baseIso: iso, cacheDir, progress: silentProgress }), /is a trixie installer .* but the release is bookworm/);
  });

  it('rejects a file that is not an ISO', async () => {
    const notIso = join(work, 'not-an.iso');
    await writeFile(notIso, randomBytes(100_000));
    const cacheDir = await newCache();
    await expectUserError(resolveInstaller({ release: 'trixie', mirror: DEFAULT_MIRROR, baseIso: notIso, cacheDir, progress: silentProgress }),
      /not-an\.iso is not an ISO 9660 image; expected an official Debian installer ISO/, EXIT.verification);
    await expectCleanCache(cacheDir);
  });

  it('rejects an ISO that is not a Debian installer', async () => {
    const iso = await makeIso('other', { 'README.txt': 'just data\n' }, false);
    const cacheDir = await newCache();
    await expectUserError(resolveInstaller({ release: 'trixie', mirror: DEFAULT_MIRROR, baseIso: iso, cacheDir, progress: silentProgress }),
      /other\.iso is an ISO but not a Debian installer image: it has no \/\.disk\/info, \/install\.amd\/vmlinuz, \/install\.amd\/initrd\.gz/, EXIT.verification);
    expect((await listCache(cacheDir)).filter((f) => f.startsWith('iso/') || f.startsWith('tmp/'))).toEqual(['iso/', 'tmp/']);
    const ubuntuish = await makeIso('ubuntuish', {
      '.disk/info': 'Ubuntu 24.04 LTS "Noble Numbat" - Release amd64',
      'install.amd/vmlinuz': { copy: real.linux },
      'install.amd/initrd.gz': { copy: real.initrd },
    });
    await expectUserError(resolveInstaller({ release: 'trixie', mirror: DEFAULT_MIRROR, baseIso: ubuntuish, cacheDir, progress: silentProgress }), /ubuntuish\.iso is not a Debian installer image: \/\.disk\/info says "Ubuntu 24\.04/);
    expect((await listCache(cacheDir)).filter((f) => f.startsWith('iso/') || f.startsWith('tmp/'))).toEqual(['iso/', 'tmp/']);
  });
});

describe('fetch command', () => {
  async function run(argv: string[]): Promise<{ code: number; stdout: string }> {
    const chunks: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((c: string | Uint8Array) => { chunks.push(String(c)); return true; }) as typeof process.stdout.write;
    try { return { code: await fetchCommand.run(argv), stdout: chunks.join('') }; } finally { process.stdout.write = write; }
  }

  it('prints the cached installer as JSON (offline)', async () => {
    const shared = await sharedInstaller('trixie');
    await sharedLoaders('trixie'); // fetch caches the boot loaders too
    const { code, stdout } = await run(['--offline', '--json', '--cache', SHARED_INSTALLER_CACHE]);
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as InstallerSource;
    expect(out).toMatchObject({ kind: 'netboot', release: 'trixie', version: shared.version, linux: shared.linux, origin: 'cache' });
  });

  it('prints a human summary with the hashes', async () => {
    const shared = await sharedInstaller('trixie');
    const loaders = await sharedLoaders('trixie');
    const { code, stdout } = await run(['--offline', '--cache', SHARED_INSTALLER_CACHE, '--release', 'trixie']);
    expect(code).toBe(0);
    expect(stdout).toContain(`netboot installer ${shared.version} for trixie`);
    expect(stdout).toContain(`sha256 ${shared.inputs[0].sha256}`);
    for (const i of loaders.inputs) expect(stdout).toContain(`sha256 ${i.sha256}  ${i.name}`);
  });

  it('rejects a bad --release and prints --help', async () => {
    await expectUserError(run(['--release', 'sid']), /--release must be one of bookworm, trixie, not 'sid'/, EXIT.usage);
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: personal-cloud fetch');
  });
});

describe('index and package parsing', () => {
  it('parses deb822 stanzas with continuation lines', () => {
    const [a, b] = parseStanzas('Package: a\nDescription: x\n more\n .\nVersion: 1\n\nPackage: b\n');
    expect(a).toEqual({ Package: 'a', Description: 'x\nmore\n.', Version: '1' });
    expect(b).toEqual({ Package: 'b' });
  });

  it('picks the newest version of a package', () => {
    const stanza = (v: string, sha: string) => `Package: p\nVersion: ${v}\nFilename: pool/p_${v}.deb\nSize: 10\nSHA256: ${sha.repeat(64)}\n`;
    const text = [stanza('20230607+deb12u1', 'a'), stanza('20230607+deb12u11', 'b'), stanza('20230607', 'c'), 'Package: pp\nVersion: 99\n'].join('\n');
    expect(findPackage(text, 'p')?.version).toBe('20230607+deb12u11');
    expect(findPackage(text, 'q')).toBeUndefined();
  });

  it('orders Debian versions like dpkg', () => {
    const cases: [string, string, number][] = [
      ['1.0', '1.0', 0], ['1.0~rc1', '1.0', -1], ['1:0.1', '2.0', 1], ['1.0-1', '1.0-2', -1],
      ['20250803+deb13u7', '20250803+deb13u10', -1], ['1.0a', '1.0', 1], ['1.0', '1.0+b1', -1], ['1.10', '1.9', 1],
    ];
    for (const [a, b, want] of cases) expect(Math.sign(compareVersions(a, b)), `${a} vs ${b}`).toBe(want);
  });

  it('reads ar members of a real .deb', async () => {
    const snap = await archiveSnapshot('trixie');
    const members = await readArMembers(snap.debPath);
    expect(members.map((m) => m.name)).toEqual(['debian-binary', 'control.tar.xz', 'data.tar.xz']);
    expect(members.at(-1)!.offset + members.at(-1)!.size).toBeLessThanOrEqual(snap.entry.size);
  });

  it('infers the release from /.disk/info', () => {
    expect(releaseFromDiskInfo('Debian GNU/Linux 13.1.0 "Trixie" - Official amd64 NETINST')).toBe('trixie');
    expect(releaseFromDiskInfo('Debian GNU/Linux 12.11.0 "Bookworm" - Official amd64 DVD Binary-1')).toBe('bookworm');
    expect(releaseFromDiskInfo('Debian GNU/Linux 11 "Bullseye"')).toBeUndefined();
  });
});

describe('.deb unpacking and the cache', () => {
  const prefix = 'usr/lib/debian-installer/images/13/amd64/text/';

  it('recreates links inside the tree, drops links that leave it, extracts only the prefix', async () => {
    const deb = join(work, 'links.deb');
    await buildDeb(deb, 'Package: x\nVersion: 1\n', [
      { name: './usr/', type: 'directory' },
      { name: `./${prefix}debian-installer/amd64/pxelinux.0`, content: 'PXE' },
      { name: `./${prefix}pxelinux.0`, type: 'symlink', linkname: 'debian-installer/amd64/pxelinux.0' },
      { name: `./${prefix}hard.0`, type: 'link', linkname: `./${prefix}debian-installer/amd64/pxelinux.0` },
      { name: `./${prefix}escape`, type: 'symlink', linkname: '../../../../../../../etc/passwd' },
      { name: `./${prefix}absolute`, type: 'symlink', linkname: '/etc/passwd' },
      { name: './usr/share/doc/x/README', content: 'not wanted' },
    ]);
    expect((await readDebControl(deb)).Package).toBe('x');
    const dest = await mkdtemp(join(work, 'tree-'));
    const stats = await extractDebData(deb, prefix, dest);
    expect(stats).toMatchObject({ files: 1, links: 2 });
    expect(await listCache(dest)).toEqual(['debian-installer/', 'debian-installer/amd64/', 'debian-installer/amd64/pxelinux.0', 'hard.0', 'pxelinux.0']);
    expect(await readFile(join(dest, 'pxelinux.0'), 'utf8')).toBe('PXE');
    expect(await readFile(join(dest, 'hard.0'), 'utf8')).toBe('PXE');
  });

  it('never writes outside the target, whatever the entry names and links say', async () => {
    const deb = join(work, 'evil.deb');
    const marker = `pc-evil-${randomBytes(4).toString('hex')}`;
    await buildDeb(deb, 'Package: x\nVersion: 1\n', [
      { name: `./${prefix}../../../../../../../../tmp/${marker}-1`, content: 'x' },
      { name: `./${prefix}a/../../../../../../../../../../tmp/${marker}-2`, content: 'x' },
      { name: `./${prefix}up`, type: 'symlink', linkname: '..' },
      { name: `./${prefix}up/${marker}-3`, content: 'x' },
      { name: `./${prefix}hl`, type: 'link', linkname: '/etc/passwd' },
      { name: `./${prefix}b`, type: 'symlink', linkname: '.' },
      { name: `./${prefix}c`, type: 'symlink', linkname: 'b/..' },
      { name: `./${prefix}c/${marker}-4`, content: 'x' },
      { name: `./${prefix}d`, type: 'symlink', linkname: 'b/..' },
    ]);
    const dest = await mkdtemp(join(work, 'tree-'));
    const stats = await extractDebData(deb, prefix, dest);
    // The climbing names fall outside the prefix; the escaping symlink and hard link are dropped,
    // so 'up/…' becomes an ordinary directory inside the tree.
    // Links are made after all files, so c/… is an ordinary directory in the tree and the link
    // c (-> b/.. -> ..) never exists; d (-> b/..) looks inside but really resolves outside: removed.
    expect(stats).toMatchObject({ files: 2, links: 1 });
    expect(await listCache(dest)).toEqual(['b', 'c/', `c/${marker}-4`, 'up/', `up/${marker}-3`]);
    for (const n of [1, 2]) await expect(stat(`/tmp/${marker}-${n}`)).rejects.toThrow();
    for (const n of [3, 4]) await expect(stat(join(dest, '..', `${marker}-${n}`))).rejects.toThrow();
  });

  it('a netboot-named package without the images tree is rejected and leaves nothing behind', async () => {
    const deb = join(work, 'empty-netboot.deb');
    await buildDeb(deb, 'Package: debian-installer-13-netboot-amd64\nVersion: 1\n', [{ name: './usr/share/doc/README', content: 'x' }]);
    const cacheDir = await newCache();
    await expectUserError(resolveInstaller({ release: 'trixie', mirror: DEFAULT_MIRROR, installer: deb, cacheDir, progress: silentProgress }), /has no files under \/usr\/lib\/debian-installer\/images\/13\/amd64\/text\//, EXIT.verification);
    await expectCleanCache(cacheDir);
  });

  it('sweeps temp files left by a crashed process, keeps those of live ones', async () => {
    const cacheDir = await newCache();
    const cache = new Cache(cacheDir);
    await cache.init();
    const sleeper = execa('sleep', ['30']);
    try {
      await writeFile(join(cacheDir, 'tmp', '999999999-dead.tmp'), 'partial');
      await mkdir(join(cacheDir, 'tmp', '999999998-dead-dir.tmp'));
      await writeFile(join(cacheDir, 'tmp', `${sleeper.pid}-live.tmp`), 'in flight');
      await cache.init();
      expect(await readdir(join(cacheDir, 'tmp'))).toEqual([`${sleeper.pid}-live.tmp`]);
    } finally {
      sleeper.kill();
      await sleeper.catch(() => undefined);
    }
    await cache.init();
    expect(await readdir(join(cacheDir, 'tmp'))).toEqual([]);
  });

  it('chooses the cache directory from the environment', () => {
    expect(defaultCacheDir({ PERSONAL_CLOUD_CACHE: '/x/pc' })).toBe('/x/pc');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x/cache' })).toBe('/x/cache/personal-cloud');
    expect(defaultCacheDir({})).toBe(join(homedir(), '.cache', 'personal-cloud'));
  });
});
