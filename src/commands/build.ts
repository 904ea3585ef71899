import { resolve } from 'node:path';
import { buildManifest, loadBuildContext } from '../build/context.js';
import { buildMedia, type MediaTarget } from '../build/media.js';
import { remasterIsos } from '../build/remaster.js';
import { buildPxe } from '../pxe/build-pxe.js';
import { resolveInstaller } from '../installer/resolve.js';
import { writeManifest, type ManifestInput } from '../write/manifest.js';
import { EXIT, UserError } from '../../core/errors.js';
import { createProgress } from '../util/progress.js';
import { parseCommandArgs, writeJson, type Command } from './command.js';
import type { ConsoleKind } from '../render/boot-menu.js';
import { runBuildDisk } from './build-disk.js';

const HELP = `Usage: personal-cloud build [iso|pxe|disk] [options]

Builds installer images from cluster.yaml: one per node (its own unattended install) and one
universal image whose boot menu picks the node (default entry: match this PC's MAC).

Options:
  -c, --config FILE     cluster description (default: ./cluster.yaml)
  -o, --out DIR         output folder (default: ./out)
  -n, --node NAME       build the image of this node only (repeatable)
      --universal       build only the universal image
      --console KIND    installer console: screen (default) or serial (headless boxes, tests)
      --installer PATH  use a local netboot tree (dir) or debian-installer-NN-netboot-amd64 .deb
      --base-iso FILE   remaster an official Debian netinst/DVD ISO instead (keeps its boot records)
      --mirror URL      where to fetch the installer (default: the mirror in cluster.yaml)
      --cache DIR       download cache (default: ~/.cache/personal-cloud)
      --offline         never use the network: only what the cache holds
      --host-loaders    take the boot loaders (shim, GRUB, isolinux, syslinux, pxelinux) from
                        this machine's /usr/lib instead of the release's packages from the
                        archive (for offline builds without a cache; not with --base-iso)
      --serial-log      installer streams its syslog to the 2nd serial port (debugging)
      --json            print the result (outputs, hashes) as JSON on stdout
  -h, --help            this help

build disk: preinstalled node disks (out/disk/NODE.raw and .qcow2, BIOS + UEFI GRUB), made with
debootstrap from the same plan (packages, users, network, agent). Needs root.
      --all             every node (the default when no --node is given)
      --size SIZE       disk image size (default 8G; the root partition grows to the
                        whole disk at first boot)
      --format FMT      raw or qcow2 (repeatable; default both)
      --kernel-opts S   extra kernel options of the installed system (e.g. no_timer_check
                        for VMs under an emulator such as QEMU TCG)

Reproducible: set SOURCE_DATE_EPOCH and the same inputs give byte-identical images.
Images hold password hashes and the cluster's derived join key: they are written mode 0600.
Exit codes: 0 ok, 2 usage, 3 invalid config, 4 download verification failed, 5 tool missing/failed.
`;

/** A PXE tree's outputs are one initrd per node plus loaders, menus and configs: say which is which. */
function pxeSummary(outputs: { file: string }[]): string {
  const initrds = outputs.filter((o) => o.file.endsWith('/initrd.gz')).length;
  const other = outputs.length - initrds;
  return `PXE tree: ${initrds} node initrd${initrds === 1 ? '' : 's'} and ${other} boot file${other === 1 ? '' : 's'} (loaders, kernel, menus, dnsmasq.conf)`;
}

export const buildCommand: Command = {
  name: 'build',
  summary: 'build installer images (ISO for USB sticks) from cluster.yaml',
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs(this, argv, {
      config: { type: 'string', short: 'c' },
      out: { type: 'string', short: 'o' },
      node: { type: 'string', short: 'n', multiple: true },
      universal: { type: 'boolean' },
      console: { type: 'string' },
      installer: { type: 'string' },
      'base-iso': { type: 'string' },
      mirror: { type: 'string' },
      cache: { type: 'string' },
      offline: { type: 'boolean' },
      'host-loaders': { type: 'boolean' },
      'serial-log': { type: 'boolean' },
      json: { type: 'boolean' },
      all: { type: 'boolean' },
      size: { type: 'string' },
      format: { type: 'string', multiple: true },
      'kernel-opts': { type: 'string' },
    });
    if (!args) return EXIT.ok;
    const { values: v, positionals } = args;
    const kind = positionals[0] ?? 'iso';
    if (!['iso', 'pxe', 'disk'].includes(kind) || positionals.length > 1) {
      throw new UserError(`build: unknown output '${positionals.join(' ')}' (allowed: iso, pxe, disk)`, EXIT.usage);
    }
    if (kind === 'disk') return runBuildDisk(v);
    if (v.all || v.size || v.format || v['kernel-opts']) throw new UserError('build: --all, --size, --format and --kernel-opts apply to `build disk` only', EXIT.usage);
    if (kind === 'pxe' && (v.universal || v['base-iso'])) throw new UserError('build pxe: --universal and --base-iso apply to images only', EXIT.usage);
    const consoleKind = (v.console ?? 'screen') as ConsoleKind;
    if (consoleKind !== 'screen' && consoleKind !== 'serial') throw new UserError(`build: --console must be screen or serial, got '${consoleKind}'`, EXIT.usage);
    if (v.universal && v.node?.length) throw new UserError('build: --universal and --node exclude each other', EXIT.usage);

    const progress = createProgress();
    const nodes = v.node ?? [];
    const ctx = await loadBuildContext({ config: v.config, cache: v.cache, who: `build ${kind}`, nodes });
    const { plan, configPath } = ctx;
    const targets: MediaTarget[] = v.universal ? [{ kind: 'universal' }]
      : nodes.length ? nodes.map((node) => ({ kind: 'node', node }))
        : [...plan.nodes.map((n) => ({ kind: 'node' as const, node: n.name })), { kind: 'universal' as const }];

    const outDir = resolve(v.out ?? 'out');
    progress.step(`installer for Debian ${plan.cluster.releaseVersion} (${plan.cluster.release})`);
    const installer = await resolveInstaller({
      release: plan.cluster.release,
      mirror: v.mirror ?? plan.cluster.mirror.url,
      proxy: plan.cluster.mirror.proxy,
      installer: v.installer,
      baseIso: v['base-iso'],
      cacheDir: ctx.cacheDir,
      offline: v.offline,
      loaders: kind === 'pxe' ? 'pxe' : 'iso',
      hostLoaders: v['host-loaders'],
      progress,
    });
    if (installer.release !== plan.cluster.release) {
      throw new UserError(`the installer is for ${installer.release} but ${configPath} says release: ${plan.cluster.release}`, EXIT.usage);
    }
    const request = { ...ctx, targets, console: consoleKind, outDir, serialLog: v['serial-log'], progress };
    const outputs = kind === 'pxe'
      ? await buildPxe({ ...request, installer, nodes: nodes.length ? nodes : undefined })
      : installer.iso
        ? await remasterIsos({ ...request, iso: installer.iso, installer })
        : await buildMedia({ ...request, installer });

    const inputs: ManifestInput[] = [...installer.inputs];
    const manifest = await writeManifest(outDir, buildManifest(ctx, inputs, outputs));
    progress.done(`${kind === 'pxe' ? pxeSummary(outputs) : `${outputs.length} image${outputs.length === 1 ? '' : 's'}`} in ${outDir} (manifest: ${manifest})`);
    if (v.json) writeJson({ outDir, manifest, epoch: ctx.epoch, installer: { kind: installer.kind, version: installer.version, origin: installer.origin }, outputs });
    else for (const o of outputs) process.stdout.write(`${o.file}  ${(o.size / 2 ** 20).toFixed(1)} MiB  sha256 ${o.sha256}\n`);
    return EXIT.ok;
  },
};

