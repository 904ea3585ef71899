// The netboot installer: from the archive (archive.ts: InRelease → Packages → .deb, each
// verified), from a local .deb, or from a local directory; unpacked into the cache keyed by the
// .deb's SHA256.
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { RELEASES, type Release } from '../../core/config-types.js';
import { EXIT, UserError } from '../../core/errors.js';
import { sha256File } from '../util/hash.js';
import type { Progress } from '../util/progress.js';
import { resolveArchivePackages } from './archive.js';
import type { Cache } from './cache.js';
import { extractDebData, readDebControl } from './deb.js';
import type { InstallerInput, InstallerSource, ResolveOptions } from './types.js';

export const netbootPackage = (release: Release) => `debian-installer-${RELEASES[release].version}-netboot-amd64`;
const imagesPrefix = (n: number) => `usr/lib/debian-installer/images/${n}/amd64/text/`;
const releaseByNumber = (n: number) => (Object.keys(RELEASES) as Release[]).find((r) => RELEASES[r].version === n);

interface TreeMeta { package: string; version: string; release: Release; deb: InstallerInput; linux: InstallerInput; initrd: InstallerInput }

// ---- checks shared by every source --------------------------------------------------------

async function readHead(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try { const b = Buffer.alloc(n); const { bytesRead } = await fh.read(b, 0, n, 0); return b.subarray(0, bytesRead); } finally { await fh.close(); }
}

/** The kernel must be an x86 bzImage ("HdrS" at 0x202) and the initrd gzip, or it will not boot. */
export async function checkKernelAndInitrd(linux: string, initrd: string, where: string): Promise<void> {
  const k = await readHead(linux, 0x206).catch(() => Buffer.alloc(0));
  if (k.length < 0x206 || k.toString('latin1', 0x202, 0x206) !== 'HdrS') throw new UserError(`${linux} is not an x86 Linux kernel (bzImage) — ${where} is not a Debian installer`, EXIT.verification);
  const i = await readHead(initrd, 2).catch(() => Buffer.alloc(0));
  if (i[0] !== 0x1f || i[1] !== 0x8b) throw new UserError(`${initrd} is not a gzip initrd — ${where} is not a Debian installer`, EXIT.verification);
}

async function fileInput(path: string, name = basename(path)): Promise<InstallerInput> {
  return { name, sha256: await sha256File(path), size: (await stat(path)).size };
}

// ---- the extracted tree in the cache --------------------------------------------------------

function sourceFromTree(treeDir: string, meta: TreeMeta, origin: InstallerSource['origin']): InstallerSource {
  const root = join(treeDir, 'tree');
  const dir = join(root, 'debian-installer', 'amd64');
  return {
    kind: 'netboot', release: meta.release, version: meta.version, origin,
    root, dir, linux: join(dir, 'linux'), initrd: join(dir, 'initrd.gz'),
    inputs: [meta.deb, meta.linux, meta.initrd],
  };
}

/** A cached tree whose kernel and initrd still have the hashes recorded at extraction. */
async function cachedTree(cache: Cache, debSha: string): Promise<{ dir: string; meta: TreeMeta } | undefined> {
  const dir = cache.netbootDir(debSha);
  let meta: TreeMeta;
  try { meta = JSON.parse(await readFile(join(dir, 'source.json'), 'utf8')) as TreeMeta; } catch { return undefined; }
  const amd64 = join(dir, 'tree', 'debian-installer', 'amd64');
  for (const [file, want] of [['linux', meta.linux], ['initrd.gz', meta.initrd]] as const) {
    const got = await sha256File(join(amd64, file)).catch(() => '');
    if (got !== want.sha256) return undefined;
  }
  return { dir, meta };
}

/** Unpacks a verified netboot .deb into netboot/<sha>/ (atomically). */
async function unpackDeb(cache: Cache, debPath: string, debSha: string, release: Release, progress: Progress, releaseFromSource = false): Promise<{ dir: string; meta: TreeMeta }> {
  const control = await readDebControl(debPath);
  const m = /^debian-installer-(\d+)-netboot-amd64$/.exec(control.Package ?? '');
  if (!m) throw new UserError(`${debPath} is package '${control.Package ?? '?'}', expected a Debian netboot installer (${netbootPackage(release)})`, EXIT.verification);
  const found = releaseByNumber(Number(m[1]));
  if (!found) throw new UserError(`${debPath} is the installer for Debian ${m[1]}, which this tool does not support (supported: ${Object.keys(RELEASES).join(', ')})`, EXIT.verification);
  if (found !== release && !releaseFromSource) throw new UserError(`${debPath} is the ${found} installer (${control.Package}) but the release is ${release}: use ${netbootPackage(release)}`, EXIT.verification);
  const n = Number(m[1]);
  const final = cache.netbootDir(debSha);
  const existing = await cachedTree(cache, debSha);
  if (existing) return existing;
  await cache.discard(final); // a damaged tree (failed its hash check): rebuild it
  progress.step(`Unpacking ${control.Package} ${control.Version}`);
  await cache.commit(final, `netboot-${debSha.slice(0, 12)}`, async (tmp) => {
    const root = join(tmp, 'tree');
    const stats = await extractDebData(debPath, imagesPrefix(n), root);
    if (!stats.files) throw new UserError(`${debPath} has no files under /${imagesPrefix(n)}: not a netboot installer package`, EXIT.verification);
    const amd64 = join(root, 'debian-installer', 'amd64');
    await checkKernelAndInitrd(join(amd64, 'linux'), join(amd64, 'initrd.gz'), debPath);
    const meta: TreeMeta = {
      package: control.Package!, version: control.Version ?? '', release: found,
      deb: { name: basename(debPath).endsWith('.deb') && !/^[0-9a-f]{64}$/.test(basename(debPath)) ? basename(debPath) : `${control.Package}_${control.Version}_all.deb`, sha256: debSha, size: (await stat(debPath)).size },
      linux: await fileInput(join(amd64, 'linux'), 'linux'),
      initrd: await fileInput(join(amd64, 'initrd.gz'), 'initrd.gz'),
    };
    await writeFile(join(tmp, 'source.json'), `${JSON.stringify(meta, null, 2)}\n`);
  });
  const done = await cachedTree(cache, debSha);
  if (!done) throw new UserError(`the unpacked installer in ${final} failed its check right after unpacking (disk problem?)`);
  return done;
}

// ---- from the archive ---------------------------------------------------------------------

const FETCH_HINT = 'run `personal-cloud fetch` once with network access (same --mirror and --cache), or pass --installer DIR|DEB or --base-iso FILE';

/** The release's netboot package, verified from the archive (or, offline, the last one verified), unpacked. */
export async function resolveNetboot(opts: ResolveOptions, cache: Cache): Promise<InstallerSource> {
  const pkg = netbootPackage(opts.release);
  const [deb] = await resolveArchivePackages(opts, cache, [pkg], 'installer', FETCH_HINT);
  let tree = await cachedTree(cache, deb.sha256);
  if (tree) opts.progress.step(`${pkg} ${deb.version} is already in the cache`);
  else tree = await unpackDeb(cache, deb.path, deb.sha256, opts.release, opts.progress);
  return sourceFromTree(tree.dir, tree.meta, deb.origin);
}

// ---- local sources ------------------------------------------------------------------------

export async function netbootFromLocalDeb(path: string, opts: ResolveOptions, cache: Cache): Promise<InstallerSource> {
  opts.progress.step(`Checking ${path}`);
  const sha = await sha256File(path);
  const tree = await unpackDeb(cache, path, sha, opts.release, opts.progress, opts.releaseFromSource);
  return sourceFromTree(tree.dir, tree.meta, 'local-deb');
}

async function isFile(p: string): Promise<boolean> { return (await stat(p).catch(() => undefined))?.isFile() ?? false; }

/** Accepts the package's images/NN/amd64/text dir (or an unpacked netboot.tar.gz) or its debian-installer/amd64 subdir. */
export async function netbootFromLocalDir(path: string, opts: ResolveOptions): Promise<InstallerSource> {
  const abs = resolve(path);
  const candidates = [abs, join(abs, 'debian-installer', 'amd64'), join(abs, 'amd64', 'text', 'debian-installer', 'amd64'), join(abs, 'text', 'debian-installer', 'amd64')];
  let dir: string | undefined;
  for (const c of candidates) if (await isFile(join(c, 'linux')) && await isFile(join(c, 'initrd.gz'))) { dir = c; break; }
  if (!dir) {
    throw new UserError(`${path} does not hold a Debian netboot installer: expected linux and initrd.gz in it or in its debian-installer/amd64/ subdirectory`, EXIT.usage,
      'point --installer at .../images/NN/amd64/text (from the debian-installer-NN-netboot-amd64 package) or its debian-installer/amd64 dir, or at the .deb itself');
  }
  const linux = join(dir, 'linux');
  const initrd = join(dir, 'initrd.gz');
  await checkKernelAndInitrd(linux, initrd, path);
  const root = basename(dir) === 'amd64' && basename(dirname(dir)) === 'debian-installer' ? dirname(dirname(dir)) : undefined;
  // version.info: "Debian version:  13 (trixie)" / "Installer build: 20250803+deb13u7"
  const info = root ? await readFile(join(root, 'version.info'), 'utf8').catch(() => '') : '';
  const num = /Debian version:\s*(\d+)/.exec(info)?.[1];
  const build = /Installer build:\s*(\S+)/.exec(info)?.[1];
  let release = opts.release;
  if (num) {
    const found = releaseByNumber(Number(num));
    if (!found) throw new UserError(`${path} is the installer for Debian ${num}, which this tool does not support`, EXIT.verification);
    if (found !== opts.release && !opts.releaseFromSource) throw new UserError(`${path} is the ${found} installer (version.info says Debian ${num}) but the release is ${opts.release}`, EXIT.verification);
    release = found;
  }
  for (const f of ['grubx64.efi', 'bootnetx64.efi', 'pxelinux.0']) {
    if (!(await isFile(join(dir, f)))) opts.progress.step(`note: ${dir} has no ${f}; media that need it cannot be built from this directory`);
  }
  return {
    kind: 'netboot', release, version: build ?? 'local', origin: 'local-dir',
    root, dir, linux, initrd,
    inputs: [await fileInput(linux, 'linux'), await fileInput(initrd, 'initrd.gz')],
  };
}
