// The download cache. Everything lands under a temp name in `tmp/` first and is renamed into
// place only once verified, so a crash or an error never leaves a half-written blob or tree.
//   blobs/<sha256>          verified downloads (the .deb, Packages indexes)
//   netboot/<deb sha256>/   the extracted netboot tree of that .deb
//   iso/<iso sha256>/       kernel, initrd and boot configs extracted from a base ISO
//   loaders/<deb sha256>/   the boot loader files extracted from that .deb
//   index/<mirror hash>-<release>-<package>.json   the last verified resolution, for offline builds
//   tmp/<pid>-<random>.tmp  in-flight files; removed on error, swept when their process is gone
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { EXIT, UserError } from '../../core/errors.js';
import { defaultCacheDir } from '../util/cache-dir.js';
import { writeFileAtomic } from '../util/fs.js';
import { sha256, sha256File } from '../util/hash.js';

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

// Temp names this process is using right now (shared by every Cache instance in the process).
const live = new Set<string>();

export interface IndexEntry {
  mirror: string;
  release: string;
  package: string;
  version: string;
  filename: string;
  size: number;
  sha256: string;
  verifiedAt: string;
}

export class Cache {
  readonly root: string;
  constructor(root?: string) { this.root = resolve(root ?? defaultCacheDir()); }

  blobPath(sha: string): string { return join(this.root, 'blobs', sha); }
  netbootDir(debSha: string): string { return join(this.root, 'netboot', debSha); }
  isoDir(isoSha: string): string { return join(this.root, 'iso', isoSha); }
  loadersDir(debSha: string): string { return join(this.root, 'loaders', debSha); }
  /** Without a package: the name caches used before they remembered more than the installer. */
  indexPath(mirror: string, release: string, pkg?: string): string {
    return join(this.root, 'index', `${sha256(mirror.replace(/\/+$/, '')).slice(0, 16)}-${release}${pkg ? `-${pkg}` : ''}.json`);
  }

  async init(): Promise<void> {
    try {
      for (const d of ['blobs', 'netboot', 'loaders', 'iso', 'index', 'tmp']) await mkdir(join(this.root, d), { recursive: true });
    } catch (e) {
      throw new UserError(`cannot use cache directory ${this.root}: ${(e as Error).message}`, EXIT.failure, 'pass --cache DIR or set PERSONAL_CLOUD_CACHE');
    }
    await this.sweep();
  }

  /** Removes temp entries left by processes that no longer run (a crash mid-download). */
  async sweep(): Promise<void> {
    const dir = join(this.root, 'tmp');
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const pid = Number(/^(\d+)-/.exec(name)?.[1]);
      if (!pid || (pid === process.pid ? !live.has(name) : !pidAlive(pid))) await rm(join(dir, name), { recursive: true, force: true });
    }
  }

  /** A fresh temp path in the cache (same filesystem, so rename into place is atomic). */
  tmpPath(hint = ''): string {
    const name = `${process.pid}-${randomBytes(6).toString('hex')}${hint ? `-${hint.replace(/[^\w.-]/g, '_')}` : ''}.tmp`;
    live.add(name);
    return join(this.root, 'tmp', name);
  }

  /** Runs `fn` with a temp path that is removed (file or directory) afterwards, whatever happens. */
  async withTmp<T>(hint: string, fn: (tmp: string) => Promise<T>): Promise<T> {
    const tmp = this.tmpPath(hint);
    try {
      return await fn(tmp);
    } finally {
      await rm(tmp, { recursive: true, force: true });
      live.delete(tmp.slice(tmp.lastIndexOf('/') + 1));
    }
  }

  /** Runs `fill(tmp)`, then renames tmp to `final`; on any error removes tmp. An existing `final` wins. */
  async commit<T>(final: string, hint: string, fill: (tmp: string) => Promise<T>): Promise<T> {
    return this.withTmp(hint, async (tmp) => {
      const r = await fill(tmp);
      await mkdir(join(final, '..'), { recursive: true });
      try {
        await rename(tmp, final);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // Another process committed the same content first (directories cannot be renamed over).
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      }
      return r;
    });
  }

  /** Removes a cache entry atomically: renamed out of place first, so no reader sees it half-deleted. */
  async discard(path: string): Promise<void> {
    await this.withTmp('discard', async (tmp) => {
      try { await rename(path, tmp); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
    });
  }

  /** The blob's path if it is cached and still has the expected hash; a corrupt blob is removed. */
  async verifiedBlob(sha: string, size?: number): Promise<string | undefined> {
    const p = this.blobPath(sha);
    const st = await stat(p).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    if ((size !== undefined && st.size !== size) || (await sha256File(p)) !== sha) {
      await rm(p, { force: true });
      return undefined;
    }
    return p;
  }

  async readIndex(mirror: string, release: string, pkg: string): Promise<IndexEntry | undefined> {
    for (const path of [this.indexPath(mirror, release, pkg), this.indexPath(mirror, release)]) {
      try {
        const e = JSON.parse(await readFile(path, 'utf8')) as IndexEntry;
        if (e.package === pkg && typeof e.sha256 === 'string' && /^[0-9a-f]{64}$/.test(e.sha256)) return e;
      } catch { /* not there: the next name */ }
    }
    return undefined;
  }

  async writeIndex(entry: IndexEntry): Promise<void> {
    await writeFileAtomic(this.indexPath(entry.mirror, entry.release, entry.package), `${JSON.stringify(entry, null, 2)}\n`);
  }
}
