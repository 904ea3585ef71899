// Reading a .deb in-process: the `ar` container by hand (it is 60-byte headers), the tar members
// through tar-stream, xz/zstd through the system tools (execa), gzip through zlib — streaming,
// so a 150 MB package never sits in memory.
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, realpath, symlink, unlink } from 'node:fs/promises';
import { dirname, join, normalize, posix, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import tar from 'tar-stream';
import { EXIT, UserError } from '../../core/errors.js';
import { parseStanzas, type Stanza } from './packages-index.js';

export interface ArMember { name: string; offset: number; size: number }

/** Lists the members of an ar archive (the .deb container). */
export async function readArMembers(path: string): Promise<ArMember[]> {
  const fh = await open(path, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    const magic = Buffer.alloc(8);
    await fh.read(magic, 0, 8, 0);
    if (magic.toString('latin1') !== '!<arch>\n') throw new UserError(`${path} is not a Debian package (no ar archive header)`, EXIT.verification);
    const members: ArMember[] = [];
    const hdr = Buffer.alloc(60);
    let pos = 8;
    while (pos + 60 <= fileSize) {
      const { bytesRead } = await fh.read(hdr, 0, 60, pos);
      if (bytesRead < 60) break;
      if (hdr[58] !== 0x60 || hdr[59] !== 0x0a) throw new UserError(`${path}: corrupt ar member header at offset ${pos}`, EXIT.verification);
      const name = hdr.toString('latin1', 0, 16).trim().replace(/\/$/, '');
      const sizeText = hdr.toString('latin1', 48, 58).trim();
      if (!/^\d+$/.test(sizeText)) throw new UserError(`${path}: corrupt ar member size at offset ${pos}`, EXIT.verification);
      const size = Number(sizeText);
      const offset = pos + 60;
      if (offset + size > fileSize) throw new UserError(`${path} is truncated: member ${name} needs ${offset + size} bytes, file has ${fileSize}`, EXIT.verification);
      members.push({ name, offset, size });
      pos = offset + size + (size % 2); // members are 2-byte aligned
    }
    return members;
  } finally {
    await fh.close();
  }
}

function memberStream(path: string, m: ArMember): Readable {
  return createReadStream(path, { start: m.offset, end: m.offset + m.size - 1 });
}

/**
 * Feeds the decompressed member (a tar) to `extract`. xz and zstd go through the system tools,
 * gzip through zlib; a failing decompressor is a UserError naming the member.
 */
async function pipeMember(path: string, m: ArMember, extract: tar.Extract): Promise<void> {
  const tool = m.name.endsWith('.xz') ? 'xz' : m.name.endsWith('.zst') ? 'zstd' : undefined;
  if (!tool) {
    const src = memberStream(path, m);
    await (m.name.endsWith('.gz') ? pipeline(src, createGunzip(), extract) : pipeline(src, extract));
    return;
  }
  const sub = execa(tool, ['-dc'], { stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: { stdout: false, stderr: true }, reject: false });
  const feed = pipeline(memberStream(path, m), sub.stdin!).catch((e: NodeJS.ErrnoException) => {
    // The decompressor may exit early on corrupt input; its exit status says why.
    if (e.code !== 'EPIPE' && e.code !== 'ERR_STREAM_PREMATURE_CLOSE') throw e;
  });
  const drain = pipeline(sub.stdout!, extract);
  const [, drained, result] = await Promise.allSettled([feed, drain, sub]);
  const r = result.status === 'fulfilled' ? result.value : undefined;
  if (drained.status === 'rejected' && drained.reason instanceof UserError) throw drained.reason;
  if (drained.status === 'rejected' && (drained.reason as NodeJS.ErrnoException).syscall) {
    throw new UserError(`cannot unpack ${m.name} of ${path}: ${(drained.reason as Error).message}`, EXIT.failure);
  }
  if ((r as { code?: string } | undefined)?.code === 'ENOENT' || (r?.failed && r.exitCode === undefined && !r.isTerminated)) {
    throw new UserError(`${tool} is not installed: cannot unpack ${m.name}`, EXIT.tool, `apt-get install ${tool === 'xz' ? 'xz-utils' : 'zstd'}`);
  }
  if (!r || r.exitCode !== 0) throw new UserError(`${path}: ${m.name} is corrupt (${tool}: ${String(r?.stderr ?? '').trim() || `exit ${r?.exitCode}`})`, EXIT.verification);
  if (drained.status === 'rejected') {
    const e = drained.reason as Error;
    throw e instanceof UserError ? e : new UserError(`${path}: ${m.name} is not a valid tar archive (${e.message})`, EXIT.verification);
  }
}

function member(path: string, members: ArMember[], prefix: string): ArMember {
  const m = members.find((x) => x.name.startsWith(prefix));
  if (!m) throw new UserError(`${path} is not a Debian package: no ${prefix}* member`, EXIT.verification);
  return m;
}

/** The package's control fields (from control.tar.*). */
export async function readDebControl(path: string): Promise<Stanza> {
  const members = await readArMembers(path);
  if (members[0]?.name !== 'debian-binary') throw new UserError(`${path} is not a Debian package (first member is not debian-binary)`, EXIT.verification);
  const m = member(path, members, 'control.tar');
  let control: string | undefined;
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    if (header.type === 'file' && posix.normalize(header.name).replace(/^\.?\//, '') === 'control') {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => { control = Buffer.concat(chunks).toString('utf8'); next(); });
    } else {
      stream.on('end', () => next());
      stream.resume();
    }
  });
  await pipeMember(path, m, extract);
  if (control === undefined) throw new UserError(`${path}: control.tar has no control file`, EXIT.verification);
  const [stanza] = parseStanzas(control);
  return stanza ?? {};
}

export interface DebEntry { path: string; type: string; linkname?: string }

/** The entries of data.tar.* (paths without a leading "./"), nothing written. */
export async function listDebData(path: string): Promise<DebEntry[]> {
  const m = member(path, await readArMembers(path), 'data.tar');
  const out: DebEntry[] = [];
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    out.push({ path: posix.normalize(header.name.replace(/^\.?\//, '')), type: header.type ?? 'file', ...(header.linkname ? { linkname: header.linkname } : {}) });
    stream.on('end', () => next());
    stream.resume();
  });
  await pipeMember(path, m, extract);
  return out;
}

/** Refuses archive paths that would leave `root` (absolute, or with '..'). */
function inside(root: string, rel: string): string {
  const p = normalize(join(root, rel));
  if (p !== root && !p.startsWith(root + sep)) throw new UserError(`refusing archive entry outside the target: ${rel}`, EXIT.verification);
  return p;
}

export interface ExtractStats { files: number; links: number; dirs: number; bytes: number }

/**
 * Extracts the entries of data.tar.* under `prefix` (e.g. "usr/lib/debian-installer/images/13/amd64/text/")
 * into `dest`, with the prefix stripped; with `keep`, only the entries (paths after the prefix)
 * it accepts ('' as prefix: the whole package). Symlinks are recreated when they stay inside
 * the tree (pxelinux.0 → debian-installer/amd64/pxelinux.0 and friends); hard links are linked
 * to the file already extracted.
 */
export async function extractDebData(path: string, prefix: string, dest: string, keep: (rel: string) => boolean = () => true): Promise<ExtractStats> {
  const members = await readArMembers(path);
  const m = member(path, members, 'data.tar');
  const stripped = prefix.replace(/^\.?\//, '');
  const want = stripped === '' ? '' : stripped.replace(/\/?$/, '/');
  const stats: ExtractStats = { files: 0, links: 0, dirs: 0, bytes: 0 };
  await mkdir(dest, { recursive: true });
  const extract = tar.extract();
  const symlinks: { target: string; to: string }[] = [];
  const rel = (name: string) => {
    const n = posix.normalize(name.replace(/^\.?\//, ''));
    return n.startsWith(want) ? n.slice(want.length) : undefined;
  };
  extract.on('entry', (header, stream, next) => {
    const r = rel(header.name);
    const skip = () => { stream.on('end', () => next()); stream.resume(); };
    if (r === undefined || r === '' || r === '.' || !keep(r)) return skip();
    const handle = async () => {
      const target = inside(dest, r);
      switch (header.type) {
        case 'directory':
          await mkdir(target, { recursive: true, mode: 0o755 });
          stats.dirs++;
          stream.resume();
          return;
        case 'file':
        case 'contiguous-file': {
          await mkdir(dirname(target), { recursive: true });
          await pipeline(stream, createWriteStream(target, { mode: (header.mode ?? 0o644) & 0o755 }));
          stats.files++; stats.bytes += header.size ?? 0;
          return;
        }
        case 'symlink': {
          stream.resume();
          const to = header.linkname ?? '';
          const resolved = normalize(join(dirname(target), to));
          if (to.startsWith('/') || (resolved !== dest && !resolved.startsWith(dest + sep))) return; // points outside the tree: drop it
          symlinks.push({ target, to }); // created last, so no entry is ever written through one
          return;
        }
        case 'link': {
          stream.resume();
          const from = rel(header.linkname ?? '');
          if (from === undefined) return; // hard link to a file outside the extracted subtree
          await mkdir(dirname(target), { recursive: true });
          await link(inside(dest, from), target);
          stats.links++;
          return;
        }
        default:
          stream.resume(); // devices, fifos: nothing an installer tree needs
      }
    };
    handle().then(() => next(), (e: Error) => { stream.resume(); next(e); });
  });
  await pipeMember(path, m, extract);
  const realDest = await realpath(dest);
  for (const l of symlinks) {
    await mkdir(dirname(l.target), { recursive: true });
    try { await symlink(l.to, l.target); } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue; // a real entry of that name wins
      throw e;
    }
    // Chains of links can still resolve outside (a -> b/.. with b -> .): check the real target.
    const real = await realpath(l.target).catch(() => undefined);
    if (!real || (real !== realDest && !real.startsWith(realDest + sep))) await unlink(l.target);
    else stats.links++;
  }
  return stats;
}

/** Path of `p` relative to `root`, with forward slashes (for manifests). */
export function relPosix(root: string, p: string): string {
  return relative(root, p).split(sep).join('/');
}
