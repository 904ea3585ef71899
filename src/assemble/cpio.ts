import { gzipSync } from 'node:zlib';

// newc ("070701") cpio writer for initramfs payloads. Deterministic: entries sorted, parent
// directories implied, fixed owner and mtime, sequential inode numbers.

export interface CpioEntry {
  /** Path inside the archive, without a leading slash: "personal-cloud/late.sh" */
  path: string;
  content: Buffer | string;
  mode: number; // permission bits only
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): Buffer {
  return Buffer.alloc((4 - (n % 4)) % 4);
}

function record(name: string, mode: number, ino: number, mtime: number, data: Buffer): Buffer[] {
  const nameBuf = Buffer.from(`${name}\0`);
  const header = Buffer.from(
    '070701' + hex8(ino) + hex8(mode) + hex8(0) + hex8(0) + hex8(mode & S_IFDIR ? 2 : 1) + hex8(mtime) +
      hex8(data.length) + hex8(0) + hex8(0) + hex8(0) + hex8(0) + hex8(nameBuf.length) + hex8(0),
    'ascii',
  );
  return [header, nameBuf, pad4(header.length + nameBuf.length), data, pad4(data.length)];
}

export function cpioArchive(entries: CpioEntry[], mtime: number): Buffer {
  const files = new Map<string, CpioEntry>();
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, '');
    if (files.has(path)) throw new Error(`duplicate cpio entry ${path}`);
    files.set(path, { ...e, path });
  }
  const dirs = new Set<string>();
  for (const path of files.keys()) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const names = [...dirs, ...files.keys()].sort();
  const chunks: Buffer[] = [];
  let ino = 1;
  for (const name of names) {
    const file = files.get(name);
    if (file) {
      const data = typeof file.content === 'string' ? Buffer.from(file.content) : file.content;
      chunks.push(...record(name, S_IFREG | file.mode, ino++, mtime, data));
    } else {
      chunks.push(...record(name, S_IFDIR | 0o755, ino++, mtime, Buffer.alloc(0)));
    }
  }
  chunks.push(...record('TRAILER!!!', 0, 0, 0, Buffer.alloc(0)));
  return Buffer.concat(chunks);
}

/** gzip with a fixed header (mtime 0, no name) like `gzip -n`, so equal input gives equal bytes. */
export function gzipDeterministic(data: Buffer): Buffer {
  return gzipSync(data, { level: 9 });
}
