// Brick encryption policy (cluster.yaml `encryption:`): which clevis pins unlock a node's
// bricks, the `clevis … sss` configuration that binds them, what a policy protects against,
// and what status says while bricks wait for their pins. Pure: the builder (validate, plan)
// and the agent (bind, unlock, status) share it.

/** An external tang server; `thp` pins its signing key (else the first advertisement fetched is trusted). */
export interface TangServer { url: string; thp?: string }

export interface EncryptionConfig {
  /** Every node runs tangd on the cluster network; a brick is bound to the *other* nodes' tang. */
  peers: boolean;
  tang: TangServer[];
  /** A TPM2 share sealed to PCR 7 (the Secure Boot state) of the node's own TPM. */
  tpm2: boolean;
  /** How many shares must answer to unlock (clevis sss `t`). */
  threshold: number;
}

/**
 * Port of tangd on every node (peers). Not tang's packaged 80: a node's port 80 stays free for
 * the user's services, and 7500 is the port the how-to's tang server listens on.
 */
export const TANG_PORT = 7500;
/** PCR 7 holds the Secure Boot policy: a changed boot chain (another OS, SB off) does not unseal. */
export const TPM2_PCR_IDS = '7';
/**
 * clevis 19 (bookworm) defaults to the SHA-1 bank, which current firmware often leaves
 * unallocated or does not measure into: the share would be sealed to a PCR nothing changes.
 */
export const TPM2_PCR_BANK = 'sha256';

export const peerTangUrl = (address: string) => `http://${address}:${TANG_PORT}`;

export type Pin =
  | { kind: 'peer'; node: string; url: string }
  | { kind: 'tang'; url: string; thp?: string }
  | { kind: 'tpm2' };

export interface PeerNode { name: string; address: string }

/** The pins of `self`'s bricks: the other nodes' tang (sorted by name), external tang, TPM2. */
export function pinsFor(policy: EncryptionConfig, self: string, nodes: PeerNode[]): Pin[] {
  const peers = policy.peers
    ? nodes.filter((n) => n.name !== self).sort((a, b) => a.name.localeCompare(b.name)).map((n): Pin => ({ kind: 'peer', node: n.name, url: peerTangUrl(n.address) }))
    : [];
  return [...peers, ...policy.tang.map((t): Pin => ({ kind: 'tang', ...t })), ...(policy.tpm2 ? [{ kind: 'tpm2' } as Pin] : [])];
}

/** A tang server's advertisement (a JWS), as `GET /adv` returns it. */
export type TangAdv = Record<string, unknown>;

export interface SssConfig {
  t: number;
  pins: { tang?: SssTang[]; tpm2?: { pcr_bank: string; pcr_ids: string } };
}
type SssTang = { url: string; adv: TangAdv } | { url: string; thp: string };

/**
 * The `clevis encrypt sss` / `clevis luks bind … sss` configuration. Every tang entry carries
 * what clevis checks the server's key against, so binding never asks "trust this key?": a
 * peer's advertisement as fetched through the authenticated agent channel (so the join key
 * vouches for it, not plain HTTP), an external server's configured thumbprint. A tang pin with
 * neither would fall back to trust-on-first-use, which needs a terminal: refused here.
 */
export function sssConfig(pins: Pin[], threshold: number, advs: ReadonlyMap<string, TangAdv>): SssConfig {
  if (threshold < 1 || threshold > pins.length) throw new Error(`threshold ${threshold} cannot be met by ${pins.length} pin(s)`);
  const tang = pins.flatMap((p): SssTang[] => {
    if (p.kind === 'tpm2') return [];
    const adv = advs.get(p.url);
    if (adv) return [{ url: p.url, adv }];
    if (p.kind === 'tang' && p.thp) return [{ url: p.url, thp: p.thp }];
    throw new Error(`no verified advertisement for ${p.kind === 'peer' ? `${p.node}'s tang` : 'tang'} at ${p.url}`);
  });
  return {
    t: threshold,
    pins: { ...(tang.length ? { tang } : {}), ...(pins.some((p) => p.kind === 'tpm2') ? { tpm2: { pcr_bank: TPM2_PCR_BANK, pcr_ids: TPM2_PCR_IDS } } : {}) },
  };
}

/** Shares a brick of a cluster of `nodeCount` nodes has under `policy`. */
export function shareCount(policy: EncryptionConfig, nodeCount: number): number {
  return (policy.peers ? nodeCount - 1 : 0) + policy.tang.length + (policy.tpm2 ? 1 : 0);
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function pinWords(policy: EncryptionConfig, nodeCount: number): string {
  return [
    policy.peers ? `the tang of ${plural(nodeCount - 1, 'other node')}` : '',
    policy.tang.length ? plural(policy.tang.length, 'external tang server') : '',
    policy.tpm2 ? "the node's own TPM2 (PCR 7)" : '',
  ].filter(Boolean).join(', ');
}

/** One sentence: what unlocks a brick, and what the policy protects against. */
export function describePolicy(policy: EncryptionConfig, nodeCount: number): string {
  const shares = shareCount(policy, nodeCount);
  const local = policy.tpm2 ? 1 : 0;
  const unlocks = `a brick unlocks when ${policy.threshold} of ${shares} answer: ${pinWords(policy, nodeCount)}`;
  if (policy.threshold <= local) return `${unlocks}; a box unlocks on its own, so this protects only a disk taken out of its box`;
  const needs = [
    policy.peers ? 'the other nodes' : '',
    policy.tang.length ? 'the tang server(s)' : '',
  ].filter(Boolean).join(' or ');
  return `${unlocks}; a box (or its disks) taken away alone stays locked, unless ${needs} are reachable from where it is`;
}

/** Weak spots of a policy, each a warning validate shows. */
export function policyWarnings(policy: EncryptionConfig, nodeCount: number): string[] {
  const out: string[] = [];
  const shares = shareCount(policy, nodeCount);
  const local = policy.tpm2 ? 1 : 0;
  if (policy.threshold <= local) {
    out.push(`threshold ${policy.threshold} is met by the node's own TPM2 alone: a stolen box boots and unlocks its bricks by itself; this only protects a disk pulled out of its box (raise threshold, e.g. to 2 with peers or tang)`);
  }
  if (policy.peers && nodeCount === 2 && policy.tang.length === 0) {
    out.push('with 2 nodes and peers only, each brick is unlocked by the one other node: both boxes taken together unlock each other, and a node rebooting while the other is off stays locked until it returns (add an external tang server, or a third node)');
  }
  if (policy.threshold === shares && shares > 1) {
    out.push(`threshold ${policy.threshold} needs every one of the ${shares} pins: with any one of them down or changed, a rebooting node keeps its bricks locked`);
  }
  for (const t of policy.tang) {
    if (!t.thp) out.push(`${t.url} has no thp: its key is trusted as first fetched over plain HTTP at bind time; pin it with { url, thp } (\`tang-show-keys\` on the server prints it)`);
  }
  return out;
}

/** How status and the unlock loop name a pin: its URL, or `tpm2`. */
export const pinId = (p: Pin) => (p.kind === 'tpm2' ? 'tpm2' : p.url);
export const pinName = (p: Pin) => (p.kind === 'peer' ? p.node : p.kind === 'tpm2' ? 'TPM2' : p.url);

/**
 * What status says about bricks waiting for their pins, e.g. "bricks locked: waiting for 1 of
 * node1, node3 tang"; `answering` holds the pinId of each pin that answered.
 */
export function lockedMessage(pins: Pin[], threshold: number, answering: ReadonlySet<string>): string {
  const up = pins.filter((p) => answering.has(pinId(p))).length;
  const down = pins.filter((p) => !answering.has(pinId(p)));
  const tangWord = down.every((p) => p.kind === 'peer') ? ' tang' : '';
  return `bricks locked: waiting for ${Math.max(threshold - up, 0)} of ${down.map(pinName).join(', ')}${tangWord}`;
}
