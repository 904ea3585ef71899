import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { IsoSource } from '../installer/resolve.js';
import { nodeMenu, renderGrubCfg, renderIsolinuxCfg, universalMenu, type BootEntry, type BootMenu } from '../render/boot-menu.js';
import { sha256File } from '../util/hash.js';
import { writeRemasteredIso, type IsoFile } from '../write/remaster-iso.js';
import { volumeId } from '../write/iso.js';
import { buildPayload, imageFileName, targetName, type MediaOutput, type MediaRequest } from './media.js';

// An official Debian ISO, remastered: its boot records replayed as they are (BIOS, UEFI and
// Secure Boot keep working), our payload added, and our entry first and default in both menus.

const PC_DIR = 'install.amd/personal-cloud';

async function menuFiles(iso: IsoSource, menu: BootMenu): Promise<IsoFile[]> {
  const files: IsoFile[] = [];
  if (iso.isolinuxCfg) {
    const debian: BootEntry = { id: 'debian', title: 'Debian installer menu (no automation)', kind: 'chain', kernel: '/isolinux/debian-isolinux.cfg', initrds: [], append: '' };
    const withDebian = { ...menu, entries: [...menu.entries.slice(0, -1), debian, ...menu.entries.slice(-1)] };
    files.push({ isoPath: 'isolinux/debian-isolinux.cfg', source: iso.isolinuxCfg });
    files.push({ isoPath: 'isolinux/isolinux.cfg', source: Buffer.from(renderIsolinuxCfg(withDebian, 'vesamenu.c32')) });
  }
  if (iso.grubCfg) {
    // Ours first (default 0), then the ISO's own entries unchanged.
    const ours = renderGrubCfg(menu);
    files.push({ isoPath: 'boot/grub/grub.cfg', source: Buffer.concat([Buffer.from(ours), Buffer.from('\n# ---- the original menu of this Debian image ----\n'), await readFile(iso.grubCfg)]) });
  }
  return files;
}

export async function remasterIsos(req: MediaRequest & { iso: IsoSource }): Promise<MediaOutput[]> {
  const { plan, iso, progress } = req;
  const installerInitrd = await readFile(req.installer.initrd);
  const kernel = `/${iso.kernelPath.replace(/^\//, '')}`;
  const outputs: MediaOutput[] = [];
  for (const target of req.targets) {
    const name = targetName(target);
    progress.step(`remaster for ${name}: payload`);
    const payload = buildPayload(req, target);
    const files: IsoFile[] = [];
    let menu: BootMenu;
    if (target.kind === 'node') {
      files.push({ isoPath: `${PC_DIR}/initrd.gz`, source: Buffer.concat([installerInitrd, payload]) });
      menu = nodeMenu(plan, target.node, { kernel, initrd: `/${PC_DIR}/initrd.gz` }, req.console);
    } else {
      files.push({ isoPath: `${PC_DIR}/payload.gz`, source: payload });
      menu = universalMenu(plan, { kernel, initrd: `/${iso.initrdPath.replace(/^\//, '')}`, payload: `/${PC_DIR}/payload.gz` }, req.console);
    }
    files.push(...(await menuFiles(iso, menu)));
    const out = join(req.outDir, imageFileName(plan, target));
    progress.step(`remaster for ${name}: writing ${out}`);
    await writeRemasteredIso({ base: iso.path, out, volumeId: volumeId('PC', plan.cluster.name, name), epoch: req.epoch, files });
    outputs.push({ file: out, target: name, sha256: await sha256File(out), size: (await stat(out)).size });
  }
  return outputs;
}
