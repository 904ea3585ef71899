import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadConfig } from '../config/load.js';
import { formatIssue } from '../config/validate.js';
import { plan as makePlan } from '../plan/plan.js';
import { deriveJoinKey } from '../plan/keys.js';
import { loadAgentBundle, AGENT_BUNDLE } from '../assemble/payload.js';
import { buildMedia, type MediaTarget } from '../build/media.js';
import { remasterIsos } from '../build/remaster.js';
import { buildPxe } from '../pxe/build-pxe.js';
import { resolveInstaller } from '../installer/resolve.js';
import { writeManifest, type ManifestInput } from '../write/manifest.js';
import { EXIT, UserError } from '../../core/errors.js';
import { sha256, sha256File } from '../util/hash.js';
import { createProgress } from '../util/progress.js';
import { projectPath } from '../util/paths.js';
import { parseCommandArgs, writeJson, type Command } from './command.js';
import type { ConsoleKind } from '../render/boot-menu.js';
import { runBuildDisk } from '../disk/command.js';

export const TOOL_VERSION = '0.1.0';

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

export function buildEpoch(env = process.env): number {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return Math.floor(Date.now() / 1000);
  if (!/^\d+$/.test(raw)) throw new UserError(`SOURCE_DATE_EPOCH must be a number of seconds, got '${raw}'`, EXIT.usage);
  return Number(raw);
}

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
    const configPath = resolve(v.config ?? 'cluster.yaml');
    const { config, warnings } = await loadConfig(configPath);
    for (const w of warnings) process.stderr.write(`warning: ${formatIssue(w)}\n`);
    const plan = makePlan(config);
    const nodes = v.node ?? [];
    for (const n of nodes) {
      if (!plan.nodes.some((p) => p.name === n)) throw new UserError(`build: no node named '${n}' in ${configPath} (nodes: ${plan.nodes.map((p) => p.name).join(', ')})`, EXIT.usage);
    }
    const targets: MediaTarget[] = v.universal ? [{ kind: 'universal' }]
      : nodes.length ? nodes.map((node) => ({ kind: 'node', node }))
        : [...plan.nodes.map((n) => ({ kind: 'node' as const, node: n.name })), { kind: 'universal' as const }];

    const epoch = buildEpoch();
    const outDir = resolve(v.out ?? 'out');
    const agent = loadAgentBundle();
    progress.step(`installer for Debian ${plan.cluster.releaseVersion} (${plan.cluster.release})`);
    const installer = await resolveInstaller({
      release: plan.cluster.release,
      mirror: v.mirror ?? plan.cluster.mirror.url,
      proxy: plan.cluster.mirror.proxy,
      installer: v.installer,
      baseIso: v['base-iso'],
      cacheDir: v.cache,
      offline: v.offline,
      loaders: kind === 'pxe' ? 'pxe' : 'iso',
      hostLoaders: v['host-loaders'],
      progress,
    });
    if (installer.release !== plan.cluster.release) {
      throw new UserError(`the installer is for ${installer.release} but ${configPath} says release: ${plan.cluster.release}`, EXIT.usage);
    }
    const joinKey = deriveJoinKey(config.secret, config.name);
    const request = { plan, joinKey, agent, targets, console: consoleKind, outDir, epoch, serialLog: v['serial-log'], progress };
    const outputs = kind === 'pxe'
      ? await buildPxe({ ...request, installer, nodes: nodes.length ? nodes : undefined })
      : installer.iso
        ? await remasterIsos({ ...request, iso: installer.iso, installer })
        : await buildMedia({ ...request, installer });

    const inputs: ManifestInput[] = [
      { name: 'cluster.yaml', sha256: await sha256File(configPath), size: (await stat(configPath)).size },
      ...installer.inputs,
      { name: AGENT_BUNDLE, sha256: sha256(agent.script), size: agent.script.length },
    ];
    const manifest = await writeManifest(outDir, {
      tool: { name: 'personal-cloud', version: TOOL_VERSION },
      cluster: plan.cluster.name, release: plan.cluster.release, epoch, keyId: plan.cluster.keyId, inputs, outputs,
    });
    progress.done(`${kind === 'pxe' ? pxeSummary(outputs) : `${outputs.length} image${outputs.length === 1 ? '' : 's'}`} in ${outDir} (manifest: ${manifest})`);
    if (v.json) writeJson({ outDir, manifest, epoch, installer: { kind: installer.kind, version: installer.version, origin: installer.origin }, outputs });
    else for (const o of outputs) process.stdout.write(`${o.file}  ${(o.size / 2 ** 20).toFixed(1)} MiB  sha256 ${o.sha256}\n`);
    return EXIT.ok;
  },
};

void projectPath;
