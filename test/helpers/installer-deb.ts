// Builds small .deb files entry by entry (tar-stream + xz + a hand-written ar container), for
// testing how the unpacker treats links and hostile paths that dpkg-deb would never produce.
import { writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import tar from 'tar-stream';

export interface TarEntry { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string; content?: string | Buffer; mode?: number }

async function tarXz(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((r, j) => { pack.on('end', () => r()); pack.on('error', j); });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const body = type === 'file' ? Buffer.from(e.content ?? '') : undefined;
    const header = { name: e.name, type, linkname: e.linkname, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), size: body?.length ?? 0, mtime: new Date(0) };
    if (body) pack.entry(header, body); else pack.entry(header);
  }
  pack.finalize();
  await done;
  return Buffer.from((await execa('xz', ['-zc'], { input: Buffer.concat(chunks), encoding: 'buffer' })).stdout);
}

function arMember(name: string, data: Buffer): Buffer {
  const h = Buffer.alloc(60, ' ');
  h.write(name, 0, 'latin1');
  h.write('0', 16); h.write('0', 28); h.write('0', 34); h.write('100644', 40);
  h.write(String(data.length), 48);
  h.write('`\n', 58, 'latin1');
  return Buffer.concat([h, data, data.length % 2 ? Buffer.from('\n') : Buffer.alloc(0)]);
}

export async function buildDeb(path: string, control: string, data: TarEntry[]): Promise<void> {
  const parts = [
    Buffer.from('!<arch>\n'),
    arMember('debian-binary', Buffer.from('2.0\n')),
    arMember('control.tar.xz', await tarXz([{ name: './', type: 'directory' }, { name: './control', content: control }])),
    arMember('data.tar.xz', await tarXz(data)),
  ];
  await writeFile(path, Buffer.concat(parts));
}
