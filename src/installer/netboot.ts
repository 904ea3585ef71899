// The netboot installer: from the archive (InRelease → Packages → .deb, each verified), from a
// local .deb, or from a local directory; unpacked into the cache keyed by the .deb's SHA256.
import { open, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { RELEASES, type Release } from '../../core/config-types.js';
import { EXIT, UserError } from '../../core/errors.js';
import { sha256File } from '../util/hash.js';
import type { Progress } from '../util/progress.js';
import type { Cache, IndexEntry } from './cache.js';
import { extractDebData, readDebControl } from './deb.js';
import { fetchBuffer, fetchToFile, UnreachableError, type HttpOptions } from './http.js';
import { parseRelease, verifyInRelease } from './inrelease.js';
import { findPackage, type PackageEntry } from './packages-index.js';
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

function mismatch(what: string, expected: string, got: string): UserError {
  return new UserError(`SHA256 mismatch for ${what}: expected ${expected}, got ${got}`, EXIT.verification, 'the mirror or the download is corrupt or tampered with; retry, or try another --mirror');
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

async function downloadBlob(cache: Cache, url: string, sha: string, size: number, http: HttpOptions, progress: Progress, label: string): Promise<string> {
  const cached = await cache.verifiedBlob(sha, size);
  if (cached) return cached;
  progress.step(`Downloading ${url}`);
  await cache.commit(cache.blobPath(sha), `blob-${sha.slice(0, 12)}`, async (tmp) => {
    const r = await fetchToFile(url, tmp, { ...http, expectedSize: size, progress, label });
    if (r.sha256 !== sha) throw mismatch(url, sha, r.sha256);
  });
  progress.done();
  return cache.blobPath(sha);
}

/**
 * The Packages indexes that can list the netboot package, best first: binary-all (the package is
 * Architecture: all), then binary-amd64 (which also lists arch:all packages, and is the
 * authoritative one when InRelease says No-Support-for-Architecture-all). Per directory the .xz
 * if InRelease lists it, else the .gz.
 */
export function packagesIndexCandidates(rel: ReturnType<typeof parseRelease>): string[] {
  const out: string[] = [];
  for (const dir of ['main/binary-all', 'main/binary-amd64']) {
    const p = [`${dir}/Packages.xz`, `${dir}/Packages.gz`].find((x) => rel.sha256.has(x));
    if (p) out.push(p);
  }
  return out;
}

async function fetchIndexFile(base: string, release: Release, path: string, want: { sha256: string; size: number }, rel: ReturnType<typeof parseRelease>, http: HttpOptions): Promise<{ text: string; url: string }> {
  const url = `${base}/dists/${release}/${path}`;
  let got: Awaited<ReturnType<typeof fetchBuffer>> | undefined;
  let failure: unknown;
  try {
    got = await fetchBuffer(url, { ...http, expectedSize: want.size, maxBytes: 512 * 1024 * 1024 });
    if (got.sha256 !== want.sha256) failure = mismatch(url, want.sha256, got.sha256);
  } catch (e) {
    if (e instanceof UnreachableError) throw e;
    failure = e;
  }
  if (failure && rel.acquireByHash) {
    // The mirror may be mid-update (index newer than InRelease); by-hash names are immutable.
    const byHash = `${base}/dists/${release}/${dirname(path)}/by-hash/SHA256/${want.sha256}`;
    const retry = await fetchBuffer(byHash, { ...http, expectedSize: want.size }).catch(() => undefined);
    if (retry?.sha256 === want.sha256) { got = retry; failure = undefined; }
  }
  if (failure || !got) throw failure;
  const data = path.endsWith('.xz')
    ? (await execa('xz', ['-dc'], { input: got.data, encoding: 'buffer', maxBuffer: 1024 * 1024 * 1024 }).catch((e: { code?: string; shortMessage?: string }) => {
      throw new UserError(e.code === 'ENOENT' ? 'xz is not installed' : `cannot decompress ${url}: ${e.shortMessage}`, EXIT.tool, 'apt-get install xz-utils');
    })).stdout
    : gunzipSync(got.data);
  return { text: Buffer.from(data).toString('utf8'), url };
}

/** The verified entry for `pkg` from the first Packages index that checks out and lists it. */
async function findInArchive(base: string, release: Release, rel: ReturnType<typeof parseRelease>, pkg: string, http: HttpOptions, progress: Progress): Promise<PackageEntry> {
  const candidates = packagesIndexCandidates(rel);
  if (!candidates.length) throw new UserError(`${base}/dists/${release}/InRelease lists no main/binary-all or main/binary-amd64 Packages index`, EXIT.verification);
  const errors: UserError[] = [];
  const searched: string[] = [];
  for (const path of candidates) {
    let index: { text: string; url: string };
    try {
      index = await fetchIndexFile(base, release, path, rel.sha256.get(path)!, rel, http);
    } catch (e) {
      if (e instanceof UnreachableError || !(e instanceof UserError)) throw e;
      errors.push(e);
      progress.step(`${e.message}; trying the next index`);
      continue;
    }
    searched.push(index.url);
    const entry = findPackage(index.text, pkg);
    if (entry) return entry;
  }
  if (!searched.length) {
    const verification = errors.some((e) => e.exitCode === EXIT.verification);
    throw new UserError(`no Packages index of ${base} matches its InRelease: ${errors.map((e) => e.message).join('; ')}`, verification ? EXIT.verification : EXIT.failure,
      'the mirror may be mid-update (retry later) or corrupt; try another --mirror');
  }
  throw new UserError(`${pkg} is not in ${searched.join(' or ')}`, EXIT.failure, `is ${base} a full Debian mirror for ${release}?`);
}

export async function fetchNetbootFromArchive(opts: ResolveOptions, cache: Cache): Promise<InstallerSource> {
  const { release, progress } = opts;
  const base = opts.mirror.replace(/\/+$/, '');
  const http: HttpOptions = { proxy: opts.proxy };
  const pkg = netbootPackage(release);
  progress.step(`Checking ${base} (${release}) for ${pkg}`);
  const inRelease = `${base}/dists/${release}/InRelease`;
  const ir = await fetchBuffer(inRelease, { ...http, maxBytes: 64 * 1024 * 1024 });
  const signed = await cache.withTmp('gpgv', (tmp) => verifyInRelease(ir.data, tmp, inRelease, opts.keyring));
  const rel = parseRelease(signed);
  if (rel.codename !== release && rel.suite !== release) {
    throw new UserError(`${inRelease} is for ${rel.codename ?? rel.suite ?? 'an unknown release'}, not ${release}`, EXIT.verification);
  }
  const entry = await findInArchive(base, release, rel, pkg, http, progress);
  let tree = await cachedTree(cache, entry.sha256);
  if (tree) progress.step(`${pkg} ${entry.version} is already in the cache`);
  else {
    const deb = await downloadBlob(cache, `${base}/${entry.filename}`, entry.sha256, entry.size, http, progress, basename(entry.filename));
    tree = await unpackDeb(cache, deb, entry.sha256, release, progress);
  }
  const record: IndexEntry = { mirror: base, release, package: pkg, version: entry.version, filename: entry.filename, size: entry.size, sha256: entry.sha256, verifiedAt: new Date().toISOString() };
  await cache.writeIndex(record);
  return sourceFromTree(tree.dir, tree.meta, 'archive');
}

/** The last verified resolution for (mirror, release), from the cache only. */
export async function netbootFromCache(opts: ResolveOptions, cache: Cache, why: string): Promise<InstallerSource> {
  const base = opts.mirror.replace(/\/+$/, '');
  const entry = await cache.readIndex(base, opts.release);
  if (!entry) {
    throw new UserError(`${why}, and the cache (${cache.root}) has no installer for ${opts.release} from ${base}`, EXIT.failure,
      'run `personal-cloud fetch` once with network access (same --mirror and --cache), or pass --installer DIR|DEB or --base-iso FILE');
  }
  let tree = await cachedTree(cache, entry.sha256);
  if (!tree) {
    const blob = await cache.verifiedBlob(entry.sha256, entry.size);
    if (!blob) throw new UserError(`${why}, and the cached ${entry.package} ${entry.version} in ${cache.root} is missing or damaged`, EXIT.failure, 'run `personal-cloud fetch` with network access to download it again');
    tree = await unpackDeb(cache, blob, entry.sha256, opts.release, opts.progress);
  }
  opts.progress.step(`${why}: using the cached ${entry.package} ${entry.version} (verified ${entry.verifiedAt})`);
  return sourceFromTree(tree.dir, tree.meta, 'cache');
}

export async function resolveNetboot(opts: ResolveOptions, cache: Cache): Promise<InstallerSource> {
  if (opts.offline) return netbootFromCache(opts, cache, 'offline');
  try {
    return await fetchNetbootFromArchive(opts, cache);
  } catch (e) {
    if (e instanceof UnreachableError) return netbootFromCache(opts, cache, `mirror unreachable (${e.message})`);
    throw e;
  }
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
