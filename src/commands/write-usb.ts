import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { blockDeviceInfo, disksInUse } from '../write/block-device.js';
import { EXIT, UserError } from '../../core/errors.js';
import { sha256File } from '../util/hash.js';
import { run } from '../util/exec.js';
import { createProgress } from '../util/progress.js';
import { parseCommandArgs, writeJson, type Command } from './command.js';

const HELP = `Usage: personal-cloud write-usb IMAGE DEVICE [--force] [--json]

Writes an image to a USB stick and verifies it by reading it back.
DEVICE is the whole disk, best by a stable name: /dev/disk/by-id/usb-…

Refuses (exit 6):
  - a device that is mounted or used as swap (any of its partitions),
  - the disk that holds the running system's /,
  - a disk that is not removable/USB, unless --force,
  - a device smaller than the image, or a partition instead of a whole disk.
`;

const CHUNK = 4 * 1024 * 1024;

export const writeUsbCommand: Command = {
  name: 'write-usb',
  summary: 'write an image to a USB stick (refuses system and mounted disks), verify by reading back',
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs(this, argv, { force: { type: 'boolean' }, json: { type: 'boolean' } });
    if (!args) return EXIT.ok;
    const [image, device] = args.positionals;
    if (!image || !device || args.positionals.length !== 2) throw new UserError('write-usb: give IMAGE and DEVICE', EXIT.usage);
    const img = await stat(image).catch(() => undefined);
    if (!img?.isFile()) throw new UserError(`write-usb: ${image} is not a file`, EXIT.usage);
    const info = await blockDeviceInfo(device);
    if (!info) throw new UserError(`write-usb: ${device} is not a block device`, EXIT.refused);
    if (info.isPartition) throw new UserError(`write-usb: ${device} is a partition; give the whole disk (/dev/${info.disk})`, EXIT.refused);
    const { inUse, rootDisk } = await disksInUse();
    if (info.disk === rootDisk) throw new UserError(`write-usb: ${device} (${info.disk}) holds the running system (/): refusing`, EXIT.refused);
    if (inUse.has(info.disk)) throw new UserError(`write-usb: ${device} (${info.disk}) is in use (mounted at ${inUse.get(info.disk)}): unmount it first`, EXIT.refused);
    if (!info.removable && !info.usb && !args.values.force) {
      throw new UserError(`write-usb: ${device} (${info.disk}${info.model ? `, ${info.model}` : ''}) is not a removable or USB disk: refusing without --force`, EXIT.refused);
    }
    if (info.sizeBytes < img.size) throw new UserError(`write-usb: ${device} holds ${info.sizeBytes} bytes, the image needs ${img.size}`, EXIT.refused);

    const progress = createProgress();
    progress.step(`writing ${image} to ${device} (${info.disk})`);
    const src = await open(image, 'r');
    let dst = await open(device, 'r+');
    const buf = Buffer.alloc(CHUNK);
    try {
      for (let off = 0; off < img.size; ) {
        const { bytesRead } = await src.read(buf, 0, CHUNK, off);
        if (bytesRead === 0) break;
        await dst.write(buf, 0, bytesRead, off);
        off += bytesRead;
        progress.bytes('written', off, img.size);
      }
      await dst.sync();
    } finally {
      await src.close();
      await dst.close();
    }
    // Drop the device's cached pages so the read-back comes from the stick, not from memory.
    await run('blockdev', ['--flushbufs', device]);
    progress.step('verifying (reading back)');
    const h = createHash('sha256');
    dst = await open(device, 'r');
    try {
      for (let off = 0; off < img.size; ) {
        const n = Math.min(CHUNK, img.size - off);
        const { bytesRead } = await dst.read(buf, 0, n, off);
        if (bytesRead === 0) break;
        h.update(buf.subarray(0, bytesRead));
        off += bytesRead;
        progress.bytes('verified', off, img.size);
      }
    } finally {
      await dst.close();
    }
    const expected = await sha256File(image);
    const got = h.digest('hex');
    if (got !== expected) throw new UserError(`write-usb: verification failed: ${device} reads back sha256 ${got}, the image is ${expected}`, EXIT.verification);
    progress.done(`${device} holds ${image} (sha256 ${expected})`);
    if (args.values.json) writeJson({ image, device, disk: info.disk, bytes: img.size, sha256: expected, verified: true });
    return EXIT.ok;
  },
};
