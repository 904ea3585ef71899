// Which known machines are installed: persisted in the tree (pxe-state.json, 0600) so a
// rebuild and a restarted server keep it. A machine's active per-MAC entries are copies of
// its "install" or "local" variants, so flipping needs nothing but the tree.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { EXIT, UserError } from '../../core/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { LOADERS, STATE_FILE, nodeVariant, perMacPath, type EntryMode } from './layout.js';

export interface NodeState {
  mac: string;
  /** SHA-256 of the token the node presents when it reports "installed" (the token itself is only in its initrd). */
  tokenSha256: string;
  installed: boolean;
  /** Its address from cluster.yaml: its fixed lease when `serve` runs full DHCP. */
  address?: string;
  /** ISO time of the last change (absent after a build). */
  changedAt?: string;
}

export interface PxeState {
  version: 1;
  cluster: string;
  httpPort: number;
  /** The cluster's network (from the nodes' static addresses), for dnsmasq. */
  network?: { network: string; prefix: number; gateway?: string; dns: string[] };
  nodes: Record<string, NodeState>;
}

/** The node's proof that it is the node: only holders of the cluster's derived join key can make it. */
export function installedToken(joinKey: string, mac: string): string {
  return createHmac('sha256', Buffer.from(joinKey, 'hex')).update(`personal-cloud/pxe-installed/v1/${mac.toLowerCase()}`).digest('hex');
}

export const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex');

export function tokenMatches(state: NodeState, token: string): boolean {
  const a = Buffer.from(tokenHash(token), 'hex');
  const b = Buffer.from(state.tokenSha256, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function readState(tree: string): Promise<PxeState | undefined> {
  let text: string;
  try { text = await readFile(join(tree, STATE_FILE), 'utf8'); } catch { return undefined; }
  try {
    const s = JSON.parse(text) as PxeState;
    if (s.version !== 1 || typeof s.nodes !== 'object') throw new Error('unknown version');
    return s;
  } catch (e) {
    throw new UserError(`${join(tree, STATE_FILE)} is damaged (${(e as Error).message})`, EXIT.failure, 'rebuild the tree with `personal-cloud build pxe` (installed machines will be offered an install again)');
  }
}

export async function writeState(tree: string, state: PxeState): Promise<void> {
  await writeFileAtomic(join(tree, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`, 0o600);
}

/** Makes the machine's per-MAC entries (pxelinux, GRUB, iPXE) its install or local variant. */
export async function activateEntries(tree: string, node: string, mac: string, mode: EntryMode): Promise<void> {
  for (const loader of LOADERS) {
    const data = await readFile(join(tree, nodeVariant(node, loader, mode)));
    await writeFileAtomic(join(tree, perMacPath(loader, mac)), data, 0o644);
  }
}

export function findNode(state: PxeState, nodeOrMac: string): [string, NodeState] | undefined {
  const key = nodeOrMac.toLowerCase();
  return Object.entries(state.nodes).find(([name, n]) => name === nodeOrMac || n.mac === key);
}

/** Records the node as installed (or not) and flips its entries; returns false if nothing changed. */
export async function setInstalled(tree: string, state: PxeState, node: string, installed: boolean, now = new Date()): Promise<boolean> {
  const n = state.nodes[node];
  if (!n) throw new UserError(`no node '${node}' with a MAC in this PXE tree (nodes: ${Object.keys(state.nodes).join(', ') || 'none'})`, EXIT.usage);
  if (n.installed === installed) return false;
  await activateEntries(tree, node, n.mac, installed ? 'local' : 'install');
  n.installed = installed;
  n.changedAt = now.toISOString();
  await writeState(tree, state);
  return true;
}


/** pxelinux cannot tell the installer its server's address: `serve` writes it into those files. */
export async function stampServerAddress(tree: string, address: string): Promise<number> {
  const files = [
    ...(await readdir(join(tree, 'pxelinux.cfg')).catch(() => [] as string[])).map((f) => join('pxelinux.cfg', f)),
    ...Object.keys((await readState(tree))?.nodes ?? {}).flatMap((n) => (['install', 'local'] as EntryMode[]).map((m) => nodeVariant(n, 'pxelinux', m))),
  ];
  let changed = 0;
  for (const rel of files) {
    const text = await readFile(join(tree, rel), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const next = text.replace(/pc\.pxe-server=\S+/g, `pc.pxe-server=${address}`);
    if (next !== text) { await writeFileAtomic(join(tree, rel), next, 0o644); changed++; }
  }
  return changed;
}
