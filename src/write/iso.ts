import { chmod, mkdir, mkdtemp, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../util/exec.js';
import { bootFile, type BootLoaders } from './boot-files.js';
import { buildEfiImage } from './efi-image.js';

export interface IsoFile {
  /** Path inside the image, e.g. "install/initrd.gz" */
  isoPath: string;
  /** A file on disk (grafted as is, not copied) or content to write. */
  source: string | Buffer;
}

export interface HybridIsoSpec {
  out: string;
  volumeId: string;
  epoch: number;
  files: IsoFile[];
  /** isolinux, its modules, the MBR, shim and GRUB (the ESP is built from them when efiImage is absent). */
  loaders: BootLoaders;
  /** A prebuilt ESP image (buildEfiImage) to share between images; built here when absent. */
  efiImage?: string;
}

/** "YYYYMMDDhhmmss00" in UTC, xorriso's -volume_date uuid format. */
export function volumeUuid(epoch: number): string {
  return `${new Date(epoch * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14)}00`;
}

/** ISO 9660 volume ids: at most 32 of A–Z 0–9 _ */
export function volumeId(...parts: string[]): string {
  return parts.join('_').toUpperCase().replace(/[^A-Z0-9_]/g, '_').slice(0, 32);
}

/**
 * A hybrid image from netboot files: BIOS boots isolinux from El Torito (CD) or the isohybrid
 * MBR (USB stick); UEFI boots shim + GRUB from the ESP image, reachable through El Torito and a
 * GPT partition. Written to a temp name and renamed, mode 0600 (images hold hashes and keys).
 */
export async function writeHybridIso(spec: HybridIsoSpec): Promise<void> {
  await mkdir(dirname(spec.out), { recursive: true, mode: 0o700 });
  const work = await mkdtemp(join(dirname(spec.out), '.iso-work-'));
  const tmpOut = join(work, 'image.iso');
  try {
    const staging = join(work, 'tree');
    const grafts: string[] = [];
    for (const f of spec.files) {
      let src = typeof f.source === 'string' ? f.source : join(staging, f.isoPath);
      if (typeof f.source !== 'string') {
        await mkdir(dirname(src), { recursive: true });
        await writeFile(src, f.source, { mode: 0o600 });
        await utimes(src, spec.epoch, spec.epoch);
      }
      grafts.push(`${f.isoPath}=${src}`);
    }
    const efi = spec.efiImage ?? (await buildEfiImage(work, spec.epoch, spec.loaders));
    const boot: [string, string][] = [
      ['isolinux/isolinux.bin', bootFile(spec.loaders, 'isolinux')],
      ['isolinux/ldlinux.c32', bootFile(spec.loaders, 'ldlinux')],
      ['isolinux/libcom32.c32', bootFile(spec.loaders, 'libcom32')],
      ['isolinux/libutil.c32', bootFile(spec.loaders, 'libutil')],
      ['isolinux/menu.c32', bootFile(spec.loaders, 'menu')],
      ['boot/grub/efi.img', efi],
    ];
    for (const [p, s] of boot) grafts.push(`${p}=${s}`);
    grafts.sort();
    await run('xorriso', [
      '-volume_date', 'uuid', volumeUuid(spec.epoch),
      '-volume_date', 'all_file_dates', `=${spec.epoch}`,
      '-as', 'mkisofs',
      '-o', tmpOut,
      '-V', spec.volumeId,
      '-r', '-J', '-joliet-long',
      '-isohybrid-mbr', bootFile(spec.loaders, 'isohybridMbr'),
      '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat',
      '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
      '-eltorito-alt-boot', '-e', 'boot/grub/efi.img', '-no-emul-boot', '-isohybrid-gpt-basdat',
      '-graft-points', ...grafts,
    ], { env: { SOURCE_DATE_EPOCH: String(spec.epoch) } });
    await chmod(tmpOut, 0o600);
    await rename(tmpOut, spec.out);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
