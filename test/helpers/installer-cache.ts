// The real Debian netboot installer, downloaded once and kept across test runs in
// <repo>/.cache/test-installer (gitignored), so every test file (ISO, PXE, installer) shares it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import type { Release } from '../../core/config-types.js';
import { resolveInstaller, DEFAULT_MIRROR, type InstallerSource } from '../../src/installer/resolve.js';
import { fetchBuffer } from '../../src/installer/http.js';
import { Cache } from '../../src/installer/cache.js';
import { findPackage, type PackageEntry } from '../../src/installer/packages-index.js';
import { parseRelease, verifyInRelease } from '../../src/installer/inrelease.js';
import { packagesIndexCandidates } from '../../src/installer/archive.js';
import { resolveBootLoaders } from '../../src/installer/boot-loaders.js';
import type { BootLoaders, LoaderSet } from '../../src/write/boot-files.js';
import { sha256 } from '../../src/util/hash.js';
import { silentProgress } from '../../src/util/progress.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SHARED_INSTALLER_CACHE = join(REPO_ROOT, '.cache', 'test-installer');

const resolved = new Map<Release, Promise<InstallerSource>>();

/** The real netboot installer for `release` (fetched and verified from the archive, or from the shared cache). */
export function sharedInstaller(release: Release = 'trixie'): Promise<InstallerSource> {
  let p = resolved.get(release);
  if (!p) {
    p = resolveInstaller({ release, mirror: DEFAULT_MIRROR, cacheDir: SHARED_INSTALLER_CACHE, progress: silentProgress });
    p.catch(() => resolved.delete(release));
    resolved.set(release, p);
  }
  return p;
}

export interface ArchiveSnapshot {
  release: Release;
  inRelease: Buffer;
  /** Captured Packages indexes by path under dists/RELEASE/ (as the real mirror served them). */
  indexes: Map<string, Buffer>;
  entry: PackageEntry;
  /** The verified .deb in the shared cache (named by its SHA256). */
  debPath: string;
}

const snapshots = new Map<Release, Promise<ArchiveSnapshot>>();

/** Copies of the real archive files (InRelease, Packages indexes, the netboot .deb) to serve from a local server. */
export function archiveSnapshot(release: Release = 'trixie'): Promise<ArchiveSnapshot> {
  let p = snapshots.get(release);
  if (!p) {
    p = (async () => {
      const base = `${DEFAULT_MIRROR}/dists/${release}`;
      const inRelease = (await fetchBuffer(`${base}/InRelease`)).data;
      const tmp = await mkdtemp(join(tmpdir(), 'pc-snapshot-'));
      const rel = parseRelease(await verifyInRelease(inRelease, tmp, 'InRelease').finally(() => rm(tmp, { recursive: true, force: true })));
      const name = `debian-installer-${release === 'trixie' ? 13 : 12}-netboot-amd64`;
      const indexes = new Map<string, Buffer>();
      let entry: PackageEntry | undefined;
      // The same choice resolveInstaller makes: the first index that matches InRelease and lists the package.
      for (const path of packagesIndexCandidates(rel)) {
        const data = (await fetchBuffer(`${base}/${path}`)).data;
        indexes.set(path, data);
        if (entry || sha256(data) !== rel.sha256.get(path)?.sha256) continue;
        const text = path.endsWith('.xz') ? (await execa('xz', ['-dc'], { input: data, encoding: 'buffer', maxBuffer: 1 << 30 })).stdout : gunzipSync(data);
        entry = findPackage(Buffer.from(text).toString('utf8'), name);
      }
      if (!entry) throw new Error(`${name} is in no Packages index of ${base} that matches its InRelease`);
      await sharedInstaller(release);
      const debPath = await new Cache(SHARED_INSTALLER_CACHE).verifiedBlob(entry.sha256, entry.size);
      if (!debPath) throw new Error(`the archive changed while the test set up (${entry.version}); rerun`);
      return { release, inRelease, indexes, entry, debPath };
    })();
    p.catch(() => snapshots.delete(release));
    snapshots.set(release, p);
  }
  return p;
}

const loaderSets = new Map<string, Promise<BootLoaders>>();

/** The release's boot loaders (fetched and verified from the archive into the shared cache). */
export function sharedLoaders(release: Release = 'trixie', set: LoaderSet = 'all'): Promise<BootLoaders> {
  const key = `${release}/${set}`;
  let p = loaderSets.get(key);
  if (!p) {
    p = (async () => {
      const cache = new Cache(SHARED_INSTALLER_CACHE);
      await cache.init();
      return resolveBootLoaders({ release, mirror: DEFAULT_MIRROR, set, progress: silentProgress }, cache);
    })();
    p.catch(() => loaderSets.delete(key));
    loaderSets.set(key, p);
  }
  return p;
}

/**
 * A file of a release's package as dpkg itself unpacks it (not through our extraction): the
 * .deb is the one the shared cache verified for that release.
 */
export async function packageFile(release: Release, pkg: string, path: string): Promise<Buffer> {
  const entry = await new Cache(SHARED_INSTALLER_CACHE).readIndex(DEFAULT_MIRROR, release, pkg);
  if (!entry) throw new Error(`${pkg} for ${release} is not in the shared cache: call sharedLoaders('${release}') first`);
  const r = await execa('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -xO "./$2"', 'sh', new Cache(SHARED_INSTALLER_CACHE).blobPath(entry.sha256), path], { encoding: 'buffer', maxBuffer: 1 << 28 });
  return Buffer.from(r.stdout);
}
