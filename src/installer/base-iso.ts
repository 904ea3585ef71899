// A user-supplied official Debian installer ISO (netinst/DVD) to remaster: recognized by its
// ISO 9660 header, its El Torito boot records and /.disk/info, with the installer kernel and
// initrd (and the boot menus) extracted into the cache by the ISO's SHA256.
import { chmod, mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { RELEASES, type Release } from '../../core/config-types.js';
import { EXIT, UserError } from '../../core/errors.js';
import { sha256 } from '../util/hash.js';
import type { Cache } from './cache.js';
import { checkKernelAndInitrd } from './netboot.js';
import type { InstallerSource, IsoSource, ResolveOptions } from './types.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

const KERNEL = '/install.amd/vmlinuz';
const INITRD = '/install.amd/initrd.gz';
const OPTIONAL = ['/boot/grub/grub.cfg', '/isolinux/isolinux.cfg', '/isolinux/txt.cfg'];
const local = (isoPath: string) => isoPath.replace(/^\//, '').replace(/\//g, '__');

const EXPECTED = 'an official Debian installer ISO (netinst or DVD, amd64) with /.disk/info, /install.amd/vmlinuz and /install.amd/initrd.gz';

/** Reads the primary volume descriptor ourselves: "CD001" at 0x8001, volume id at 0x8028. */
async function readPvd(path: string): Promise<{ volumeId: string } | undefined> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(2048);
    const { bytesRead } = await fh.read(b, 0, 2048, 0x8000);
    if (bytesRead < 2048 || b[0] !== 1 || b.toString('latin1', 1, 6) !== 'CD001') return undefined;
    return { volumeId: b.toString('latin1', 40, 72).trim() };
  } finally { await fh.close(); }
}

async function hashWithProgress(path: string, size: number, opts: ResolveOptions): Promise<string> {
  const h = createHash('sha256');
  let done = 0, last = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    done += (chunk as Buffer).length;
    if (Date.now() - last > 200) { last = Date.now(); opts.progress.bytes('hashing ISO', done, size); }
  }
  opts.progress.bytes('hashing ISO', done, size);
  return h.digest('hex');
}

/** The ISO's SHA256, remembered per (path, size, mtime, inode) so a multi-GB DVD is hashed once. */
async function isoSha256(cache: Cache, path: string, opts: ResolveOptions): Promise<string> {
  const st = await stat(path);
  const key = join(cache.root, 'index', `iso-${sha256(`${path}\0${st.size}\0${st.mtimeMs}\0${st.ino}`).slice(0, 24)}.json`);
  try {
    const memo = JSON.parse(await readFile(key, 'utf8')) as { sha256: string };
    if (/^[0-9a-f]{64}$/.test(memo.sha256)) return memo.sha256;
  } catch { /* not hashed yet */ }
  const sha = await hashWithProgress(path, st.size, opts);
  await cache.commit(key, 'iso-hash', async (tmp) => writeFile(tmp, `${JSON.stringify({ path, sha256: sha })}\n`));
  return sha;
}

function parseElTorito(report: string): IsoSource['bootImages'] {
  const imgs = new Map<string, { platform: string; path?: string }>();
  for (const line of report.split('\n')) {
    let m = /^El Torito boot img\s*:\s*(\d+)\s+(\S+)/.exec(line);
    if (m) imgs.set(m[1], { ...imgs.get(m[1]), platform: m[2] });
    m = /^El Torito img path\s*:\s*(\d+)\s+(\S+)/.exec(line);
    if (m) imgs.set(m[1], { platform: imgs.get(m[1])?.platform ?? '?', path: m[2] });
  }
  return [...imgs.values()];
}

export function releaseFromDiskInfo(info: string): Release | undefined {
  const n = /Debian GNU\/Linux\s+(\d+)/.exec(info)?.[1];
  return (Object.keys(RELEASES) as Release[]).find((r) => String(RELEASES[r].version) === n);
}

async function runXorriso(args: string[], iso: string): Promise<{ stdout: string; stderr: string }> {
  const r = await execa('xorriso', args, { reject: false });
  if ((r as { code?: string }).code === 'ENOENT') throw new UserError('xorriso is not installed: cannot read the base ISO', EXIT.tool, 'apt-get install xorriso');
  if (r.exitCode !== 0) throw new UserError(`xorriso cannot read ${iso}: ${String(r.stderr).split('\n').filter((l) => /FAILURE|SORRY|FATAL/.test(l)).slice(0, 2).join('; ') || `exit ${r.exitCode}`}`, EXIT.tool);
  return { stdout: String(r.stdout), stderr: String(r.stderr) };
}

export async function resolveBaseIso(isoArg: string, opts: ResolveOptions, cache: Cache): Promise<InstallerSource> {
  const path = resolve(isoArg);
  const st = await stat(path).catch(() => undefined);
  if (!st) throw new UserError(`base ISO ${isoArg} does not exist`, EXIT.usage);
  if (!st.isFile()) throw new UserError(`base ISO ${isoArg} is not a file; expected ${EXPECTED}`, EXIT.usage);
  const pvd = await readPvd(path);
  if (!pvd) throw new UserError(`${isoArg} is not an ISO 9660 image; expected ${EXPECTED}`, EXIT.verification);
  opts.progress.step(`Checking base ISO ${isoArg} (${pvd.volumeId})`);
  const sha = await isoSha256(cache, path, opts);
  const dir = cache.isoDir(sha);

  if (!(await stat(join(dir, 'iso.json')).catch(() => undefined))) {
    await cache.commit(dir, `iso-${sha.slice(0, 12)}`, async (tmp) => {
      await mkdir(tmp, { recursive: true });
      const wanted = ['/.disk/info', KERNEL, INITRD, ...OPTIONAL];
      const args = ['-abort_on', 'NEVER', '-return_with', 'FATAL', '0', '-osirrox', 'on', '-indev', path, '-report_el_torito', 'plain'];
      for (const f of wanted) args.push('-extract', f, join(tmp, local(f)));
      const { stdout } = await runXorriso(args, isoArg);
      const bootImages = parseElTorito(stdout);
      const have = new Set((await readdir(tmp)));
      const missing = ['/.disk/info', KERNEL, INITRD].filter((f) => !have.has(local(f)));
      if (missing.length) throw new UserError(`${isoArg} is an ISO but not a Debian installer image: it has no ${missing.join(', ')}; expected ${EXPECTED}`, EXIT.verification);
      const diskInfo = (await readFile(join(tmp, local('/.disk/info')), 'utf8')).split('\n')[0].trim();
      if (!/^Debian GNU\/Linux/.test(diskInfo)) throw new UserError(`${isoArg} is not a Debian installer image: /.disk/info says "${diskInfo.slice(0, 80)}"; expected ${EXPECTED}`, EXIT.verification);
      if (!bootImages.length) throw new UserError(`${isoArg} has no El Torito boot records, so it cannot boot; expected ${EXPECTED}`, EXIT.verification);
      for (const f of have) await chmod(join(tmp, f), 0o644); // xorriso restores ISO modes (read-only)
      await checkKernelAndInitrd(join(tmp, local(KERNEL)), join(tmp, local(INITRD)), isoArg);
      const files = Object.fromEntries(wanted.filter((f) => have.has(local(f))).map((f) => [f, local(f)]));
      await writeFile(join(tmp, 'iso.json'), `${JSON.stringify({ volumeId: pvd.volumeId, diskInfo, bootImages, files, size: st.size }, null, 2)}\n`);
    });
  }

  const meta = JSON.parse(await readFile(join(dir, 'iso.json'), 'utf8')) as { volumeId: string; diskInfo: string; bootImages: IsoSource['bootImages']; files: Record<string, string>; size: number };
  const found = releaseFromDiskInfo(meta.diskInfo);
  if (!found) throw new UserError(`${isoArg} is "${meta.diskInfo}", a Debian release this tool does not support (supported: ${Object.keys(RELEASES).join(', ')})`, EXIT.verification);
  if (found !== opts.release && !opts.releaseFromSource) throw new UserError(`${isoArg} is a ${found} installer ("${meta.diskInfo}") but the release is ${opts.release}`, EXIT.verification);
  const files = Object.fromEntries(Object.entries(meta.files).map(([k, v]) => [k, join(dir, v)]));
  const iso: IsoSource = {
    path, volumeId: meta.volumeId, kernelPath: KERNEL, initrdPath: INITRD,
    grubCfg: files['/boot/grub/grub.cfg'], isolinuxCfg: files['/isolinux/isolinux.cfg'] ?? files['/isolinux/txt.cfg'],
    files, bootImages: meta.bootImages, diskInfo: meta.diskInfo,
  };
  return {
    kind: 'iso', release: found, version: meta.volumeId, origin: 'iso',
    dir, linux: files[KERNEL], initrd: files[INITRD], iso,
    inputs: [{ name: path.slice(path.lastIndexOf('/') + 1), sha256: sha, size: meta.size }],
  };
}
