import { readFileSync } from 'node:fs';
import type { DiskSelector } from '../../core/config-types.js';
import type { NodePlan, Plan } from '../../core/plan-types.js';
import { requireNode } from '../../core/plan-nodes.js';
import type { NodeFilesContext } from '../build/context.js';
import { clusterFiles, ownFiles, type RenderedFile } from '../render/node-files.js';
import { renderNodePreseed, type PreseedOptions } from '../render/preseed.js';
import { projectPath } from '../util/paths.js';
import type { CpioEntry } from './cpio.js';

// What the installer finds in its initrd next to its own files: /preseed.cfg (loaded by
// d-i's initrd-preseed) and /personal-cloud/** (scripts, users, the node files, per-node answers).

/** The files every node receives (src/render/node-files.ts), at their node paths under this folder. */
export const SHARED_ROOT = 'personal-cloud/root';
/** Per node: `MODE SOURCE DESTINATION` lines, one per node file; late.sh installs exactly these. */
export const FILES_LIST = 'files.list';

const nodeDir = (name: string) => `personal-cloud/nodes/${name}`;
/** Runs right before S30initrd-preseed, which loads /preseed.cfg. */
export const PICK_NODE_STARTUP = 'usr/lib/debian-installer-startup.d/S29personal-cloud-pick-node';

function shellQuote(v: string): string {
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

export function osDiskConf(sel: DiskSelector): string {
  const vars: [string, string | number | undefined][] =
    'id' in sel
      ? [['ID', sel.id]]
      : [
          ['MIN_BYTES', sel.match.minBytes],
          ['MAX_BYTES', sel.match.maxBytes],
          ['MODEL', sel.match.model],
          ['SERIAL', sel.match.serial],
          ['TYPE', sel.match.type],
        ];
  vars.push(['WIPE', sel.wipe ? 'true' : 'false']);
  return vars.filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${shellQuote(String(v))}\n`).join('');
}

function fileEntry(root: string, f: RenderedFile): CpioEntry {
  return { path: `${root}${f.path}`, content: f.content, mode: f.mode };
}

function filesList(entries: { entry: CpioEntry; dest: string }[]): string {
  return entries.map(({ entry, dest }) => `${entry.mode.toString(8).padStart(4, '0')} ${entry.path.slice('personal-cloud/'.length)} ${dest}\n`).join('');
}

/** `sharedFiles`: clusterFiles(), held once under SHARED_ROOT for every node of the payload. */
function nodeEntries(ctx: NodeFilesContext, node: NodePlan, sharedFiles: RenderedFile[], opts: PreseedOptions): CpioEntry[] {
  const base = nodeDir(node.name);
  const own = ownFiles(ctx, node).map((f) => ({ entry: fileEntry(`${base}/root`, f), dest: f.path }));
  const shared = sharedFiles.map((f) => ({ entry: fileEntry(SHARED_ROOT, f), dest: f.path }));
  const entries: CpioEntry[] = [
    { path: `${base}/preseed.cfg`, content: renderNodePreseed(ctx.plan, node, opts), mode: 0o600 },
    { path: `${base}/os-disk.conf`, content: osDiskConf(node.osDisk), mode: 0o644 },
    { path: `${base}/${FILES_LIST}`, content: filesList([...shared, ...own]), mode: 0o644 },
    ...own.map((o) => o.entry),
  ];
  if (node.mac) entries.push({ path: `${base}/mac`, content: `${node.mac}\n`, mode: 0o644 });
  return entries;
}

function userEntries(plan: Plan): CpioEntry[] {
  // user:hash:groups:keyfile:full name — read by late.sh; hashes only, never a password.
  const list = plan.users
    .map((u) => `${u.name}:${u.passwordHash}:${u.groups.join(',')}:${u.name}.keys:${u.fullName.replace(/[:\n]/g, ' ')}\n`)
    .join('');
  return [
    { path: 'personal-cloud/users/users.list', content: list, mode: 0o600 },
    ...plan.users.map((u) => ({ path: `personal-cloud/users/${u.name}.keys`, content: u.sshKeys.map((k) => `${k}\n`).join(''), mode: 0o644 })),
  ];
}

function scriptEntries(): CpioEntry[] {
  return ['early.sh', 'check-mac.sh', 'select-os-disk.sh', 'late.sh'].map((s) => ({
    path: `personal-cloud/${s}`,
    content: readFileSync(projectPath('preseed', 'scripts', s)),
    mode: 0o755,
  }));
}

export interface PayloadRequest extends NodeFilesContext {
  /** One node (its own preseed is /preseed.cfg) or all nodes (universal: chosen at boot). */
  nodes: string[] | 'all';
  preseed?: PreseedOptions;
}

export function payloadEntries(req: PayloadRequest): CpioEntry[] {
  const { plan } = req;
  const chosen = req.nodes === 'all' ? plan.nodes : req.nodes.map((n) => requireNode(plan, n, 'payload'));
  const single = req.nodes !== 'all' && chosen.length === 1;
  const opts = req.preseed ?? {};
  const shared = clusterFiles(req);
  // One node: its answers are /preseed.cfg. Universal: a startup script that runs just before
  // d-i reads /preseed.cfg copies the chosen node's answers there.
  const chooser: CpioEntry = single
    ? { path: 'preseed.cfg', content: renderNodePreseed(plan, chosen[0], opts), mode: 0o600 }
    : { path: PICK_NODE_STARTUP, content: readFileSync(projectPath('preseed', 'scripts', 'pick-node.sh')), mode: 0o755 };
  return [
    chooser,
    ...(opts.serialLog && !single ? [{ path: 'personal-cloud/serial-log', content: '', mode: 0o644 }] : []),
    ...scriptEntries(),
    ...userEntries(plan),
    ...shared.map((f) => fileEntry(SHARED_ROOT, f)),
    ...chosen.flatMap((n) => nodeEntries(req, n, shared, opts)),
  ];
}
