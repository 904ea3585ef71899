// deb822 stanzas (Packages, control, Release) and Debian version ordering.

export type Stanza = Record<string, string>;

/** Splits deb822 text into stanzas; continuation lines are joined with '\n' (leading space kept off). */
export function parseStanzas(text: string): Stanza[] {
  const out: Stanza[] = [];
  let cur: Stanza = {};
  let last: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') {
      if (Object.keys(cur).length) out.push(cur);
      cur = {}; last = undefined;
      continue;
    }
    if (line.startsWith('#')) continue;
    if ((line[0] === ' ' || line[0] === '\t') && last) {
      cur[last] += `\n${line.slice(1)}`;
      continue;
    }
    const i = line.indexOf(':');
    if (i <= 0) continue;
    last = line.slice(0, i);
    cur[last] = line.slice(i + 1).trim();
  }
  if (Object.keys(cur).length) out.push(cur);
  return out;
}

export interface PackageEntry {
  package: string;
  version: string;
  filename: string;
  size: number;
  sha256: string;
  architecture?: string;
}

/** The newest stanza for `name` in a Packages index, or undefined. */
export function findPackage(packagesText: string, name: string): PackageEntry | undefined {
  let best: PackageEntry | undefined;
  // Cheap pre-filter: the index is ~25 MB and we want one package.
  const marker = `Package: ${name}\n`;
  let at = packagesText.indexOf(marker);
  while (at !== -1) {
    if (at === 0 || packagesText[at - 1] === '\n') {
      const end = packagesText.indexOf('\n\n', at);
      const [s] = parseStanzas(packagesText.slice(at, end === -1 ? undefined : end));
      if (s?.Package === name && s.Filename && s.SHA256 && /^\d+$/.test(s.Size ?? '')) {
        const e: PackageEntry = { package: name, version: s.Version ?? '', filename: s.Filename, size: Number(s.Size), sha256: s.SHA256.toLowerCase(), architecture: s.Architecture };
        if (!best || compareVersions(e.version, best.version) > 0) best = e;
      }
    }
    at = packagesText.indexOf(marker, at + marker.length);
  }
  return best;
}

// dpkg's ordering: epoch, then upstream and revision compared by alternating non-digit and
// digit runs, where '~' sorts before everything (even the end of the string).
function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === '~') return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function comparePart(a: string, b: string): number {
  let i = 0, j = 0;
  while (i < a.length || j < b.length) {
    let first = 0;
    while ((i < a.length && !/\d/.test(a[i])) || (j < b.length && !/\d/.test(b[j]))) {
      const ac = i < a.length && !/\d/.test(a[i]) ? order(a[i]) : 0;
      const bc = j < b.length && !/\d/.test(b[j]) ? order(b[j]) : 0;
      if (ac !== bc) return ac - bc;
      i++; j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (i < a.length && /\d/.test(a[i]) && j < b.length && /\d/.test(b[j])) {
      if (!first) first = a.charCodeAt(i) - b.charCodeAt(j);
      i++; j++;
    }
    if (i < a.length && /\d/.test(a[i])) return 1;
    if (j < b.length && /\d/.test(b[j])) return -1;
    if (first) return first;
  }
  return 0;
}

export function compareVersions(a: string, b: string): number {
  const split = (v: string) => {
    const c = v.indexOf(':');
    const epoch = c > 0 ? Number(v.slice(0, c)) : 0;
    const rest = c > 0 ? v.slice(c + 1) : v;
    const d = rest.lastIndexOf('-');
    return { epoch, upstream: d >= 0 ? rest.slice(0, d) : rest, revision: d >= 0 ? rest.slice(d + 1) : '' };
  };
  const x = split(a), y = split(b);
  if (x.epoch !== y.epoch) return x.epoch - y.epoch;
  return comparePart(x.upstream, y.upstream) || comparePart(x.revision, y.revision);
}
