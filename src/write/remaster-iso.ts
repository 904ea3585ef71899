import { chmod, mkdir, mkdtemp, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from '../util/exec.js';
import { volumeUuid, type IsoFile } from './iso.js';

export type { IsoFile } from './iso.js';

export interface RemasterSpec {
  base: string;
  out: string;
  volumeId: string;
  epoch: number;
  files: IsoFile[];
}

/** xorriso loads the base image, replays its El Torito/MBR/GPT boot setup and adds our files. */
export async function writeRemasteredIso(spec: RemasterSpec): Promise<void> {
  await mkdir(dirname(spec.out), { recursive: true, mode: 0o700 });
  const work = await mkdtemp(join(dirname(spec.out), '.iso-work-'));
  const tmpOut = join(work, 'image.iso');
  try {
    const maps: string[] = [];
    for (const f of [...spec.files].sort((a, b) => a.isoPath.localeCompare(b.isoPath))) {
      let src = f.source as string;
      if (typeof f.source !== 'string') {
        src = join(work, 'tree', f.isoPath);
        await mkdir(dirname(src), { recursive: true });
        await writeFile(src, f.source, { mode: 0o600 });
      }
      await utimes(src, spec.epoch, spec.epoch).catch(() => undefined);
      maps.push('-map', src, `/${f.isoPath}`);
    }
    await run('xorriso', [
      '-indev', spec.base,
      '-outdev', tmpOut,
      '-volid', spec.volumeId,
      '-boot_image', 'any', 'replay',
      '-volume_date', 'uuid', volumeUuid(spec.epoch),
      '-volume_date', 'all_file_dates', `=${spec.epoch}`,
      ...maps,
      '-commit',
    ], { env: { SOURCE_DATE_EPOCH: String(spec.epoch) } });
    await chmod(tmpOut, 0o600);
    await rename(tmpOut, spec.out);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
