// Checks for single values of cluster.yaml. Each returns an error message (what is wrong and
// what is allowed) or undefined when the value is fine.

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function checkHostname(v: string): string | undefined {
  if (v.length > 63) return `'${v}' is longer than 63 characters (a hostname is one DNS label)`;
  if (v.includes('.')) return `'${v}' contains a dot: give the short name only; the domain is set by \`domain\``;
  if (LABEL.test(v.toLowerCase()) && /[A-Z]/.test(v)) return `'${v}' has upper-case letters (allowed: a-z, 0-9 and '-', e.g. '${v.toLowerCase()}')`;
  if (!LABEL.test(v)) return `'${v}' is not a hostname (allowed: a-z, 0-9 and '-', not first or last, at most 63 characters)`;
  return undefined;
}

export function checkDomain(v: string): string | undefined {
  if (v.length > 253) return `'${v}' is longer than 253 characters`;
  const labels = v.toLowerCase().split('.');
  if (labels.every((l) => LABEL.test(l)) && /[A-Z]/.test(v)) return `'${v}' has upper-case letters (use '${v.toLowerCase()}')`;
  if (labels.some((l) => !LABEL.test(l))) return `'${v}' is not a DNS domain (dot-separated labels of a-z, 0-9 and '-', e.g. 'lab.example.org')`;
  if (/^\d+$/.test(labels[labels.length - 1])) return `'${v}' looks like an address, not a DNS domain`;
  return undefined;
}

/** A hostname or an IPv4 address (NTP servers). */
export function checkHostOrAddress(v: string): string | undefined {
  if (/^[\d.]+$/.test(v)) return parseIPv4(v) === undefined ? `'${v}' is not an IPv4 address` : undefined;
  if (v.split('.').every((l) => LABEL.test(l)) && v.length <= 253) return undefined;
  return `'${v}' is not a hostname or IPv4 address`;
}

export function parseIPv4(v: string): number | undefined {
  const parts = v.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export function subnetOf(addr: number, prefix: number): { network: number; broadcast: number } {
  const size = 2 ** (32 - prefix);
  const network = Math.floor(addr / size) * size;
  return { network, broadcast: network + size - 1 };
}

export function checkMac(v: string): string | undefined {
  if (!/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(v) || new Set(v.replace(/[0-9a-fA-F]/g, '')).size !== 1) {
    return `'${v}' is not a MAC address (six hex byte pairs separated by ':', e.g. 52:54:00:12:34:56)`;
  }
  const first = parseInt(v.slice(0, 2), 16);
  if (first & 1) return `'${v}' is a multicast address (odd first byte), not a network card's`;
  if (/^(00[:-]){5}00$/.test(v)) return `'${v}' is the all-zero address, not a network card's`;
  return undefined;
}

export const normalizeMac = (v: string) => v.toLowerCase().replace(/-/g, ':');

export function checkTimezone(v: string): string | undefined {
  if (v === 'UTC' || /^Etc\/(UTC|GMT([+-]\d{1,2})?)$/.test(v)) return undefined;
  if (/^[A-Z][A-Za-z_]+(\/[A-Z0-9][A-Za-z0-9_+-]*){1,2}$/.test(v)) return undefined;
  return `'${v}' is not a time zone (allowed: UTC or Area/City from the tz database, e.g. Europe/Berlin, America/New_York)`;
}

export function checkLocale(v: string): string | undefined {
  if (/^(C|POSIX|C\.UTF-8|[a-z]{2,3}_[A-Z]{2}(\.[A-Za-z0-9-]+)?(@[a-z]+)?)$/.test(v)) return undefined;
  return `'${v}' is not a locale (e.g. en_US.UTF-8, de_DE.UTF-8, C.UTF-8)`;
}

export function checkKeyboard(v: string): string | undefined {
  if (/^[a-z]{2,}([_-][a-z0-9]+)*$/.test(v)) return undefined;
  return `'${v}' is not an X keyboard layout name (e.g. us, de, fr, gb, ch)`;
}

export function checkUrl(v: string, what = 'URL'): string | undefined {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return `'${v}' is not a ${what} (allowed: http://… or https://…)`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `'${v}' uses ${u.protocol.replace(/:$/, '')}: (allowed: http://… or https://…)`;
  if (!u.hostname) return `'${v}' has no host name`;
  return undefined;
}

export function checkProxyUrl(v: string): string | undefined {
  const bad = checkUrl(v, 'proxy URL');
  if (bad) return bad;
  if (new URL(v).protocol !== 'http:') return `'${v}' is not an http:// proxy (the Debian installer speaks to proxies over http only)`;
  return undefined;
}

const B64 = '[./A-Za-z0-9]';
const CRYPT_FORMATS: { re: RegExp; name: string }[] = [
  { re: new RegExp(`^\\$6\\$(rounds=\\d+\\$)?${B64}{1,16}\\$${B64}{86}$`), name: 'sha512crypt' },
  { re: new RegExp(`^\\$5\\$(rounds=\\d+\\$)?${B64}{1,16}\\$${B64}{43}$`), name: 'sha256crypt' },
  { re: new RegExp(`^\\$g?y\\$${B64}+\\$${B64}+\\$${B64}{43}$`), name: 'yescrypt' },
  { re: new RegExp(`^\\$7\\$${B64}+\\$${B64}{43}$`), name: 'scrypt' },
  { re: new RegExp(`^\\$2[aby]\\$\\d{2}\\$${B64}{53}$`), name: 'bcrypt' },
];

export const HASH_HOWTO = 'make one with `mkpasswd -m sha-512` (package whois) or `openssl passwd -6`';

/** Never echoes the value: it may be a real password typed in the wrong field. */
export function checkPasswordHash(v: string): string | undefined {
  if (CRYPT_FORMATS.some((f) => f.re.test(v))) return undefined;
  if (/^\$1\$/.test(v)) return `is an MD5-crypt hash, which is too weak (allowed: $6$, $5$, $y$, $2b$ hashes; ${HASH_HOWTO})`;
  if (/^\$(6|5|y|gy|7|2[aby])\$/.test(v)) return `is a malformed crypt hash (was it cut off or were '$' signs lost? quote it in YAML; ${HASH_HOWTO})`;
  return `looks like a plaintext password; only a crypt(3) hash is allowed ($6$…, $y$…, $5$…, $2b$…): ${HASH_HOWTO}`;
}

const SSH_KEY_TYPES = [
  'ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com',
];

export function checkSshKey(v: string): string | undefined {
  if (/PRIVATE KEY/.test(v)) return 'this is a PRIVATE key: give the public key (the .pub file, e.g. ~/.ssh/id_ed25519.pub) and keep the private one secret';
  const allowed = `(allowed: one OpenSSH public key line "TYPE BASE64 [comment]", TYPE one of ${SSH_KEY_TYPES.join(', ')})`;
  const m = /^(\S+) ([A-Za-z0-9+/]+={0,2})( [^\r\n]*)?$/.exec(v.trim());
  if (!m) return `is not an OpenSSH public key ${allowed}`;
  if (m[1] === 'ssh-dss') return 'is a DSA key, which OpenSSH no longer accepts (use ssh-keygen -t ed25519)';
  if (!SSH_KEY_TYPES.includes(m[1])) return `has unknown key type '${m[1]}' ${allowed}`;
  const blob = Buffer.from(m[2], 'base64');
  const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (len <= 0 || 4 + len > blob.length || blob.subarray(4, 4 + len).toString('latin1') !== m[1]) {
    return `is not a valid ${m[1]} key: its base64 data is damaged or belongs to another key type`;
  }
  if (m[1] === 'ssh-ed25519' && blob.length !== 51) return 'is not a valid ssh-ed25519 key: its base64 data has the wrong length (cut off?)';
  return undefined;
}

export function checkUnixName(v: string, what: 'user' | 'group'): string | undefined {
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(v)) return `'${v}' is not a ${what} name (allowed: lower-case letters, digits, '_' and '-', starting with a letter or '_', at most 32 characters)`;
  return undefined;
}

/** Shannon entropy of the characters times the length: a crude strength estimate in bits. */
function entropyBits(v: string): number {
  const counts = new Map<string, number>();
  for (const ch of v) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) h -= (c / v.length) * Math.log2(c / v.length);
  return h * v.length;
}

/** "abcabcabc…": a short pattern repeated. */
function isPeriodic(v: string): boolean {
  for (let p = 1; p <= v.length / 2; p++) {
    let i = p;
    while (i < v.length && v[i] === v[i - p]) i++;
    if (i === v.length) return true;
  }
  return false;
}

export const MIN_SECRET_LENGTH = 32;

/** Never echoes the value. */
export function checkSecret(v: string): string | undefined {
  const howto = 'run `personal-cloud init` for a fresh one, or use `openssl rand -base64 32`';
  if (!/^[\x21-\x7e]+$/.test(v)) return `has spaces or non-ASCII characters (allowed: printable ASCII without spaces; ${howto})`;
  if (v.length < MIN_SECRET_LENGTH) return `is too short: ${v.length} characters, at least ${MIN_SECRET_LENGTH} required (${howto})`;
  if (entropyBits(v) < 96 || new Set(v).size < 10 || isPeriodic(v)) return `is too weak: it repeats itself or too few characters to be random (${howto})`;
  return undefined;
}
