// The boot loaders of the release being installed: its shim, signed GRUB, isolinux, syslinux
// modules and pxelinux, fetched and verified like the installer (archive.ts), and only the needed
// files extracted into the cache under the .deb's SHA256. So a trixie image boots trixie's GRUB
// whatever the build machine runs, GRUB's SBAT level matches the kernel's release, and two
// machines give the same bytes for the same inputs. The build machine's copies only on request.
import { access, readFile, writeFile } from 'node:fs/promises';
import { basename, join, posix } from 'node:path';
import { EXIT, UserError } from '../../core/errors.js';
import { sha256File } from '../util/hash.js';
import { BOOT_FILES, LOADER_SETS, packagesOf, type BootFile, type BootLoaders, type LoaderSet } from '../write/boot-files.js';
import { resolveArchivePackages, type ArchiveOptions, type VerifiedDeb } from './archive.js';
import type { Cache } from './cache.js';
import { extractDebData, listDebData, type DebEntry } from './deb.js';

export interface LoaderOptions extends ArchiveOptions {
  set: LoaderSet;
  /** Take the files from the build machine's /usr/lib instead (offline without a cache). */
  host?: boolean;
}

/** files.json of an extracted package: path in the package → the regular file it resolves to. */
interface Unpacked { package: string; version: string; files: Record<string, { file: string; sha256: string }> }

const FETCH_HINT = 'run `personal-cloud fetch` once with network access (same --mirror and --cache), or build with --host-loaders to use the build machine\'s boot loaders';

/** Every loader path this tool takes from `pkg`, whichever output asks: one extraction serves them all. */
const pathsOf = (pkg: string) => Object.values(BOOT_FILES).filter((f) => f.pkg === pkg).map((f) => f.path);

async function cachedUnpack(dir: string, paths: string[]): Promise<Unpacked | undefined> {
  let meta: Unpacked;
  try { meta = JSON.parse(await readFile(join(dir, 'files.json'), 'utf8')) as Unpacked; } catch { return undefined; }
  for (const p of paths) {
    const f = meta.files[p];
    if (!f || (await sha256File(join(dir, 'tree', f.file)).catch(() => '')) !== f.sha256) return undefined;
  }
  return meta;
}

/** `path` in the package followed through symlinks (relative or absolute) to a regular file, or undefined. */
function resolveInPackage(entries: Map<string, DebEntry>, path: string): string | undefined {
  let p = path;
  for (let hops = 0; hops < 16; hops++) {
    const e = entries.get(p);
    if (!e) return undefined;
    if (e.type === 'file' || e.type === 'contiguous-file') return p;
    if ((e.type !== 'symlink' && e.type !== 'link') || !e.linkname) return undefined;
    // A hard link names its target from the archive root, a symlink from its own directory.
    const to = e.type === 'link' || e.linkname.startsWith('/') ? e.linkname : posix.join(posix.dirname(p), e.linkname);
    p = posix.normalize(to.replace(/^\.?\//, '').replace(/^\/+/, ''));
  }
  return undefined;
}

/** Extracts just the files `deb` must hold, resolved through in-package links (shimx64.efi.signed may name a versioned file). */
async function unpack(cache: Cache, deb: VerifiedDeb): Promise<{ dir: string; meta: Unpacked }> {
  const dir = cache.loadersDir(deb.sha256);
  const paths = pathsOf(deb.package);
  const existing = await cachedUnpack(dir, paths);
  if (existing) return { dir, meta: existing };
  await cache.discard(dir); // damaged (failed its hash check): extract again from the verified blob
  await cache.commit(dir, `loaders-${deb.sha256.slice(0, 12)}`, async (tmp) => {
    const entries = new Map((await listDebData(deb.path)).map((e) => [e.path, e]));
    const meta: Unpacked = { package: deb.package, version: deb.version, files: {} };
    for (const p of paths) {
      const file = resolveInPackage(entries, p);
      if (!file) {
        throw new UserError(`${basename(deb.filename)} (${deb.package} ${deb.version}) has no file /${p}: this tool does not know this version's layout`, EXIT.verification,
          'report it; until then build with --host-loaders');
      }
      meta.files[p] = { file, sha256: '' };
    }
    const wanted = new Set(Object.values(meta.files).map((f) => f.file));
    const tree = join(tmp, 'tree');
    await extractDebData(deb.path, '', tree, (r) => wanted.has(r));
    for (const f of Object.values(meta.files)) f.sha256 = await sha256File(join(tree, f.file));
    await writeFile(join(tmp, 'files.json'), `${JSON.stringify(meta, null, 2)}\n`);
  });
  const done = await cachedUnpack(dir, paths);
  if (!done) throw new UserError(`the boot loaders extracted into ${dir} failed their check right after extraction (disk problem?)`);
  return { dir, meta: done };
}

async function hostLoaders(set: LoaderSet): Promise<BootLoaders> {
  const loaders: BootLoaders = { origin: 'host', files: {}, inputs: [] };
  for (const name of LOADER_SETS[set]) {
    const f = BOOT_FILES[name];
    const path = `/${f.path}`;
    try { await access(path); } catch {
      throw new UserError(`--host-loaders: ${path} is missing on this machine`, EXIT.tool, `apt-get install ${f.pkg}, or build without --host-loaders to use the release's own packages`);
    }
    loaders.files[name] = path;
    loaders.inputs.push({ name: path, sha256: await sha256File(path) });
  }
  return loaders;
}

export async function resolveBootLoaders(opts: LoaderOptions, cache: Cache): Promise<BootLoaders> {
  if (opts.host) return hostLoaders(opts.set);
  const names = packagesOf(opts.set);
  const debs = await resolveArchivePackages(opts, cache, names, `boot loader packages (${names.join(', ')})`, FETCH_HINT);
  const loaders: BootLoaders = { origin: debs.every((d) => d.origin === 'archive') ? 'archive' : 'cache', files: {}, inputs: [] };
  const byPkg = new Map<string, { dir: string; meta: Unpacked }>();
  for (const deb of debs) {
    byPkg.set(deb.package, await unpack(cache, deb));
    loaders.inputs.push({ name: basename(deb.filename), version: deb.version, sha256: deb.sha256, size: deb.size });
  }
  for (const name of LOADER_SETS[opts.set] as readonly BootFile[]) {
    const { pkg, path } = BOOT_FILES[name];
    const { dir, meta } = byPkg.get(pkg)!;
    loaders.files[name] = join(dir, 'tree', meta.files[path].file);
  }
  opts.progress.step(`boot loaders of ${opts.release}: ${debs.map((d) => `${d.package} ${d.version}`).join(', ')}`);
  return loaders;
}
