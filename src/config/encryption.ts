// cluster.yaml's `encryption:` section: which clevis pins unlock the brick disks (the other
// nodes' tang, external tang servers, the node's TPM2) and how many must answer. What a policy
// protects against and its weak spots come from core/encryption-policy.ts.
import { isMap, isScalar, type Node } from 'yaml';
import type { NodeAddress } from '../../core/config-types.js';
import { policyWarnings, shareCount, type EncryptionConfig, type TangServer } from '../../core/encryption-policy.js';
import { checkUrl } from './formats.js';
import { join, type Reader } from './yaml-reader.js';

export const ENCRYPTION_KEYS = {
  encryption: ['peers', 'tang', 'tpm2', 'threshold'],
  tangServer: ['url', 'thp'],
} as const;

/** A tang thumbprint: base64url of a SHA-1 (27 chars) or SHA-256..512 (43..86 chars) JWK thumbprint. */
const THP = /^[A-Za-z0-9_-]{27,86}$/;

export interface EncryptionNodeInput { name: string; network: NodeAddress; arbiter?: boolean }

export function readEncryption(r: Reader, node: Node | undefined, nodes: EncryptionNodeInput[] | undefined): EncryptionConfig | undefined | null {
  if (!node) return null;
  const m = r.map(node, 'encryption', ENCRYPTION_KEYS.encryption);
  if (!m) return undefined;
  const before = r.errors.length;
  const bool = (key: string) => { const n = m.get(key)?.value; return n ? r.boolean(n, `encryption.${key}`) : false; };
  const peers = bool('peers');
  const tpm2 = bool('tpm2');
  const tangNode = m.get('tang')?.value;
  const tang = tangNode ? readTangServers(r, tangNode, nodes) : [];
  const thresholdNode = m.get('threshold')?.value;
  const threshold = thresholdNode ? r.integer(thresholdNode, 'encryption.threshold', 1, 99, 'how many pins must answer, at least 1') : 1;
  if (r.errors.length !== before || peers === undefined || tpm2 === undefined || !tang || threshold === undefined || !nodes) return undefined;

  if (!peers && !tpm2 && tang.length === 0) {
    return r.error(node, 'encryption', 'has no pin: nothing could unlock the bricks (allowed: peers: true, tang: [ { url, thp } ], tpm2: true; combinable)');
  }
  if (peers) {
    const dhcp = nodes.filter((n) => n.network.dhcp).map((n) => n.name);
    // a tang URL is written into every LUKS header at bind time: it must not move
    if (dhcp.length) return r.error(m.get('peers')!.value, 'encryption.peers', `needs a static address on every node (each brick's LUKS header names the other nodes' tang by address); ${dhcp.join(', ')} use dhcp`);
  }
  const policy: EncryptionConfig = { peers, tang, tpm2, threshold };
  const shares = shareCount(policy, nodes.length);
  if (threshold > shares) return r.error(thresholdNode, 'encryption.threshold', `${threshold} can never be met: a brick has ${shares} pin${shares === 1 ? '' : 's'} (allowed: 1 to ${shares})`);
  for (const w of policyWarnings(policy, nodes.length)) r.warn(node, 'encryption', w);
  const arbiters = nodes.filter((n) => n.arbiter).map((n) => n.name);
  // an arbiter's bricks are directories on its OS disk, which is not encrypted
  if (arbiters.length) r.warn(node, 'encryption', `the arbiter ${arbiters.join(', ')} keeps its bricks on its OS disk, in clear: file and directory names and attributes (no file contents) are readable on a stolen arbiter`);
  return policy;
}

function readTangServers(r: Reader, node: Node, nodes: EncryptionNodeInput[] | undefined): TangServer[] | undefined {
  const items = r.list(node, 'encryption.tang', 'a list of tang servers, each "http://host:port" or { url, thp }');
  if (!items) return undefined;
  const seen = new Map<string, Node>();
  const out: TangServer[] = [];
  let ok = true;
  items.forEach((item, i) => {
    const path = join('encryption.tang', i);
    let urlNode: Node | undefined = item;
    let thp: string | undefined;
    if (isMap(item)) {
      const m = r.map(item, path, ENCRYPTION_KEYS.tangServer);
      if (!m) { ok = false; return; }
      urlNode = r.required(m, item, path, 'url', 'http://host:port of the tang server');
      const thpNode = m.get('thp')?.value;
      if (thpNode) {
        const v = r.string(thpNode, join(path, 'thp'), 'the thumbprint `tang-show-keys` prints on the server');
        if (v === undefined) ok = false;
        else if (!THP.test(v)) { ok = false; r.error(thpNode, join(path, 'thp'), `'${v}' is not a tang thumbprint (allowed: the base64url text \`tang-show-keys\` prints on the server)`); } else thp = v;
      }
    } else if (!isScalar(item)) { ok = false; r.error(item, path, 'must be a URL or { url, thp }'); return; }
    if (!urlNode) { ok = false; return; }
    const urlPath = isMap(item) ? join(path, 'url') : path;
    const url = r.string(urlNode, urlPath, 'http://host:port');
    const bad = url === undefined ? 'x' : checkUrl(url, 'tang server URL');
    if (url === undefined) { ok = false; return; }
    if (bad) { ok = false; r.error(urlNode, urlPath, bad); return; }
    const host = new URL(url).hostname;
    const own = nodes?.find((n) => n.name === host || (!n.network.dhcp && n.network.address === host));
    if (own) { ok = false; r.error(urlNode, urlPath, `${host} is node ${own.name} of this cluster: its tang is a peer pin (set peers: true), and a box must never hold its own key`); return; }
    const clean = url.replace(/\/+$/, '');
    const first = seen.get(clean);
    if (first) { ok = false; r.error(urlNode, urlPath, `duplicate tang server (first at line ${r.line(first)}); one server is one share`); return; }
    seen.set(clean, urlNode);
    out.push({ url: clean, ...(thp ? { thp } : {}) });
  });
  return ok ? out : undefined;
}
