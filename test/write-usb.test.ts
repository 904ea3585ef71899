import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers/cli.js';

// write-usb against loop devices: real block devices, nothing on the machine at risk.

let work: string;
const loops: string[] = [];
let image: string;

async function loopDevice(sizeMiB: number): Promise<string> {
  const f = join(work, `disk${loops.length}.img`);
  await execa('truncate', ['-s', `${sizeMiB}M`, f]);
  const dev = (await execa('losetup', ['-f', '--show', f])).stdout.trim();
  loops.push(dev);
  return dev;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pc-usb-'));
  image = join(work, 'image.iso');
  await writeFile(image, randomBytes(5 * 1024 * 1024 + 1234));
});

afterAll(async () => {
  await execa('umount', [join(work, 'mnt')], { reject: false });
  for (const l of loops) await execa('losetup', ['-d', l], { reject: false });
  await rm(work, { recursive: true, force: true });
});

describe('write-usb', () => {
  it('refuses a disk that is not removable without --force, then writes and verifies with it', async () => {
    const dev = await loopDevice(16);
    const refused = await cli(['write-usb', image, dev]);
    expect(refused.code).toBe(6);
    expect(refused.stderr).toMatch(/not a removable or USB disk: refusing without --force/);
    const r = await cli(['write-usb', image, dev, '--force', '--json']);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ verified: true, bytes: 5 * 1024 * 1024 + 1234 });
    const written = (await execa('sh', ['-c', `head -c ${5 * 1024 * 1024 + 1234} ${dev} | sha256sum`])).stdout.split(' ')[0];
    const expected = (await execa('sha256sum', [image])).stdout.split(' ')[0];
    expect(written).toBe(expected);
  });

  it('refuses a mounted device even with --force', async () => {
    const dev = await loopDevice(64);
    await execa('mkfs.ext4', ['-q', dev]);
    await execa('mkdir', ['-p', join(work, 'mnt')]);
    await execa('mount', [dev, join(work, 'mnt')]);
    const r = await cli(['write-usb', image, dev, '--force']);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/is in use \(mounted at .*mnt\)/);
    await execa('umount', [join(work, 'mnt')]);
  });

  it('refuses the disk holding the running system', async () => {
    const src = (await execa('findmnt', ['-n', '-o', 'SOURCE', '/'], { reject: false })).stdout.trim();
    const disk = src.startsWith('/dev/') ? (await execa('lsblk', ['-no', 'PKNAME', src], { reject: false })).stdout.trim() || src.replace('/dev/', '') : '';
    if (!disk) {
      // / is not on a block device here (overlay): the mounted-device check above covers it
      expect(src).not.toMatch(/^\/dev\//);
      return;
    }
    const r = await cli(['write-usb', image, `/dev/${disk}`, '--force']);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/holds the running system|is in use/);
  });

  it('refuses a device smaller than the image, a partition, and a plain file', async () => {
    const small = await loopDevice(2);
    const r = await cli(['write-usb', image, small, '--force']);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/holds \d+ bytes, the image needs/);
    const file = await cli(['write-usb', image, join(work, 'disk0.img')]);
    expect(file.code).toBe(6);
    expect(file.stderr).toMatch(/is not a block device/);
    const missing = await cli(['write-usb', join(work, 'nope.iso'), small]);
    expect(missing.code).toBe(2);
    expect(await readFile(image)).toBeTruthy();
  });
});
