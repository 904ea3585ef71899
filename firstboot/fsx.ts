// File writes that survive power loss: temp file + fsync + rename + directory fsync. A file
// that is itself a mount point (bind-mounted /etc/hosts in containers and in the test
// harness) cannot be renamed over; it is rewritten in place instead.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

async function fsyncDir(dir: string): Promise<void> {
  const h = await open(dir, 'r');
  try { await h.sync(); } finally { await h.close(); }
}

export async function writeDurable(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const h = await open(tmp, 'w', mode);
    try { await h.writeFile(data); await h.chmod(mode); await h.sync(); } finally { await h.close(); }
    try {
      await rename(tmp, path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY') throw e;
      const h2 = await open(path, 'r+');
      try { await h2.truncate(0); await h2.write(typeof data === 'string' ? Buffer.from(data) : data, 0, undefined, 0); await h2.sync(); } finally { await h2.close(); }
      await rm(tmp, { force: true });
      await chmod(path, mode);
    }
    await fsyncDir(dirname(path));
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

export { readText } from '../core/read-text.js';

/** Whether a path exists (any error, a missing parent included, counts as no). */
export const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

const BEGIN = '# BEGIN personal-cloud (managed by personal-cloud-agent; edits inside are replaced)';
const END = '# END personal-cloud';

/** Replaces (or appends) the agent's marked block in a text file, leaving the rest alone. */
export function withManagedBlock(text: string, lines: string[]): string {
  const block = lines.length ? [BEGIN, ...lines, END].join('\n') + '\n' : '';
  const start = text.indexOf(BEGIN);
  if (start >= 0) {
    const endAt = text.indexOf(END, start);
    const after = endAt >= 0 ? text.slice(endAt + END.length).replace(/^\n/, '') : '';
    return text.slice(0, start) + block + after;
  }
  const base = text === '' || text.endsWith('\n') ? text : `${text}\n`;
  return base + block;
}

export function managedBlock(text: string): string[] | null {
  const start = text.indexOf(BEGIN);
  if (start < 0) return null;
  const endAt = text.indexOf(END, start);
  if (endAt < 0) return null;
  return text.slice(start + BEGIN.length, endAt).split('\n').filter((l) => l !== '');
}

/**
 * Reads a /proc file whole. Node 18's fs.promises.readFile trusts the size procfs reports
 * (0) and returns only the first read (~4 KiB): /proc/self/mountinfo of a node with a few
 * dozen mounts came back truncated on bookworm's nodejs. Read until end of file instead.
 */
export async function readProc(path: string): Promise<string> {
  const h = await open(path, 'r');
  try {
    // read often (mountinfo for every status answer): no zero-filled buffer per read
    const chunks: Buffer[] = [];
    for (;;) {
      const buf = Buffer.allocUnsafe(65536);
      const { bytesRead } = await h.read(buf, 0, buf.length, null);
      if (!bytesRead) break;
      chunks.push(buf.subarray(0, bytesRead));
    }
    return chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
  } finally { await h.close(); }
}
