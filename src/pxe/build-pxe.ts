// The PXE output stage: the same per-node payload as the images (installer initrd ‖ payload),
// laid out as a TFTP tree with pxelinux (BIOS, the release's pxelinux and syslinux-common),
// Debian's signed shim + GRUB netboot (UEFI, from the netboot package),
// iPXE scripts, per-MAC entries, a menu for unknown machines and a dnsmasq configuration.
import { existsSync, readFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { NodePlan } from '../../core/plan-types.js';
import type { InstallerSource } from '../installer/resolve.js';
import { buildPayload, type MediaOutput, type MediaRequest } from '../build/media.js';
import { cpioArchive, gzipDeterministic } from '../assemble/cpio.js';
import { bootFile } from '../write/boot-files.js';
import { EXIT, UserError } from '../../core/errors.js';
import { requireNode } from '../../core/plan-nodes.js';
import { writeFileAtomic } from '../util/fs.js';
import { sha256File } from '../util/hash.js';
import { projectPath } from '../util/paths.js';
import { networkOf, renderDnsmasqConf } from './dnsmasq.js';
import {
  BIOS_LOADER, DEFAULT_HTTP_PORT, DNSMASQ_CONF, GRUB_PREFIX, IPXE_SCRIPT, KERNEL, LOADERS,
  defaultMenuPath, macTag, nodeInitrd, nodeVariant, perMacPath, type EntryMode,
} from './layout.js';
import { nodeMenu, renderIpxeEntry, renderLoaderConfig, unknownMenu, type MenuContext } from './render.js';
import { installedToken, readState, tokenHash, writeState, type PxeState } from './state.js';

export interface PxeRequest extends Omit<MediaRequest, 'installer' | 'targets'> {
  installer: InstallerSource;
  /** Nodes to give per-MAC entries (default: all nodes that have a MAC). */
  nodes?: string[];
  /** Port of `personal-cloud serve`'s HTTP server, told to the installer for its "installed" report. */
  httpPort?: number;
}

/** BIOS modules from syslinux-common: the same syslinux build as the release's pxelinux.0. */
const SYSLINUX_MODULES = ['ldlinux', 'libcom32', 'libutil', 'menu'] as const;
const UEFI_FILES = ['bootnetx64.efi', 'grubx64.efi'];

/** Files of the installer's netboot tree this stage needs, checked before anything is written. */
function checkInstallerTree(installer: InstallerSource): void {
  if (!installer.root) {
    throw new UserError(`build pxe needs the Debian netboot installer (debian-installer-${installer.release === 'trixie' ? 13 : 12}-netboot-amd64); ${installer.origin} gives no netboot tree`, EXIT.usage);
  }
  for (const f of UEFI_FILES) {
    if (!existsSync(join(installer.dir, f))) throw new UserError(`${join(installer.dir, f)} is missing: the netboot tree has no UEFI network loader`, EXIT.verification);
  }
}

/** The PXE-only part of a node's initrd: how it reports "installed" to `serve`. */
function reportEntries(joinKey: string, mac: string, epoch: number): Buffer {
  return gzipDeterministic(cpioArchive([
    { path: 'personal-cloud/pxe/report-installed.sh', content: readFileSync(projectPath('preseed', 'scripts', 'report-installed.sh')), mode: 0o755 },
    { path: 'personal-cloud/pxe/mac', content: `${mac}\n`, mode: 0o644 },
    { path: 'personal-cloud/pxe/token', content: `${installedToken(joinKey, mac)}\n`, mode: 0o600 },
  ], epoch));
}

/** What a node's PXE initrd appends to the installer's: the image payload, plus the report parts with a MAC. */
export function pxePayload(req: Pick<PxeRequest, 'plan' | 'joinKey' | 'agent' | 'epoch' | 'serialLog'>, node: NodePlan): Buffer[] {
  const parts = [buildPayload(req, { kind: 'node', node: node.name })];
  if (node.mac) parts.push(reportEntries(req.joinKey, node.mac, req.epoch));
  return parts;
}

/** Per-MAC files left from an earlier build for machines no longer in the config. */
async function removeStaleEntries(out: string, keep: Set<string>): Promise<void> {
  const dirs: [string, RegExp][] = [['pxelinux.cfg', /^01-/], [GRUB_PREFIX, /^grub\.cfg-01-/], ['ipxe', /^01-/]];
  for (const [dir, pattern] of dirs) {
    const names = await readdir(join(out, dir)).catch(() => [] as string[]);
    for (const n of names) if (pattern.test(n) && !keep.has(`${dir}/${n}`)) await rm(join(out, dir, n), { force: true });
  }
}

function clusterNetwork(plan: PxeRequest['plan']): PxeState['network'] {
  const first = plan.nodes.map((n) => n.network).find((a) => !a.dhcp);
  if (!first || first.dhcp) return undefined;
  return { network: networkOf(first.address, first.prefix), prefix: first.prefix, ...(first.gateway ? { gateway: first.gateway } : {}), dns: first.dns };
}

export async function buildPxe(req: PxeRequest): Promise<MediaOutput[]> {
  const { plan, progress } = req;
  const out = req.outDir;
  checkInstallerTree(req.installer);
  const httpPort = req.httpPort ?? DEFAULT_HTTP_PORT;
  const chosen = req.nodes ?? plan.nodes.filter((n) => n.mac).map((n) => n.name);
  const perMac = chosen.map((name) => {
    const node = requireNode(plan, name, 'build pxe');
    if (!node.mac) throw new UserError(`build pxe: node '${name}' has no mac in cluster.yaml, so it cannot get its own network boot entry`, EXIT.usage, `add "mac: aa:bb:cc:dd:ee:ff" to node ${name}, or install it from the menu every unknown machine gets`);
    return { name, mac: node.mac };
  });
  const outputs: MediaOutput[] = [];
  const record = async (rel: string, target: string) => {
    const file = join(out, rel);
    outputs.push({ file, target, sha256: await sha256File(file), size: (await stat(file)).size });
  };
  const write = async (rel: string, data: Buffer | string, target: string | undefined, mode = 0o644) => {
    await writeFileAtomic(join(out, rel), data, mode);
    if (target) await record(rel, target);
  };
  const copy = async (from: string, rel: string, target: string) => {
    await mkdir(dirname(join(out, rel)), { recursive: true });
    await copyFile(from, join(out, rel));
    await record(rel, target);
  };

  progress.step(`PXE tree in ${out}: boot loaders`);
  const { loaders } = req.installer;
  if (!loaders) throw new UserError('internal: build pxe needs the boot loaders (resolveInstaller with loaders: \'pxe\')', EXIT.failure);
  await copy(bootFile(loaders, 'pxelinux'), BIOS_LOADER, 'loader');
  for (const m of SYSLINUX_MODULES) await copy(bootFile(loaders, m), `${m}.c32`, 'loader');
  for (const f of UEFI_FILES) await copy(join(req.installer.dir, f), `debian-installer/amd64/${f}`, 'loader');
  if (existsSync(join(req.installer.dir, 'grub', 'font.pf2'))) await copy(join(req.installer.dir, 'grub', 'font.pf2'), `${GRUB_PREFIX}/font.pf2`, 'loader');
  await copy(req.installer.linux, KERNEL, 'kernel');

  const installerInitrd = await readFile(req.installer.initrd);
  for (const node of plan.nodes) {
    progress.step(`PXE tree: initrd of ${node.name}`);
    const parts = [installerInitrd, ...pxePayload(req, node)];
    // Holds password hashes and the derived join key. dnsmasq running as root serves only
    // world-readable files, so the file is 0644 and the nodes/ folder 0700 keeps local users out.
    await write(nodeInitrd(node.name), Buffer.concat(parts), node.name, 0o644);
  }
  await chmod(join(out, 'nodes'), 0o700);

  progress.step('PXE tree: menus and per-MAC entries');
  const ctx: MenuContext = { plan, console: req.console, httpPort };
  for (const loader of LOADERS) await write(defaultMenuPath(loader), renderLoaderConfig(loader, unknownMenu(ctx, loader), true), 'unknown');
  await write(IPXE_SCRIPT, renderIpxeEntry(plan), 'ipxe');

  const previous = await readState(out).catch(() => undefined);
  const net = clusterNetwork(plan);
  const state: PxeState = { version: 1, cluster: plan.cluster.name, httpPort, ...(net ? { network: net } : {}), nodes: {} };
  const keep = new Set<string>();
  for (const { name, mac } of perMac) {
    for (const loader of LOADERS) {
      for (const mode of ['install', 'local'] as EntryMode[]) await write(nodeVariant(name, loader, mode), renderLoaderConfig(loader, nodeMenu(ctx, loader, name, mode)), name);
    }
    // A machine that reported "installed" stays on local boot across rebuilds (same MAC).
    const prev = previous?.cluster === plan.cluster.name ? previous.nodes[name] : undefined;
    const installed = prev?.mac === mac && prev.installed;
    for (const loader of LOADERS) {
      const rel = perMacPath(loader, mac);
      keep.add(rel);
      await write(rel, await readFile(join(out, nodeVariant(name, loader, installed ? 'local' : 'install'))), undefined);
    }
    const address = plan.nodes.find((n) => n.name === name)!.network;
    state.nodes[name] = { mac, tokenSha256: tokenHash(installedToken(req.joinKey, mac)), installed, ...(address.dhcp ? {} : { address: address.address }), ...(prev?.changedAt && installed ? { changedAt: prev.changedAt } : {}) };
  }
  await removeStaleEntries(out, keep);
  await writeState(out, state);

  await write(DNSMASQ_CONF, renderDnsmasqConf({ tftpRoot: out, mode: 'proxy', network: net?.network ?? '0.0.0.0', prefix: net?.prefix ?? 0 }), 'dnsmasq');
  progress.done(`PXE tree: ${perMac.length} per-MAC entr${perMac.length === 1 ? 'y' : 'ies'} (${perMac.map((p) => `${p.name} ${macTag(p.mac)}`).join(', ') || 'none'}); unknown machines boot locally by default`);
  return outputs;
}
