import type { DiskMatch, DiskSelector } from '../../core/config-types.js';

// Disk sizes as printed on the label: decimal units (a "500G" disk has ~500·10⁹ bytes, which is
// only ~466 GiB), so `>=500G` matches the disk the user bought. Binary units need the "i".
const UNITS: Record<string, number> = {
  '': 1, B: 1,
  K: 1e3, KB: 1e3, M: 1e6, MB: 1e6, G: 1e9, GB: 1e9, T: 1e12, TB: 1e12, P: 1e15, PB: 1e15,
  KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40, PIB: 2 ** 50,
};

export const SIZE_SYNTAX = '">=500G", "<=2T", ">200G", "<1T" or "100G-200G"; units K M G T (decimal, as on the label) or KiB MiB GiB TiB';

function parseAmount(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  if (!m) return undefined;
  const unit = UNITS[m[2].toUpperCase()];
  if (unit === undefined) return undefined;
  return Math.round(Number(m[1]) * unit);
}

/** Parses a size expression into a byte range; returns an error message when it is not one. */
export function parseSizeExpression(expr: string): { minBytes?: number; maxBytes?: number } | string {
  const cmp = /^\s*(>=|<=|>|<)\s*(.+)$/.exec(expr);
  if (cmp) {
    const n = parseAmount(cmp[2]);
    if (n === undefined) return `'${expr}' is not a size expression`;
    if (n === 0 && cmp[1].startsWith('<')) return `'${expr}' matches no disk`;
    switch (cmp[1]) {
      case '>=': return { minBytes: n };
      case '>': return { minBytes: n + 1 };
      case '<=': return { maxBytes: n };
      default: return { maxBytes: n - 1 };
    }
  }
  const range = /^([^-]+)-([^-]+)$/.exec(expr);
  if (range) {
    const lo = parseAmount(range[1]);
    const hi = parseAmount(range[2]);
    if (lo === undefined || hi === undefined) return `'${expr}' is not a size expression`;
    if (lo > hi) return `'${expr}' is an empty range (the lower bound is above the upper one)`;
    return { minBytes: lo, maxBytes: hi };
  }
  if (parseAmount(expr) !== undefined) return `'${expr}' is an exact size; no two disks have exactly the same size, give a range`;
  return `'${expr}' is not a size expression`;
}

export function formatBytes(n: number): string {
  for (const [unit, f] of [['P', 1e15], ['T', 1e12], ['G', 1e9], ['M', 1e6], ['K', 1e3]] as const) {
    if (n >= f) return `${Number((n / f).toFixed(2))}${unit}`;
  }
  return `${n}B`;
}

function describeMatch(m: DiskMatch): string {
  const parts: string[] = [];
  if (m.minBytes !== undefined && m.maxBytes !== undefined) parts.push(`size ${formatBytes(m.minBytes)}-${formatBytes(m.maxBytes)}`);
  else if (m.minBytes !== undefined) parts.push(`size >=${formatBytes(m.minBytes)}`);
  else if (m.maxBytes !== undefined) parts.push(`size <=${formatBytes(m.maxBytes)}`);
  if (m.type) parts.push(m.type);
  if (m.model) parts.push(`model ${m.model}`);
  if (m.serial) parts.push(`serial ${m.serial}`);
  return parts.join(', ');
}

/** One-line human description of a disk selector, for `plan` and error messages. */
export function describeSelector(d: DiskSelector): string {
  const what = 'id' in d ? d.id : `disk with ${describeMatch(d.match)}`;
  return d.wipe ? `${what} (wipe allowed)` : what;
}
