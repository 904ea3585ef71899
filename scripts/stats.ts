// Figures over repeated benchmark runs: single runs on a shared 2-core machine vary by a quarter.

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** "median (min–max)" of seconds given in ms, one decimal. */
export function spreadSecs(ms: number[]): string {
  const ok = ms.filter((x) => !Number.isNaN(x));
  if (!ok.length) return '–';
  const s = (x: number) => (x / 1000).toFixed(1);
  return ok.length === 1 ? `${s(ok[0])} s` : `${s(median(ok))} s (${s(Math.min(...ok))}–${s(Math.max(...ok))})`;
}
