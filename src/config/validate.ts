// cluster.yaml → ClusterConfig: every problem is reported (with line and column), every
// default is applied. The JSON Schema in schema.ts describes the same keys (a test keeps them
// in step via CONFIG_KEYS).
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import type {
  BrickLayout, ClusterConfig, DiskMatch, DiskSelector, NodeAddress, NodeConfig, Release, UserConfig, VolumeConfig, VolumeName,
} from '../../core/config-types.js';
import { RELEASES } from '../../core/config-types.js';
import {
  checkDomain, checkHostOrAddress, checkHostname, checkKeyboard, checkLocale, checkMac, checkPasswordHash, checkProxyUrl,
  checkSecret, checkSshKey, checkTimezone, checkUnixName, checkUrl, formatIPv4, normalizeMac, parseIPv4, subnetOf,
} from './formats.js';
import { SIZE_SYNTAX, parseSizeExpression } from './size.js';
import { Reader, join, type ConfigIssue, type Entry, type Where } from './yaml-reader.js';
import { checkRing1, HA_KEYS, readHa, readNodeHa } from './ha.js';
import { ENCRYPTION_KEYS, readEncryption } from './encryption.js';
import { BACKUP_KEYS, readBackup } from './backup.js';

export { formatIssue, type ConfigIssue } from './yaml-reader.js';

/** Every key cluster.yaml accepts, by place. schema.ts must list exactly these. */
export const CONFIG_KEYS = {
  top: ['name', 'domain', 'release', 'replica', 'secret', 'timezone', 'locale', 'keyboard', 'ntp', 'mirror', 'root', 'users', 'encryption', 'network', 'disks', 'volumes', 'nodes', 'ha', 'backup'],
  mirror: ['url', 'proxy', 'security_url'],
  root: ['password_hash'],
  user: ['name', 'full_name', 'password_hash', 'ssh_keys', 'groups'],
  ...ENCRYPTION_KEYS,
  network: ['prefix', 'gateway', 'dns'],
  disks: ['os', 'gv0', 'gv1', 'bmv0'],
  volumes: ['gv0', 'gv1', 'bmv0'],
  volume: ['enabled', 'bricks_per_node', 'brick_layout'],
  node: ['name', 'address', 'prefix', 'gateway', 'dns', 'mac', 'arbiter', 'disks', 'ring1_address', 'bmc'],
  ...HA_KEYS,
  ...BACKUP_KEYS,
  selector: ['id', 'match', 'wipe'],
  match: ['size', 'model', 'serial', 'type'],
} as const;

export const DEFAULTS = {
  release: 'trixie' as Release,
  replica: 3 as const,
  timezone: 'UTC',
  locale: 'en_US.UTF-8',
  keyboard: 'us',
  ntp: ['0.debian.pool.ntp.org', '1.debian.pool.ntp.org'],
  mirror: { url: 'http://deb.debian.org/debian', securityUrl: 'http://deb.debian.org/debian-security' },
  groups: ['sudo', 'libvirt', 'libvirt-qemu'],
  prefix: 24,
  volumes: <Record<VolumeName, VolumeConfig>>{
    gv0: { enabled: true, bricksPerNode: 1, brickLayout: 'lvm-thin' },
    gv1: { enabled: false, bricksPerNode: 2, brickLayout: 'lvm-thin' },
    bmv0: { enabled: false, bricksPerNode: 1, brickLayout: 'lvm-thin' },
  },
};

export const MIN_NODES = 2;
export const MAX_NODES = 9;
const VOLUMES: VolumeName[] = ['gv0', 'gv1', 'bmv0'];
const BRICK_LAYOUTS: BrickLayout[] = ['lvm-thin', 'xfs'];

const under = (place: string) => `it belongs under ${place}`;
const TOP_ELSEWHERE: Record<string, string> = {
  prefix: under('network:'), gateway: under('network:'), dns: under('network:'), os: under('disks:'), url: under('mirror:'),
  proxy: under('mirror:'), security_url: under('mirror:'), password_hash: under('users: (or root:)'), ssh_keys: under('users:'),
  full_name: under('users:'), groups: under('users:'), address: under('nodes:'), mac: under('nodes:'), arbiter: under('nodes:'),
  bricks_per_node: under('volumes:'), brick_layout: under('volumes:'), hostname: under('nodes: (as name)'),
  size: under('disks: (in a match)'), model: under('disks: (in a match)'),
  tang: 'brick encryption is configured under encryption: (tang servers as encryption.tang: [ { url, thp } ], with peers, tpm2 and threshold)',
  peers: under('encryption:'), tpm2: under('encryption:'), threshold: under('encryption:'),
};
const meant = (key: string) => `did you mean '${key}'?`;
const NODE_ELSEWHERE: Record<string, string> = {
  ip: meant('address'), ipv4: meant('address'), ip_address: meant('address'), hostname: meant('name'), mac_address: meant('mac'),
  hwaddr: meant('mac'), os: under('disks:'), gv0: under('disks:'), gv1: under('disks:'), bmv0: under('disks:'),
  netmask: `${meant('prefix')} (a prefix length such as 24)`,
};
const SELECTOR_ELSEWHERE: Record<string, string> = { size: under('match:'), model: under('match:'), serial: under('match:'), type: under('match:') };

/** Accounts Debian or the packages we install create: a user by that name would collide. */
const SYSTEM_ACCOUNTS = new Set([
  'root', 'daemon', 'bin', 'sys', 'sync', 'games', 'man', 'lp', 'mail', 'news', 'uucp', 'proxy', 'www-data', 'backup',
  'list', 'irc', 'gnats', 'nobody', 'systemd-network', 'systemd-resolve', 'systemd-timesync', 'messagebus', 'sshd', 'avahi',
  'libvirt-qemu', 'libvirt-dnsmasq', 'gluster', '_chrony', 'hacluster', 'prometheus', 'tss', 'polkitd', 'tcpdump', 'dnsmasq',
]);

const DEVICE_NAME = /^\/dev\/(sd[a-z]+|hd[a-z]+|vd[a-z]+|xvd[a-z]+|nvme\d+n\d+|mmcblk\d+|md\d+|dm-\d+)(p?\d+)?$/;
const DEVICE_NAME_MESSAGE = 'is a kernel device name, which can change between boots (and between the installer and the installed system); '
  + 'select the disk by { id: /dev/disk/by-id/… } (see `ls -l /dev/disk/by-id`) or by { match: { size: …, model: …, serial: …, type: ssd|hdd } }';
const SELECTOR_ALLOWED = '{ id: /dev/disk/by-id/… } or { match: { size, model, serial, type } }, optionally with wipe: true|false';

export interface ValidationResult {
  config?: ClusterConfig;
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
}

interface Located<T> { value: T; node: Node }
type Role = 'os' | VolumeName;
/** Selectors per role as given; `broken` roles had errors (already reported). */
type RoleDisks = { os?: Located<DiskSelector>; gv0?: Located<DiskSelector[]>; gv1?: Located<DiskSelector[]>; bmv0?: Located<DiskSelector[]>; broken: Set<Role> };
const ALL_ROLES: Role[] = ['os', 'gv0', 'gv1', 'bmv0'];

interface NetworkDefaults { prefix?: number; gateway?: string; dns?: string[] }

function byPosition(a: ConfigIssue, b: ConfigIssue): number {
  return a.line - b.line || a.column - b.column;
}

export function validateConfigText(text: string, file: string): ValidationResult {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, keepSourceTokens: true, uniqueKeys: false, prettyErrors: false, merge: false });
  const r = new Reader(file, lc, doc);
  if (doc.errors.length) {
    for (const e of doc.errors) {
      const message = e.code === 'MULTIPLE_DOCS'
        ? 'more than one YAML document (a second `---`): the whole cluster goes in one document'
        : `YAML syntax error: ${e.message.replace(/ at line \d+, column \d+[\s\S]*$/, '')}`;
      r.error(e.pos[0], '', message);
    }
    return { errors: r.errors.sort(byPosition), warnings: [] };
  }
  const root = r.deref(doc.contents);
  if (!root) {
    r.error(0, '', 'the file is empty; start from `personal-cloud init`, which writes a commented example');
    return { errors: r.errors, warnings: [] };
  }
  if (!isMap(root)) {
    r.error(root, '', 'the top level must be a mapping (name:, domain:, users:, nodes:, …); start from `personal-cloud init`');
    return { errors: r.errors, warnings: [] };
  }
  const config = readCluster(r, root);
  r.errors.sort(byPosition);
  r.warnings.sort(byPosition);
  return r.errors.length ? { errors: r.errors, warnings: r.warnings } : { config, errors: [], warnings: r.warnings };
}

function readCluster(r: Reader, root: Node): ClusterConfig | undefined {
  const top = r.map(root, '', CONFIG_KEYS.top, TOP_ELSEWHERE);
  if (!top) return undefined;
  const opt = (key: string) => top.get(key)?.value;
  const withCheck = (key: string, check: (v: string) => string | undefined, allowed: string): string | undefined => {
    const node = opt(key);
    if (!node) return undefined;
    const v = r.string(node, key, allowed);
    if (v === undefined) return undefined;
    const bad = check(v);
    return bad ? r.error(node, key, bad) : v;
  };

  const nameNode = r.required(top, root, '', 'name', 'the cluster name, a hostname-like word such as homelab');
  const name = nameNode && r.string(nameNode, 'name', 'a hostname-like word');
  if (nameNode && name !== undefined) { const bad = checkHostname(name); if (bad) r.error(nameNode, 'name', bad); }

  const domainNode = r.required(top, root, '', 'domain', 'the DNS domain of the nodes, e.g. lab.example.org');
  const domain = domainNode && r.string(domainNode, 'domain', 'a DNS domain');
  if (domainNode && domain !== undefined) {
    const bad = checkDomain(domain);
    if (bad) r.error(domainNode, 'domain', bad);
    else if (domain === 'local' || domain.endsWith('.local')) r.warn(domainNode, 'domain', `'.local' is reserved for mDNS (avahi); a domain such as home.arpa avoids name clashes`);
  }

  const release = opt('release') ? r.oneOf(opt('release')!, 'release', Object.keys(RELEASES) as Release[]) : DEFAULTS.release;
  const replicaNode = opt('replica');
  const replica = replicaNode ? r.integer(replicaNode, 'replica', 2, 3, '3, or 2 with an arbiter node') as 2 | 3 | undefined : DEFAULTS.replica;

  const secretNode = r.required(top, root, '', 'secret', 'the cluster join token; `personal-cloud init` generates one');
  const secret = secretNode && r.string(secretNode, 'secret', 'a random token such as `personal-cloud init` generates', true);
  if (secretNode && secret !== undefined) {
    const bad = checkSecret(secret);
    if (bad) r.error(secretNode, 'secret', bad);
    else if (/example|do-not-use|changeme/i.test(secret)) r.warn(secretNode, 'secret', 'this is an example secret; generate your own with `personal-cloud init` before building media');
  }

  const timezone = withCheck('timezone', checkTimezone, 'UTC or Area/City') ?? DEFAULTS.timezone;
  const locale = withCheck('locale', checkLocale, 'a locale such as en_US.UTF-8') ?? DEFAULTS.locale;
  const keyboard = withCheck('keyboard', checkKeyboard, 'a keyboard layout such as us') ?? DEFAULTS.keyboard;
  let ntp = DEFAULTS.ntp;
  if (opt('ntp')) {
    const servers = r.stringList(opt('ntp')!, 'ntp', 'a list of NTP server names or IPv4 addresses', checkHostOrAddress);
    if (servers && servers.length === 0) r.error(opt('ntp')!, 'ntp', 'is empty (allowed: at least one NTP server; leave ntp out for the Debian pool)');
    if (servers) ntp = servers;
  }

  const mirror = readMirror(r, opt('mirror'));
  const rootAccount = readRoot(r, opt('root'));
  const users = readUsers(r, top.get('users'), root);

  const network = opt('network') ? readNetwork(r, opt('network')!, 'network', CONFIG_KEYS.network) : {};
  const defaultDisks = opt('disks') ? readDisks(r, opt('disks')!, 'disks') : { broken: new Set<Role>() };
  const volumes = readVolumes(r, opt('volumes'));
  const nodes = readNodes(r, top.get('nodes'), root, { network: network ?? {}, disks: defaultDisks ?? { broken: new Set(ALL_ROLES) }, volumes, replica, domain });

  if (replica && nodes && volumes) checkTopology(r, replica, replicaNode, top.get('nodes')!, nodes, volumes);
  if (volumes && !volumes.gv0.enabled && !volumes.gv1.enabled) {
    r.warn(opt('volumes')!, 'volumes', 'neither gv0 nor gv1 is enabled: there is no replicated storage, so VMs cannot fail over');
  }

  const ha = readHa(r, opt('ha'), nodes?.map((n) => ({ config: n.config, item: n.item })), domain);
  const encryption = readEncryption(r, opt('encryption'), nodes?.map((n) => ({ name: n.config.name, network: n.config.network, arbiter: n.config.arbiter })));
  if (nodes) checkRing1(r, nodes.map((n) => ({ config: n.config, item: n.item })));
  const backup = readBackup(r, opt('backup'), volumes);
  if (backup && ha && !ha.enabled) r.error(opt('backup')!, 'backup', 'backs up the VMs of the HA stack, which is disabled (ha.enabled: false)');

  if (r.errors.length) return undefined;
  return {
    name: name!, domain: domain!, release: release!, replica: replica!, secret: secret!,
    locale, keyboard, timezone, ntp,
    mirror: mirror!, root: rootAccount!, users: users!,
    ...(encryption ? { encryption } : {}),
    volumes: volumes!,
    nodes: nodes!.map((n) => n.config),
    ha: ha!,
    ...(backup ? { backup } : {}),
  };
}

function readMirror(r: Reader, node: Node | undefined): ClusterConfig['mirror'] | undefined {
  if (!node) return { ...DEFAULTS.mirror };
  const m = r.map(node, 'mirror', CONFIG_KEYS.mirror);
  if (!m) return undefined;
  const url = (key: string, check: (v: string) => string | undefined) => {
    const n = m.get(key)?.value;
    if (!n) return undefined;
    const v = r.string(n, `mirror.${key}`, 'http://… or https://…');
    const bad = v === undefined ? undefined : check(v);
    return bad ? r.error(n, `mirror.${key}`, bad) : v;
  };
  const proxy = url('proxy', checkProxyUrl);
  return {
    url: (url('url', (v) => checkUrl(v, 'Debian mirror URL')) ?? DEFAULTS.mirror.url).replace(/\/+$/, ''),
    ...(proxy ? { proxy } : {}),
    securityUrl: (url('security_url', (v) => checkUrl(v, 'Debian security mirror URL')) ?? DEFAULTS.mirror.securityUrl).replace(/\/+$/, ''),
  };
}

function readPasswordHash(r: Reader, node: Node, path: string): string | undefined {
  const v = r.string(node, path, 'a crypt(3) hash such as $6$…', true);
  if (v === undefined) return undefined;
  const bad = checkPasswordHash(v);
  return bad ? r.error(node, path, bad) : v;
}

function readRoot(r: Reader, node: Node | undefined): ClusterConfig['root'] | undefined {
  if (!node) return {};
  const m = r.map(node, 'root', CONFIG_KEYS.root);
  if (!m) return undefined;
  const h = m.get('password_hash')?.value;
  if (!h) return {};
  const passwordHash = readPasswordHash(r, h, 'root.password_hash');
  return passwordHash === undefined ? undefined : { passwordHash };
}

function readUsers(r: Reader, entry: Entry | undefined, root: Node): UserConfig[] | undefined {
  const allowed = 'a list of users, each with name, password_hash and ssh_keys';
  if (!entry?.value) return r.error(entry?.key ?? root, 'users', `missing (required: ${allowed}; at least one, e.g. admin)`);
  const items = r.list(entry.value, 'users', allowed);
  if (!items) return undefined;
  if (items.length === 0) return r.error(entry.value, 'users', `is empty (required: ${allowed}; at least one, e.g. admin)`);
  const seen = new Map<string, Node>();
  const users: UserConfig[] = [];
  let ok = true;
  items.forEach((item, i) => {
    const path = join('users', i);
    const m = r.map(item, path, CONFIG_KEYS.user);
    if (!m) { ok = false; return; }
    const before = r.errors.length;
    const nameNode = r.required(m, item, path, 'name', 'a unix user name such as admin');
    const name = nameNode && r.string(nameNode, join(path, 'name'), 'a unix user name');
    if (nameNode && name !== undefined) {
      const bad = checkUnixName(name, 'user');
      if (bad) r.error(nameNode, join(path, 'name'), bad);
      else if (name === 'root') r.error(nameNode, join(path, 'name'), "root is configured under the top-level `root:` key (root.password_hash), not as a user");
      else if (SYSTEM_ACCOUNTS.has(name)) r.error(nameNode, join(path, 'name'), `'${name}' is a system account on Debian; choose another name (e.g. admin)`);
      else if (seen.has(name)) r.error(nameNode, join(path, 'name'), `duplicate user '${name}' (first at line ${r.line(seen.get(name))})`);
      else seen.set(name, nameNode);
    }
    const fullNameNode = m.get('full_name')?.value;
    const fullName = fullNameNode ? r.string(fullNameNode, join(path, 'full_name'), 'text') : name;
    if (fullName !== undefined && /[:\n]/.test(fullName)) r.error(fullNameNode!, join(path, 'full_name'), "must not contain ':' or line breaks (it goes into /etc/passwd)");
    const hashNode = r.required(m, item, path, 'password_hash', 'a crypt(3) hash; make one with `mkpasswd -m sha-512` or `openssl passwd -6`');
    const passwordHash = hashNode && readPasswordHash(r, hashNode, join(path, 'password_hash'));
    let sshKeys: string[] | undefined = [];
    const keysNode = m.get('ssh_keys')?.value;
    if (keysNode) sshKeys = r.stringList(keysNode, join(path, 'ssh_keys'), 'a list of OpenSSH public keys', checkSshKey);
    let groups: string[] | undefined = DEFAULTS.groups;
    const groupsNode = m.get('groups')?.value;
    if (groupsNode) groups = r.stringList(groupsNode, join(path, 'groups'), 'a list of group names', (g) => checkUnixName(g, 'group'));
    if (r.errors.length !== before) { ok = false; return; }
    users.push({ name: name!, fullName: fullName!, passwordHash: passwordHash!, sshKeys: sshKeys!.map((k) => k.trim()), groups: groups! });
  });
  if (ok && users.every((u) => u.sshKeys.length === 0)) {
    r.warn(entry.key, 'users', 'no user has ssh_keys: the nodes can then only be reached at their console');
  }
  return ok ? users : undefined;
}

function readNetwork(r: Reader, node: Node, path: string, allowed: readonly string[], entries?: Map<string, Entry>): NetworkDefaults | undefined {
  const m = entries ?? r.map(node, path, allowed);
  if (!m) return undefined;
  const out: NetworkDefaults = {};
  let ok = true;
  const prefixNode = m.get('prefix')?.value;
  if (prefixNode) {
    const p = isScalar(prefixNode) && typeof prefixNode.value === 'string' && parseIPv4(prefixNode.value) !== undefined
      ? r.error(prefixNode, join(path, 'prefix'), `'${prefixNode.value}' is a netmask; give the prefix length instead (e.g. 24 for 255.255.255.0) (allowed: 8–30)`)
      : r.integer(prefixNode, join(path, 'prefix'), 8, 30, 'a prefix length from 8 to 30, e.g. 24');
    if (p === undefined) ok = false; else out.prefix = p;
  }
  const gwNode = m.get('gateway')?.value;
  if (gwNode) {
    const gw = r.string(gwNode, join(path, 'gateway'), 'an IPv4 address');
    if (gw === undefined) ok = false;
    else if (parseIPv4(gw) === undefined) { ok = false; r.error(gwNode, join(path, 'gateway'), `'${gw}' is not an IPv4 address (allowed: a.b.c.d)`); } else out.gateway = gw;
  }
  const dnsNode = m.get('dns')?.value;
  if (dnsNode) {
    const dns = r.stringList(dnsNode, join(path, 'dns'), 'a list of IPv4 addresses', (v) => (parseIPv4(v) === undefined ? `'${v}' is not an IPv4 address (allowed: a.b.c.d)` : undefined));
    if (dns === undefined) ok = false; else out.dns = dns;
  }
  return ok ? out : undefined;
}

function readSelector(r: Reader, node: Node, path: string): DiskSelector | undefined {
  if (isScalar(node) && typeof node.value === 'string') {
    const v = node.value;
    if (DEVICE_NAME.test(v)) return r.error(node, path, `'${v}' ${DEVICE_NAME_MESSAGE}`);
    if (v.startsWith('/dev/disk/')) return r.error(node, path, `write the selector as { id: "${v}" } (allowed: ${SELECTOR_ALLOWED})`);
    return r.error(node, path, `must be a disk selector, got text '${v}' (allowed: ${SELECTOR_ALLOWED})`);
  }
  const m = r.map(node, path, CONFIG_KEYS.selector, SELECTOR_ELSEWHERE);
  if (!m) return undefined;
  const idNode = m.get('id')?.value;
  const matchNode = m.get('match')?.value;
  const wipeNode = m.get('wipe')?.value;
  const wipe = wipeNode ? r.boolean(wipeNode, join(path, 'wipe')) : false;
  if (idNode && matchNode) return r.error(m.get('match')!.key, path, `has both id and match; give one (allowed: ${SELECTOR_ALLOWED})`);
  if (!idNode && !matchNode) return r.error(node, path, `needs id or match (allowed: ${SELECTOR_ALLOWED})`);
  if (idNode) {
    const id = r.string(idNode, join(path, 'id'), '/dev/disk/by-id/…');
    if (id === undefined) return undefined;
    if (DEVICE_NAME.test(id)) return r.error(idNode, join(path, 'id'), `'${id}' ${DEVICE_NAME_MESSAGE}`);
    if (!/^\/dev\/disk\/by-(id|path)\/[^/\s]+$/.test(id)) return r.error(idNode, join(path, 'id'), `'${id}' is not a stable disk name (allowed: /dev/disk/by-id/… or /dev/disk/by-path/…; see \`ls -l /dev/disk/by-id\`)`);
    if (/-part\d+$/.test(id)) return r.error(idNode, join(path, 'id'), `'${id}' is a partition; select the whole disk (drop the -partN suffix)`);
    return wipe === undefined ? undefined : { id, wipe };
  }
  const mm = r.map(matchNode!, join(path, 'match'), CONFIG_KEYS.match);
  if (!mm) return undefined;
  if (mm.size === 0) return r.error(matchNode, join(path, 'match'), 'is empty and would match any disk (allowed: size, model, serial, type)');
  const match: DiskMatch = {};
  let ok = true;
  const sizeNode = mm.get('size')?.value;
  if (sizeNode) {
    const expr = r.string(sizeNode, join(path, 'match.size'), SIZE_SYNTAX);
    const parsed = expr === undefined ? undefined : parseSizeExpression(expr);
    if (typeof parsed === 'string') { ok = false; r.error(sizeNode, join(path, 'match.size'), `${parsed} (allowed: ${SIZE_SYNTAX})`); } else if (!parsed) ok = false;
    else Object.assign(match, parsed);
  }
  for (const key of ['model', 'serial'] as const) {
    const n = mm.get(key)?.value;
    if (!n) continue;
    const v = r.string(n, join(path, `match.${key}`), 'a shell-style glob such as "Samsung*"');
    if (v === undefined) ok = false;
    else if (v.trim() === '') { ok = false; r.error(n, join(path, `match.${key}`), 'is empty (allowed: a shell-style glob such as "Samsung*")'); } else match[key] = v;
  }
  const typeNode = mm.get('type')?.value;
  if (typeNode) {
    const t = r.oneOf(typeNode, join(path, 'match.type'), ['ssd', 'hdd'] as const);
    if (t === undefined) ok = false; else match.type = t;
  }
  return ok && wipe !== undefined ? { match, wipe } : undefined;
}

function readDisks(r: Reader, node: Node, path: string): RoleDisks | undefined {
  const m = r.map(node, path, CONFIG_KEYS.disks);
  if (!m) return undefined;
  const out: RoleDisks = { broken: new Set() };
  const osNode = m.get('os')?.value;
  if (osNode) {
    const s = isSeq(osNode)
      ? r.error(osNode, join(path, 'os'), `must be one selector, not a list (allowed: ${SELECTOR_ALLOWED})`)
      : readSelector(r, osNode, join(path, 'os'));
    if (s) out.os = { value: s, node: osNode }; else out.broken.add('os');
  }
  for (const role of VOLUMES) {
    const n = m.get(role)?.value;
    if (!n) continue;
    const rolePath = join(path, role);
    if (!isSeq(n)) {
      out.broken.add(role);
      if (isMap(n)) r.error(n, rolePath, `must be a list of selectors; write [ { … } ] even for one disk (allowed: a list of ${SELECTOR_ALLOWED})`);
      else if (readSelector(r, n, rolePath)) r.error(n, rolePath, 'must be a list of selectors');
      continue;
    }
    const items = r.list(n, rolePath, 'a list of disk selectors')!;
    const sels = items.map((item, i) => readSelector(r, item, join(rolePath, i)));
    if (sels.every((s): s is DiskSelector => s !== undefined)) out[role] = { value: sels, node: n }; else out.broken.add(role);
  }
  return out;
}

function readVolumes(r: Reader, node: Node | undefined): Record<VolumeName, VolumeConfig> | undefined {
  const out: Record<VolumeName, VolumeConfig> = structuredClone(DEFAULTS.volumes);
  if (!node) return out;
  const m = r.map(node, 'volumes', CONFIG_KEYS.volumes);
  if (!m) return undefined;
  let ok = true;
  for (const name of VOLUMES) {
    const v = m.get(name)?.value;
    if (!v) continue;
    const path = join('volumes', name);
    if (isScalar(v) && typeof v.value === 'boolean') {
      ok = false;
      r.error(v, path, `must be a mapping; write { enabled: ${v.value} } (allowed keys: ${CONFIG_KEYS.volume.join(', ')})`);
      continue;
    }
    const vm = r.map(v, path, CONFIG_KEYS.volume);
    if (!vm) { ok = false; continue; }
    const enabled = vm.get('enabled')?.value;
    const bpn = vm.get('bricks_per_node')?.value;
    const layout = vm.get('brick_layout')?.value;
    const e = enabled ? r.boolean(enabled, join(path, 'enabled')) : out[name].enabled;
    const b = bpn ? r.integer(bpn, join(path, 'bricks_per_node'), 1, 8) : out[name].bricksPerNode;
    const l = layout ? r.oneOf(layout, join(path, 'brick_layout'), BRICK_LAYOUTS) : out[name].brickLayout;
    if (e === undefined || b === undefined || l === undefined) { ok = false; continue; }
    out[name] = { enabled: e, bricksPerNode: b, brickLayout: l };
  }
  return ok ? out : undefined;
}

interface NodeContext {
  network: NetworkDefaults;
  disks: RoleDisks;
  volumes?: Record<VolumeName, VolumeConfig>;
  replica?: 2 | 3;
  domain?: string;
}

interface ReadNode {
  config: NodeConfig;
  item: Node;
  arbiterNode?: Node;
}

function readNodes(r: Reader, entry: Entry | undefined, root: Node, ctx: NodeContext): ReadNode[] | undefined {
  const allowed = `a list of ${MIN_NODES}–${MAX_NODES} nodes, each with name and address`;
  if (!entry?.value) return r.error(entry?.key ?? root, 'nodes', `missing (required: ${allowed})`);
  const items = r.list(entry.value, 'nodes', allowed);
  if (!items) return undefined;
  if (items.length < MIN_NODES || items.length > MAX_NODES) {
    r.error(entry.key, 'nodes', `has ${items.length} node${items.length === 1 ? '' : 's'} (allowed: ${MIN_NODES} to ${MAX_NODES} nodes)`);
  }
  const names = new Map<string, Node>();
  const addresses = new Map<string, { node: Node; name: string }>();
  const macs = new Map<string, { node: Node; name: string }>();
  const out: ReadNode[] = [];
  let ok = true;
  const reportedDefaults = new Set<string>();
  items.forEach((item, i) => {
    const path = join('nodes', i);
    const m = r.map(item, path, CONFIG_KEYS.node, NODE_ELSEWHERE);
    if (!m) { ok = false; return; }
    const before = r.errors.length;

    const nameNode = r.required(m, item, path, 'name', 'a hostname such as node1');
    const name = nameNode && r.string(nameNode, join(path, 'name'), 'a hostname');
    if (nameNode && name !== undefined) {
      const bad = checkHostname(name);
      if (bad) r.error(nameNode, join(path, 'name'), bad);
      else if (names.has(name)) r.error(nameNode, join(path, 'name'), `duplicate node name '${name}' (first at line ${r.line(names.get(name))}); every node needs its own name`);
      else {
        names.set(name, nameNode);
        if (ctx.domain && name.length + 1 + ctx.domain.length > 253) r.error(nameNode, join(path, 'name'), `${name}.${ctx.domain} is longer than 253 characters`);
      }
    }
    const label = name ?? `#${i}`;

    const network = readNodeNetwork(r, m, item, path, ctx.network);
    if (network && !network.dhcp) {
      const first = addresses.get(network.address);
      const addrNode = m.get('address')!.value!;
      if (first) r.error(addrNode, join(path, 'address'), `address ${network.address} is already used by node '${first.name}' (line ${r.line(first.node)})`);
      else addresses.set(network.address, { node: addrNode, name: label });
    }

    let mac: string | undefined;
    const macNode = m.get('mac')?.value;
    if (macNode) {
      const v = r.string(macNode, join(path, 'mac'), 'a MAC address such as 52:54:00:12:34:56');
      const bad = v === undefined ? undefined : checkMac(v);
      if (bad) r.error(macNode, join(path, 'mac'), bad);
      else if (v !== undefined) {
        mac = normalizeMac(v);
        const first = macs.get(mac);
        if (first) r.error(macNode, join(path, 'mac'), `MAC ${mac} is already used by node '${first.name}' (line ${r.line(first.node)})`);
        else macs.set(mac, { node: macNode, name: label });
      }
    }

    const arbiterNode = m.get('arbiter')?.value;
    const arbiter = arbiterNode ? r.boolean(arbiterNode, join(path, 'arbiter')) : false;

    const own = m.get('disks')?.value ? readDisks(r, m.get('disks')!.value!, join(path, 'disks')) : { broken: new Set<Role>() };
    const disks = own && own.broken.size === 0 && arbiter !== undefined ? effectiveDisks(r, { own, item, path, label, arbiter, ctx, reportedDefaults }) : undefined;

    const haKeys = readNodeHa(r, m, path);
    if (r.errors.length !== before || !network || !disks || arbiter === undefined) { ok = false; return; }
    out.push({
      config: { name: name!, network, ...(mac ? { mac } : {}), arbiter, disks, ...haKeys },
      item,
      ...(arbiterNode ? { arbiterNode } : {}),
    });
  });
  return ok ? out : undefined;
}

function readNodeNetwork(r: Reader, m: Map<string, Entry>, item: Node, path: string, defaults: NetworkDefaults): NodeAddress | undefined {
  const own = readNetwork(r, item, path, CONFIG_KEYS.node, m);
  const addrNode = r.required(m, item, path, 'address', 'an IPv4 address a.b.c.d, a.b.c.d/nn, or dhcp');
  const address = addrNode && r.string(addrNode, join(path, 'address'), 'a.b.c.d, a.b.c.d/nn or dhcp');
  if (!own || !addrNode || address === undefined) return undefined;
  if (address === 'dhcp') {
    const extra = (['prefix', 'gateway', 'dns'] as const).find((k) => m.get(k)?.value);
    if (extra) return r.error(m.get(extra)!.key, join(path, extra), 'has no effect with address: dhcp (DHCP provides it); remove it or give a static address');
    return { dhcp: true };
  }
  const mm = /^([^/]+)(?:\/(\d{1,2}))?$/.exec(address);
  const ip = mm ? parseIPv4(mm[1]) : undefined;
  if (!mm || ip === undefined) return r.error(addrNode, join(path, 'address'), `'${address}' is not an address (allowed: a.b.c.d, a.b.c.d/nn or dhcp)`);
  const where = join(path, 'address');
  let prefix = own.prefix ?? defaults.prefix ?? DEFAULTS.prefix;
  if (mm[2] !== undefined) {
    const p = Number(mm[2]);
    if (p < 8 || p > 30) return r.error(addrNode, where, `prefix /${p} is out of range (allowed: 8–30)`);
    if (own.prefix !== undefined && own.prefix !== p) return r.error(m.get('prefix')!.value, join(path, 'prefix'), `${own.prefix} contradicts the /${p} in the address; give the prefix once`);
    prefix = p;
  }
  const first = Math.floor(ip / 2 ** 24);
  if (first === 0 || first === 127 || first >= 224) return r.error(addrNode, where, `${mm[1]} is not a usable host address (loopback, multicast or reserved)`);
  const { network, broadcast } = subnetOf(ip, prefix);
  const subnet = `${formatIPv4(network)}/${prefix}`;
  if (ip === network) return r.error(addrNode, where, `${mm[1]} is the network address of ${subnet}, not a host address`);
  if (ip === broadcast) return r.error(addrNode, where, `${mm[1]} is the broadcast address of ${subnet}, not a host address`);
  const gateway = own.gateway ?? defaults.gateway;
  if (gateway !== undefined) {
    const gw = parseIPv4(gateway)!;
    const gwWhere = own.gateway !== undefined ? m.get('gateway')!.value! : addrNode;
    const gwPath = own.gateway !== undefined ? join(path, 'gateway') : where;
    if (gw === ip) return r.error(addrNode, where, `${mm[1]} is the gateway's own address`);
    if (subnetOf(gw, prefix).network !== network) {
      return r.error(gwWhere, gwPath, `${mm[1]}/${prefix} is outside the subnet of its gateway ${gateway} (${formatIPv4(subnetOf(gw, prefix).network)}/${prefix}); check the address, the gateway and the prefix`);
    }
  }
  const dns = own.dns ?? defaults.dns ?? (gateway !== undefined ? [gateway] : []);
  return { dhcp: false, address: mm[1], prefix, ...(gateway !== undefined ? { gateway } : {}), dns };
}

interface DiskInputs {
  own: RoleDisks;
  item: Node;
  path: string;
  label: string;
  arbiter: boolean;
  ctx: NodeContext;
  reportedDefaults: Set<string>;
}

/** The node's disks: its own selectors per role, else the defaults; brick counts checked. */
function effectiveDisks(r: Reader, { own, item, path, label, arbiter, ctx, reportedDefaults }: DiskInputs): NodeConfig['disks'] | undefined {
  // A role whose default is broken was reported already; nodes relying on it say nothing more.
  const os = own.os ?? ctx.disks.os;
  if (!os && ctx.disks.broken.has('os')) return undefined;
  if (!os) return r.error(item, join(path, 'disks.os'), 'no OS disk selector: set disks.os for all nodes, or on this node (allowed: ' + SELECTOR_ALLOWED + ')');
  const out: NodeConfig['disks'] = { os: os.value, gv0: [], gv1: [], bmv0: [] };
  const used = new Map<string, Node>();
  if ('id' in os.value) used.set(os.value.id, os.node);
  let ok = true;
  for (const role of VOLUMES) {
    const volume = ctx.volumes?.[role];
    const source = own[role] ?? ctx.disks[role];
    const isOwn = own[role] !== undefined;
    if (!isOwn && ctx.disks.broken.has(role)) { ok = false; continue; }
    if (arbiter) {
      if (isOwn && volume?.enabled) r.warn(own[role]!.node, join(path, `disks.${role}`), 'ignored: an arbiter node holds metadata only and needs no brick disks');
      continue;
    }
    if (!volume?.enabled) {
      if (isOwn) r.warn(own[role]!.node, join(path, `disks.${role}`), `ignored: volume ${role} is not enabled (volumes.${role}.enabled)`);
      continue;
    }
    const count = source?.value.length ?? 0;
    if (count !== volume.bricksPerNode) {
      const problem = count < volume.bricksPerNode ? 'too few brick selectors' : 'too many brick selectors';
      const need = `volume ${role} takes ${volume.bricksPerNode} per data node (volumes.${role}.bricks_per_node)`;
      if (!source) r.error(item, join(path, `disks.${role}`), `no brick selectors: ${need}; set disks.${role} for all nodes or on this node`);
      else if (isOwn) r.error(source.node, join(path, `disks.${role}`), `${problem}: ${count} given, ${need}`);
      else if (!reportedDefaults.has(role)) {
        reportedDefaults.add(role);
        r.error(source.node, `disks.${role}`, `${problem}: ${count} given, ${need}`);
      }
      ok = false;
      continue;
    }
    source!.value.forEach((sel, i) => {
      if (!('id' in sel)) return;
      const node = isMap(source!.node) || isSeq(source!.node) ? (source!.node as { items: Node[] }).items[i] : source!.node;
      const first = used.get(sel.id);
      if (first) {
        ok = false;
        r.error(isOwn ? node : item, isOwn ? join(path, `disks.${role}[${i}]`) : path, `disk ${sel.id} is selected twice on node '${label}' (first at line ${r.line(first)}); each role needs its own disk`);
      } else used.set(sel.id, node);
    });
    out[role] = source!.value;
  }
  return ok ? out : undefined;
}

function checkTopology(r: Reader, replica: 2 | 3, replicaNode: Node | undefined, nodesEntry: Entry, nodes: ReadNode[], volumes: Record<VolumeName, VolumeConfig>): void {
  const data = nodes.filter((n) => !n.config.arbiter);
  const arbiters = nodes.filter((n) => n.config.arbiter);
  const replicaWhere: Where = replicaNode ?? nodesEntry.key;
  if (replica === 3) {
    for (const a of arbiters) {
      r.error(a.arbiterNode, `nodes[${nodes.indexOf(a)}].arbiter`, 'arbiter nodes are only for replica: 2 (with replica 3 every node holds a full copy); remove it or set replica: 2');
    }
    if (data.length % 3 !== 0) {
      r.error(nodesEntry.key, 'nodes', `${data.length} data node${data.length === 1 ? '' : 's'} with replica 3: the count must be a multiple of 3 (3, 6 or 9), or use replica: 2 with an arbiter node`);
    }
    return;
  }
  if (arbiters.length === 0) {
    r.error(replicaWhere, 'replica', 'replica 2 needs an arbiter node to avoid split-brain: set `arbiter: true` on one node (or use replica: 3)');
  }
  if (data.length < 2 || data.length % 2 !== 0) {
    r.error(nodesEntry.key, 'nodes', `${data.length} data node${data.length === 1 ? '' : 's'} with replica 2: the count of non-arbiter nodes must be a multiple of 2 (2, 4, 6 or 8)`);
    return;
  }
  if (arbiters.length > 0) {
    const sets = Math.max(...(['gv0', 'gv1'] as const).filter((v) => volumes[v].enabled).map((v) => (data.length * volumes[v].bricksPerNode) / 2), 0);
    arbiters.slice(sets).forEach((a) => r.warn(a.arbiterNode, `nodes[${nodes.indexOf(a)}].arbiter`, `this arbiter gets no brick: there are only ${sets} replica set(s)`));
    r.warn(replicaWhere, 'replica', 'replica 2 + arbiter keeps two full copies; the arbiter stores metadata only. It survives one failed node, but a second failure before healing makes the volumes read-only (replica 3 is sturdier)');
  }
}
