import { copyFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../util/exec.js';
import { sha256, sha256File } from '../util/hash.js';
import { bootFile, type BootLoaders } from './boot-files.js';

/**
 * The EFI system partition image (FAT) the El Torito EFI entry and the GPT point at: Debian's
 * signed shim (of the release being installed) as the removable-media loader, the signed CD GRUB
 * next to it. Deterministic:
 * fixed volume serial, invariant mkfs, file dates from the build epoch.
 */
export async function buildEfiImage(workDir: string, epoch: number, loaders: BootLoaders): Promise<string> {
  const img = join(workDir, 'efi.img');
  const files: [string, string][] = [
    [bootFile(loaders, 'shim'), 'bootx64.efi'],
    [bootFile(loaders, 'grubCd'), 'grubx64.efi'],
    [bootFile(loaders, 'mokManager'), 'mmx64.efi'],
  ];
  const staged: [string, string][] = [];
  for (const [src, name] of files) {
    const dst = join(workDir, `esp-${name}`);
    await copyFile(src, dst);
    await utimes(dst, epoch, epoch);
    staged.push([dst, name]);
  }
  // The serial depends only on what is inside (not on where the cache is), so equal inputs give an equal image.
  const hashes = await Promise.all(files.map(([src]) => sha256File(src)));
  const serial = sha256(`${epoch}:${hashes.join(':')}`).slice(0, 8);
  const env = { SOURCE_DATE_EPOCH: String(epoch), MTOOLS_SKIP_CHECK: '1' };
  await run('mkfs.vfat', ['-C', img, '8192', '-i', serial, '-n', 'PCEFIBOOT', '--invariant'], { env });
  await run('mmd', ['-i', img, '::/EFI', '::/EFI/boot'], { env });
  for (const [src, name] of staged) await run('mcopy', ['-m', '-i', img, src, `::/EFI/boot/${name}`], { env });
  await utimes(img, epoch, epoch);
  return img;
}
