// The `disk` branch of `personal-cloud build`: options → buildDisks → manifest + summary.
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { buildManifest, loadBuildContext } from '../build/context.js';
import { buildDisks, parseImageSize, type DiskFormat } from '../disk/build-disks.js';
import { requireRoot } from '../disk/host.js';
import { EXIT, UserError } from '../../core/errors.js';
import { createProgress } from '../util/progress.js';
import { writeManifest } from '../write/manifest.js';
import { writeJson } from './command.js';

export interface BuildDiskOptions {
  config?: string; out?: string; 'kernel-opts'?: string; node?: string[]; all?: boolean; size?: string; format?: string[]; cache?: string; json?: boolean;
  universal?: boolean; console?: string; installer?: string; 'base-iso'?: string; mirror?: string; offline?: boolean; 'serial-log'?: boolean;
}

export async function runBuildDisk(v: BuildDiskOptions): Promise<number> {
  const isoOnly = (['universal', 'console', 'installer', 'base-iso', 'offline', 'serial-log', 'mirror'] as const).filter((k) => v[k] !== undefined);
  if (isoOnly.length) throw new UserError(`build disk: --${isoOnly.join(', --')} apply to installer images only`, EXIT.usage);
  if (v.all && v.node?.length) throw new UserError('build disk: --all and --node exclude each other', EXIT.usage);
  const formats = (v.format?.length ? v.format : ['raw', 'qcow2']) as DiskFormat[];
  for (const f of formats) if (f !== 'raw' && f !== 'qcow2') throw new UserError(`build disk: --format must be raw or qcow2, got '${f}'`, EXIT.usage);
  const sizeBytes = parseImageSize(v.size ?? '8G');
  if (v['kernel-opts'] !== undefined && !/^[\w.,=:\/ -]*$/.test(v['kernel-opts'])) throw new UserError(`build disk: --kernel-opts may hold letters, digits and . , = : / - only, got '${v['kernel-opts']}'`, EXIT.usage);
  requireRoot('build disk');

  const progress = createProgress();
  const ctx = await loadBuildContext({ config: v.config, cache: v.cache, who: 'build disk', nodes: v.node });
  const { plan } = ctx;
  const nodes = v.node?.length ? v.node : plan.nodes.map((n) => n.name);
  const outDir = join(resolve(v.out ?? 'out'), 'disk');
  const t0 = Date.now();
  const result = await buildDisks({
    ...ctx, nodes, outDir, sizeBytes, formats: [...new Set(formats)], progress,
    ...(v['kernel-opts'] ? { kernelOpts: v['kernel-opts'] } : {}),
  });
  const manifest = await writeManifest(outDir, buildManifest(ctx,
    [{ name: `rootfs ${plan.cluster.release}-${result.rootfs.key}.tar (debootstrap + plan.packages)`, sha256: result.rootfs.sha256, size: (await stat(result.rootfs.tarball)).size }],
    result.outputs.map((o) => ({ file: o.file, target: o.target, sha256: o.sha256, size: o.size }))));
  const seconds = (Date.now() - t0) / 1000;
  progress.done(`${result.outputs.length} disk image${result.outputs.length === 1 ? '' : 's'} in ${outDir} in ${seconds.toFixed(0)} s (manifest: ${manifest})`);
  if (v.json) writeJson({ outDir, manifest, seconds, rootfs: result.rootfs, perNodeSeconds: result.perNodeSeconds, outputs: result.outputs });
  else for (const o of result.outputs) process.stdout.write(`${o.file}  ${(o.size / 2 ** 20).toFixed(1)} MiB  sha256 ${o.sha256}\n`);
  return EXIT.ok;
}
