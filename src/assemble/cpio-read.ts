// Reads newc cpio archives, including several concatenated ones (an initrd with appended
// payloads): each entry says which archive (0 = the installer's own, 1+ = appended) it is in.

export interface CpioRecord {
  archive: number;
  name: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  data: Buffer;
}

export function readCpio(buf: Buffer): CpioRecord[] {
  const out: CpioRecord[] = [];
  let off = 0;
  let archive = 0;
  const field = (o: number, i: number) => parseInt(buf.toString('ascii', o + 6 + i * 8, o + 14 + i * 8), 16);
  while (off + 110 <= buf.length) {
    // archives may be separated by NUL padding (the kernel skips it too)
    if (buf[off] === 0) { off++; continue; }
    const magic = buf.toString('ascii', off, off + 6);
    if (magic !== '070701' && magic !== '070702') throw new Error(`not a newc cpio archive at byte ${off}`);
    const mode = field(off, 1);
    const uid = field(off, 2);
    const gid = field(off, 3);
    const mtime = field(off, 5);
    const size = field(off, 6);
    const nameSize = field(off, 11);
    const nameStart = off + 110;
    const name = buf.toString('utf8', nameStart, nameStart + nameSize - 1);
    const dataStart = nameStart + nameSize + ((4 - ((110 + nameSize) % 4)) % 4);
    const dataEnd = dataStart + size;
    off = dataEnd + ((4 - (size % 4)) % 4);
    if (name === 'TRAILER!!!') { archive++; continue; }
    out.push({ archive, name, mode, uid, gid, mtime, data: buf.subarray(dataStart, dataEnd) });
  }
  return out;
}
