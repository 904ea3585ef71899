/** Edit distance (insertions, deletions, substitutions), for "did you mean …" hints. */
export function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

const snakeCase = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/-/g, '_').toLowerCase();

/** The closest candidate when it is plausibly a typo (or the camelCase / kebab-case spelling). */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const snake = snakeCase(word);
  if (snake !== word && candidates.includes(snake)) return snake;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = levenshtein(snake, c);
    if (d < bestDistance) { best = c; bestDistance = d; }
  }
  const limit = word.length <= 3 ? 1 : Math.max(2, Math.floor(word.length / 3));
  return bestDistance <= limit ? best : undefined;
}
