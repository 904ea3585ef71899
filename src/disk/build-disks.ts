// `personal-cloud build disk`: preinstalled node disks (raw and/or qcow2) from the plan.
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeFilesContext } from '../build/context.js';
import { EXIT, UserError } from '../../core/errors.js';
import { run } from '../util/exec.js';
import { sha256File } from '../util/hash.js';
import type { Progress } from '../util/progress.js';
import { removeTree, requireRoot, requireTools } from './host.js';
import { buildNodeImage } from './image.js';
import { ensureRootfs, type RootfsResult } from './rootfs.js';

export type DiskFormat = 'raw' | 'qcow2';

export interface DiskRequest extends NodeFilesContext {
  /** SOURCE_DATE_EPOCH: the filesystems' timestamps. */
  epoch: number;
  nodes: string[];
  outDir: string;
  cacheDir: string;
  sizeBytes: number;
  formats: DiskFormat[];
  progress: Progress;
  kernelOpts?: string;
}

export interface DiskOutput { file: string; target: string; format: DiskFormat; sha256: string; size: number }

export interface DiskBuildResult {
  outputs: DiskOutput[];
  rootfs: RootfsResult;
  perNodeSeconds: Record<string, number>;
}

export const MIN_DISK_BYTES = 4 * 2 ** 30;

/** "8G", "8GiB", "8192M", "10737418240" → bytes (binary units: a disk image is sized in GiB). */
export function parseImageSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(text.trim());
  if (!m) throw new UserError(`build disk: --size must look like 8G or 12GiB, got '${text}'`, EXIT.usage);
  const mult = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  const bytes = Math.floor(Number(m[1]) * mult / 2 ** 20) * 2 ** 20;
  if (bytes < MIN_DISK_BYTES) throw new UserError(`build disk: --size ${text} is too small (at least 4G: the base system with the virtualisation and cluster packages needs about 3 GiB)`, EXIT.usage);
  return bytes;
}

export async function buildDisks(req: DiskRequest): Promise<DiskBuildResult> {
  requireRoot('build disk');
  await requireTools();
  const { plan, progress } = req;
  await mkdir(req.outDir, { recursive: true });
  const rootfs = await ensureRootfs(plan, req.cacheDir, progress);
  progress.step(rootfs.cached ? `base tree ${rootfs.key} from the cache` : `base tree ${rootfs.key} built in ${rootfs.seconds.toFixed(0)} s`);
  const work = await mkdtemp(join(req.outDir, '.disk-work-'));
  const outputs: DiskOutput[] = [];
  const perNodeSeconds: Record<string, number> = {};
  try {
    for (const name of req.nodes) {
      const t0 = Date.now();
      const node = plan.nodes.find((n) => n.name === name)!;
      const raw = join(req.outDir, `${name}.raw`);
      await buildNodeImage({ plan, node, joinKey: req.joinKey, agent: req.agent, epoch: req.epoch, rootfsTarball: rootfs.tarball, rawPath: raw, sizeBytes: req.sizeBytes, workDir: work, progress, kernelOpts: req.kernelOpts });
      if (req.formats.includes('qcow2')) {
        progress.step(`${name}: converting to qcow2`);
        const q = join(req.outDir, `${name}.qcow2`);
        await rm(q, { force: true });
        await run('qemu-img', ['convert', '-O', 'qcow2', raw, q]);
        await chmod(q, 0o600);
        outputs.push({ file: q, target: name, format: 'qcow2', sha256: await sha256File(q), size: (await stat(q)).size });
      }
      if (req.formats.includes('raw')) {
        await chmod(raw, 0o600);
        outputs.push({ file: raw, target: name, format: 'raw', sha256: await sha256File(raw), size: (await stat(raw)).size });
      } else {
        await rm(raw, { force: true });
      }
      perNodeSeconds[name] = (Date.now() - t0) / 1000;
    }
  } finally {
    await removeTree(work);
  }
  return { outputs, rootfs, perNodeSeconds };
}
