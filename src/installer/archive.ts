// Verified packages of one release from a Debian archive: InRelease checked with gpgv against
// the archive keyring, the Packages index by the SHA256 InRelease gives, each .deb by the SHA256
// the index gives, kept in the cache by that hash. The last verified resolution of each package
// is remembered per (mirror, release), so offline builds and an unreachable mirror use the cache.
import { basename, dirname } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import type { Release } from '../../core/config-types.js';
import { EXIT, UserError } from '../../core/errors.js';
import type { Progress } from '../util/progress.js';
import type { Cache, IndexEntry } from './cache.js';
import { fetchBuffer, fetchToFile, UnreachableError, type HttpOptions } from './http.js';
import { parseRelease, verifyInRelease } from './inrelease.js';
import { findPackage } from './packages-index.js';

export interface ArchiveOptions {
  release: Release;
  mirror: string;
  proxy?: string;
  keyring?: string;
  offline?: boolean;
  progress: Progress;
}

/** A verified .deb in the cache, with what the archive said about it. */
export interface VerifiedDeb {
  package: string;
  version: string;
  /** Path in the archive (pool/main/...). */
  filename: string;
  size: number;
  sha256: string;
  /** The blob in the cache. */
  path: string;
  origin: 'archive' | 'cache';
  verifiedAt: string;
}

export function mismatch(what: string, expected: string, got: string): UserError {
  return new UserError(`SHA256 mismatch for ${what}: expected ${expected}, got ${got}`, EXIT.verification, 'the mirror or the download is corrupt or tampered with; retry, or try another --mirror');
}

const mirrorBase = (mirror: string) => mirror.replace(/\/+$/, '');

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
 * The Packages indexes that can list a package, in the order they are read: binary-all (arch:all
 * packages such as the netboot installer or isolinux), then binary-amd64 (the amd64 packages
 * such as shim-signed; it also lists arch:all packages, and is the authoritative one when
 * InRelease says No-Support-for-Architecture-all). Per directory the .xz if InRelease lists it,
 * else the .gz.
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

type Entry = NonNullable<ReturnType<typeof findPackage>>;

/** The verified entries for `names`, reading the indexes in order until every name is found. */
async function findInArchive(base: string, release: Release, rel: ReturnType<typeof parseRelease>, names: string[], http: HttpOptions, progress: Progress): Promise<Map<string, Entry>> {
  const candidates = packagesIndexCandidates(rel);
  if (!candidates.length) throw new UserError(`${base}/dists/${release}/InRelease lists no main/binary-all or main/binary-amd64 Packages index`, EXIT.verification);
  const found = new Map<string, Entry>();
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
    for (const name of names) {
      if (found.has(name)) continue;
      const entry = findPackage(index.text, name);
      if (entry) found.set(name, entry);
    }
    if (found.size === names.length) return found;
  }
  if (!searched.length) {
    const verification = errors.some((e) => e.exitCode === EXIT.verification);
    throw new UserError(`no Packages index of ${base} matches its InRelease: ${errors.map((e) => e.message).join('; ')}`, verification ? EXIT.verification : EXIT.failure,
      'the mirror may be mid-update (retry later) or corrupt; try another --mirror');
  }
  const missing = names.filter((n) => !found.has(n));
  throw new UserError(`${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not in ${searched.join(' or ')}`, EXIT.failure, `is ${base} a full Debian mirror for ${release}?`);
}

/** Downloads (or finds in the cache) and verifies `names` from the archive; remembers each for offline use. */
export async function fetchFromArchive(opts: ArchiveOptions, cache: Cache, names: string[]): Promise<VerifiedDeb[]> {
  const { release, progress } = opts;
  const base = mirrorBase(opts.mirror);
  const http: HttpOptions = { proxy: opts.proxy };
  progress.step(`Checking ${base} (${release}) for ${names.join(', ')}`);
  const inRelease = `${base}/dists/${release}/InRelease`;
  const ir = await fetchBuffer(inRelease, { ...http, maxBytes: 64 * 1024 * 1024 });
  const signed = await cache.withTmp('gpgv', (tmp) => verifyInRelease(ir.data, tmp, inRelease, opts.keyring));
  const rel = parseRelease(signed);
  if (rel.codename !== release && rel.suite !== release) {
    throw new UserError(`${inRelease} is for ${rel.codename ?? rel.suite ?? 'an unknown release'}, not ${release}`, EXIT.verification);
  }
  const entries = await findInArchive(base, release, rel, names, http, progress);
  const out: VerifiedDeb[] = [];
  for (const name of names) {
    const e = entries.get(name)!;
    const path = await downloadBlob(cache, `${base}/${e.filename}`, e.sha256, e.size, http, progress, basename(e.filename));
    const record: IndexEntry = { mirror: base, release, package: name, version: e.version, filename: e.filename, size: e.size, sha256: e.sha256, verifiedAt: new Date().toISOString() };
    out.push({ ...record, path, origin: 'archive' });
  }
  // Remembered only once every package is in the cache, so an offline build finds all or says which is missing.
  for (const d of out) await cache.writeIndex({ mirror: base, release, package: d.package, version: d.version, filename: d.filename, size: d.size, sha256: d.sha256, verifiedAt: d.verifiedAt });
  return out;
}

/** The last verified resolution of `names` for (mirror, release), from the cache only; `what` names them in errors. */
export async function fromCache(opts: ArchiveOptions, cache: Cache, names: string[], why: string, what: string, hint: string): Promise<VerifiedDeb[]> {
  const base = mirrorBase(opts.mirror);
  const out: VerifiedDeb[] = [];
  const missing: string[] = [];
  for (const name of names) {
    const entry = await cache.readIndex(base, opts.release, name);
    const path = entry && await cache.verifiedBlob(entry.sha256, entry.size);
    if (!entry || !path) { missing.push(entry ? `${name} (the cached ${entry.version} is missing or damaged)` : name); continue; }
    out.push({ ...entry, package: name, path, origin: 'cache' });
  }
  if (missing.length) {
    const which = names.length > 1 || missing[0] !== names[0] ? ` (missing: ${missing.join(', ')})` : '';
    throw new UserError(`${why}, and the cache (${cache.root}) has no ${what} for ${opts.release} from ${base}${which}`, EXIT.failure, hint);
  }
  opts.progress.step(`${why}: using the cached ${out.map((d) => `${d.package} ${d.version} (verified ${d.verifiedAt})`).join(', ')}`);
  return out;
}

/**
 * Verified .debs of `names` in the release: from the archive, or with `offline` (or when the
 * mirror cannot be reached) the last ones verified from it, out of the cache.
 */
export async function resolveArchivePackages(opts: ArchiveOptions, cache: Cache, names: string[], what: string, hint: string): Promise<VerifiedDeb[]> {
  if (opts.offline) return fromCache(opts, cache, names, 'offline', what, hint);
  try {
    return await fetchFromArchive(opts, cache, names);
  } catch (e) {
    if (e instanceof UnreachableError) return fromCache(opts, cache, names, `mirror unreachable (${e.message})`, what, hint);
    throw e;
  }
}
