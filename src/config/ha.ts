// cluster.yaml's `ha:` section (fencing, quorum device, Open vSwitch bridges) and the per-node
// HA keys (ring1_address, bmc). Defaults: HA on, diskless SBD on /dev/watchdog. A 2-node
// cluster needs a quorum device; running without fencing needs a loudly named opt-out.
import { isScalar, type Node } from 'yaml';
import type { BridgeConfig, FencingConfig, HaConfig, NodeAddress } from '../../core/config-types.js';
import { checkHostname, checkHostOrAddress, parseIPv4 } from './formats.js';
import { join, type Entry, type Reader } from './yaml-reader.js';

export const HA_KEYS = {
  ha: ['enabled', 'fencing', 'watchdog', 'qdevice', 'bridges'],
  bridge: ['name', 'nic', 'parent', 'vlan'],
  bmc: ['address', 'user', 'password'],
} as const;

export const NO_FENCING = 'none-i-accept-vm-disk-corruption';
const FENCING = ['sbd', 'ipmi', NO_FENCING] as const;

const IFNAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,14}$/;

export interface HaNodeInput { config: { name: string; bmc?: unknown; arbiter?: boolean; network?: NodeAddress }; item: Node }

/** The node of the plan that `ha.qdevice` names (by name, name.domain or static address), if any. */
export function qdeviceNodeOf(host: string, nodes: HaNodeInput['config'][], domain?: string): string | undefined {
  const h = host.toLowerCase();
  return nodes.find((n) => h === n.name || (domain && h === `${n.name}.${domain}`) || (n.network && !n.network.dhcp && n.network.address === h))?.name;
}

export function readHa(r: Reader, node: Node | undefined, nodes: HaNodeInput[] | undefined, domain?: string): HaConfig | undefined {
  const dflt: HaConfig = { enabled: true, fencing: { kind: 'sbd', watchdog: '/dev/watchdog' }, bridges: [] };
  const count = nodes?.length ?? 0;
  if (!node) {
    if (count === 2) r.warn(0, 'ha', 'a 2-node cluster has no quorum when one node dies: add `ha: { qdevice: HOST }` (corosync-qnetd on a small third box)');
    return dflt;
  }
  const m = r.map(node, 'ha', HA_KEYS.ha);
  if (!m) return undefined;
  const before = r.errors.length;
  const enabledNode = m.get('enabled')?.value;
  const enabled = enabledNode ? r.boolean(enabledNode, 'ha.enabled') : true;
  const fencingNode = m.get('fencing')?.value;
  const kind = fencingNode ? r.oneOf(fencingNode, 'ha.fencing', [...FENCING]) : 'sbd';
  let fencing: FencingConfig | undefined;
  if (kind === 'sbd') {
    const wNode = m.get('watchdog')?.value;
    const watchdog = wNode ? r.string(wNode, 'ha.watchdog', 'a device path such as /dev/watchdog') : '/dev/watchdog';
    if (wNode && watchdog !== undefined && !/^\/dev\/watchdog\d*$/.test(watchdog)) r.error(wNode, 'ha.watchdog', `'${watchdog}' is not a watchdog device (allowed: /dev/watchdog or /dev/watchdogN)`);
    if (watchdog !== undefined) fencing = { kind: 'sbd', watchdog };
  } else if (kind === 'ipmi') {
    fencing = { kind: 'ipmi' }; // every cluster member needs a bmc: checked below, the quorum device node needs none
  } else if (kind === NO_FENCING) {
    fencing = { kind: 'none-unsafe' };
    r.warn(fencingNode!, 'ha.fencing', 'NO FENCING: a node that only looks dead (hung, cut off) may keep writing to a VM disk while another node restarts that VM — the disk gets corrupted. Use sbd (hardware watchdog) or ipmi.');
  }
  if (m.get('watchdog') && kind !== 'sbd') r.warn(m.get('watchdog')!.key, 'ha.watchdog', 'ignored: only used with fencing: sbd');

  // the quorum device may be a node of the plan (the arbiter): the agents then run corosync-qnetd
  // there and exchange its certificates; that node is no corosync member, so it is not counted
  let qdevice: { host: string; node?: string } | undefined;
  let members = count;
  const qNode = m.get('qdevice')?.value;
  if (qNode) {
    const host = r.string(qNode, 'ha.qdevice', 'the name of a node of this cluster (the arbiter), or the host name or IPv4 address of a corosync-qnetd box');
    const bad = host === undefined ? undefined : checkHostOrAddress(host);
    if (bad) r.error(qNode, 'ha.qdevice', bad);
    else if (host !== undefined) {
      const inPlan = qdeviceNodeOf(host, (nodes ?? []).map((n) => n.config), domain);
      qdevice = inPlan ? { host, node: inPlan } : { host };
      if (inPlan) {
        members = count - 1;
        const q = nodes!.find((n) => n.config.name === inPlan)!;
        if (members < 2) r.error(qNode, 'ha.qdevice', `with the quorum device on ${inPlan} only ${members} node${members === 1 ? ' is' : 's are'} left to run VMs: a cluster needs 2 or more nodes besides the quorum device`);
        else if (!q.config.arbiter) r.warn(qNode, 'ha.qdevice', `${inPlan} holds data bricks but, running the quorum device, it is no cluster member and runs no VMs: the arbiter node (arbiter: true) is the usual choice`);
      } else {
        r.warn(qNode, 'ha.qdevice', `'${host}' is not a node of this cluster: install corosync-qnetd there and exchange the certificates by hand (corosync-qdevice-net-certutil, see the README) before the nodes boot; naming a node of the cluster (the arbiter) lets the agents do both`);
      }
      if (members > 0 && members % 2 === 1) r.warn(qNode, 'ha.qdevice', `with ${members} cluster members (an odd count) a quorum device adds nothing; it is for 2 (or another even count of) members`);
    }
  } else if (count === 2 && enabled) {
    r.error(node, 'ha.qdevice', 'a 2-node cluster needs a quorum device to survive the loss of one node: set qdevice: HOST (a small third box running corosync-qnetd)');
  }
  if (kind === 'ipmi') {
    for (const n of nodes ?? []) if (!n.config.bmc && n.config.name !== qdevice?.node) r.error(n.item, `nodes.${n.config.name}`, 'fencing: ipmi needs a bmc: { address, user, password } on every node');
  }
  if (kind === 'sbd' && members > 0 && members < 3 && fencingNode) r.warn(fencingNode, 'ha.fencing', 'diskless SBD needs 3 or more votes: with 2 nodes it relies on the quorum device (ha.qdevice)');

  const bridges = readBridges(r, m.get('bridges'));
  if (r.errors.length !== before || enabled === undefined || !fencing || !bridges) return undefined;
  return { enabled, fencing, ...(qdevice ? { qdevice } : {}), bridges };
}

function readBridges(r: Reader, entry: Entry | undefined): BridgeConfig[] | undefined {
  if (!entry?.value) return [];
  const items = r.list(entry.value, 'ha.bridges', 'a list of bridges: { name, nic } or { name } or { name, parent, vlan }');
  if (!items) return undefined;
  const out: BridgeConfig[] = [];
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const path = join('ha.bridges', i);
    const m = r.map(item, path, HA_KEYS.bridge);
    if (!m) return;
    const nameNode = r.required(m, item, path, 'name', 'a bridge name such as br0');
    const name = nameNode && r.string(nameNode, join(path, 'name'), 'a bridge name');
    if (nameNode && name !== undefined) {
      if (!IFNAME.test(name)) r.error(nameNode, join(path, 'name'), `'${name}' is not a valid interface name (1–15 letters, digits, . _ -)`);
      else if (seen.has(name)) r.error(nameNode, join(path, 'name'), `duplicate bridge '${name}'`);
      seen.add(name ?? '');
    }
    const str = (k: string) => { const n = m.get(k)?.value; return n ? r.string(n, join(path, k), 'an interface name') : undefined; };
    const nic = str('nic');
    const parent = str('parent');
    const vlanNode = m.get('vlan')?.value;
    const vlan = vlanNode ? r.integer(vlanNode, join(path, 'vlan'), 1, 4094) : undefined;
    if (parent !== undefined && vlan === undefined) r.error(item, path, 'a VLAN fake bridge needs both parent and vlan');
    if (vlanNode && parent === undefined) r.error(vlanNode, join(path, 'vlan'), 'vlan needs parent: (the bridge carrying the VLAN)');
    if (nic !== undefined && parent !== undefined) r.error(item, path, 'a bridge is either on a NIC (nic:) or a VLAN of another bridge (parent:), not both');
    if (name !== undefined) out.push({ name, ...(nic ? { nic } : {}), ...(parent ? { parent } : {}), ...(vlan !== undefined ? { vlan } : {}) });
  });
  for (const b of out) {
    if (b.parent && !out.some((o) => o.name === b.parent && !o.parent)) r.error(entry.value, 'ha.bridges', `bridge '${b.name}': parent '${b.parent}' is not a (non-VLAN) bridge of this list`);
  }
  return out;
}

export function readNodeHa(r: Reader, m: Map<string, Entry>, path: string): { ring1Address?: string; bmc?: { address: string; user: string; password: string } } {
  const out: { ring1Address?: string; bmc?: { address: string; user: string; password: string } } = {};
  const ringNode = m.get('ring1_address')?.value;
  if (ringNode) {
    const v = r.string(ringNode, join(path, 'ring1_address'), 'an IPv4 address on the second network');
    if (v !== undefined && parseIPv4(v) === undefined) r.error(ringNode, join(path, 'ring1_address'), `'${v}' is not an IPv4 address (allowed: a.b.c.d)`);
    else if (v !== undefined) out.ring1Address = v;
  }
  const bmcNode = m.get('bmc')?.value;
  if (bmcNode) {
    const b = r.map(bmcNode, join(path, 'bmc'), HA_KEYS.bmc);
    if (b) {
      const a = r.required(b, bmcNode, join(path, 'bmc'), 'address', "the BMC's IPv4 address or host name");
      const u = r.required(b, bmcNode, join(path, 'bmc'), 'user', 'the BMC user fence_ipmilan logs in as');
      const address = a && r.string(a, join(path, 'bmc.address'), 'an IPv4 address or host name');
      const user = u && r.string(u, join(path, 'bmc.user'), 'a user name');
      // a secret like `secret:`: sealed with the join key in the plan, 0600 on the nodes, never logged
      const pw = r.required(b, bmcNode, join(path, 'bmc'), 'password', 'the BMC password (kept secret: sealed in the images, 0600 on the nodes)');
      const password = pw && r.string(pw, join(path, 'bmc.password'), 'the BMC password');
      if (pw && password === '') r.error(pw, join(path, 'bmc.password'), 'empty password');
      const bad = address === undefined ? undefined : checkHostOrAddress(address);
      if (bad) r.error(a!, join(path, 'bmc.address'), bad);
      else if (address !== undefined && user !== undefined && password) out.bmc = { address, user, password };
    }
  }
  return out;
}

export function checkRing1(r: Reader, nodes: { config: { name: string; ring1Address?: string }; item: Node }[]): void {
  const with1 = nodes.filter((n) => n.config.ring1Address);
  if (with1.length && with1.length !== nodes.length) {
    for (const n of nodes.filter((x) => !x.config.ring1Address)) r.error(n.item, `nodes.${n.config.name}`, 'ring1_address is set on some nodes but not this one: the second corosync ring needs it on every node');
  }
  void isScalar; void checkHostname;
}
