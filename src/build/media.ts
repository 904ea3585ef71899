import { appendFile, copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { buildEfiImage } from '../write/efi-image.js';
import { join } from 'node:path';
import type { Plan } from '../../core/plan-types.js';
import { cpioArchive, gzipDeterministic } from '../assemble/cpio.js';
import { payloadEntries } from '../assemble/payload.js';
import type { NodeFilesContext } from './context.js';
import { nodeMenu, renderGrubCfg, renderIsolinuxCfg, renderReadme, universalMenu, type BootMenu, type ConsoleKind } from '../render/boot-menu.js';
import { sha256File } from '../util/hash.js';
import type { Progress } from '../util/progress.js';
import { volumeId, writeHybridIso, type IsoFile } from '../write/iso.js';
import type { BootLoaders } from '../write/boot-files.js';
import { EXIT, UserError } from '../../core/errors.js';

/** The installer files a build needs, whatever their source (archive, local dir or .deb). */
export interface InstallerFiles {
  release: string;
  version: string;
  linux: string;
  initrd: string;
  /** The boot loaders for images (resolveInstaller with loaders: 'iso'). */
  loaders?: BootLoaders;
}

export type MediaTarget = { kind: 'node'; node: string } | { kind: 'universal' };

export interface MediaRequest extends NodeFilesContext {
  installer: InstallerFiles;
  targets: MediaTarget[];
  console: ConsoleKind;
  outDir: string;
  epoch: number;
  /** Test aid: the installer streams its syslog to the second serial port. */
  serialLog?: boolean;
  progress: Progress;
}

export interface MediaOutput {
  file: string;
  target: string;
  sha256: string;
  size: number;
}

export function targetName(t: MediaTarget): string {
  return t.kind === 'node' ? t.node : 'universal';
}

export function imageFileName(plan: Plan, t: MediaTarget): string {
  return `${plan.cluster.name}-${targetName(t)}.iso`;
}

/** The gzip'd newc cpio the installer's initrd is extended with. */
export function buildPayload(req: Pick<MediaRequest, 'plan' | 'joinKey' | 'agent' | 'epoch' | 'serialLog'>, target: MediaTarget): Buffer {
  const entries = payloadEntries({
    plan: req.plan,
    nodes: target.kind === 'node' ? [target.node] : 'all',
    joinKey: req.joinKey,
    agent: req.agent,
    preseed: { serialLog: req.serialLog },
  });
  return gzipDeterministic(cpioArchive(entries, req.epoch));
}

function menuFiles(plan: Plan, menu: BootMenu): IsoFile[] {
  return [
    { isoPath: 'isolinux/isolinux.cfg', source: Buffer.from(renderIsolinuxCfg(menu)) },
    { isoPath: 'boot/grub/grub.cfg', source: Buffer.from(renderGrubCfg(menu)) },
    { isoPath: 'README.txt', source: Buffer.from(renderReadme(plan, menu.title)) },
  ];
}

function diskInfo(plan: Plan, t: MediaTarget, installerVersion: string): Buffer {
  // GRUB's signed CD image finds its medium by /.disk/info.
  return Buffer.from(`personal-cloud ${plan.cluster.name} ${targetName(t)} - Debian ${plan.cluster.releaseVersion} "${plan.cluster.release}" installer ${installerVersion}\n`);
}

async function buildImage(req: MediaRequest, target: MediaTarget, work: string, loaders: BootLoaders, efiImage: string): Promise<MediaOutput> {
  const { plan, progress } = req;
  const name = targetName(target);
  progress.step(`image for ${name}: payload`);
  const payload = buildPayload(req, target);
  const files: IsoFile[] = [
    { isoPath: '.disk/info', source: diskInfo(plan, target, req.installer.version) },
    { isoPath: 'install/vmlinuz', source: req.installer.linux },
  ];
  let menu: BootMenu;
  if (target.kind === 'node') {
    // The installer's initrd with our cpio appended: the kernel unpacks concatenated archives.
    const initrd = join(work, `initrd-${target.node}.gz`);
    await copyFile(req.installer.initrd, initrd);
    await appendFile(initrd, payload);
    files.push({ isoPath: 'install/initrd.gz', source: initrd });
    menu = nodeMenu(plan, target.node, { kernel: '/install/vmlinuz', initrd: '/install/initrd.gz' }, req.console);
  } else {
    // One installer initrd for every node; the boot loader concatenates the payload after it.
    files.push({ isoPath: 'install/initrd.gz', source: req.installer.initrd });
    files.push({ isoPath: 'install/payload.gz', source: payload });
    menu = universalMenu(plan, { kernel: '/install/vmlinuz', initrd: '/install/initrd.gz', payload: '/install/payload.gz' }, req.console);
  }
  files.push(...menuFiles(plan, menu));
  const out = join(req.outDir, imageFileName(plan, target));
  progress.step(`image for ${name}: writing ${out}`);
  await writeHybridIso({ out, volumeId: volumeId('PC', plan.cluster.name, name), epoch: req.epoch, files, loaders, efiImage });
  if (target.kind === 'node') await rm(join(work, `initrd-${target.node}.gz`));
  return { file: out, target: name, sha256: await sha256File(out), size: (await stat(out)).size };
}

export async function buildMedia(req: MediaRequest): Promise<MediaOutput[]> {
  const { loaders } = req.installer;
  if (!loaders) throw new UserError('internal: images need the boot loaders (resolveInstaller with loaders: \'iso\')', EXIT.failure);
  await mkdir(req.outDir, { recursive: true, mode: 0o700 });
  const work = await mkdtemp(join(req.outDir, '.media-work-'));
  try {
    // Every image of a build shares one ESP image: its content does not depend on the node.
    const efiImage = await buildEfiImage(work, req.epoch, loaders);
    const outputs: MediaOutput[] = [];
    for (const target of req.targets) outputs.push(await buildImage(req, target, work, loaders, efiImage));
    return outputs;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
