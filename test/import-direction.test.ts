import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// The builder (src/) and the agent (firstboot/) share core/ and never import each other; core/
// imports nothing of either and no npm package (the agent bundle must stay small and self-contained).
const ROOT = resolve(import.meta.dirname, '..');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

export function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => m[1] ?? m[2]);
}

/** The top folder a relative import lands in, or the bare specifier (node:fs, yaml). */
function target(file: string, spec: string): string {
  if (!spec.startsWith('.')) return spec;
  return relative(ROOT, resolve(dirname(join(ROOT, file)), spec)).split('/')[0];
}

const violations = (dir: string, allowed: (t: string) => boolean) =>
  tsFiles(dir).flatMap((f) => importsOf(f).filter((s) => !allowed(target(f, s))).map((s) => `${f} imports ${s}`));

describe('import direction', () => {
  it('finds the imports it checks', () => {
    expect(importsOf('firstboot/agent.ts').some((s) => s.includes('core/'))).toBe(true);
    expect(target('src/cli.ts', '../firstboot/main.js')).toBe('firstboot');
  });
  it('src/ never imports firstboot/', () => {
    expect(violations('src', (t) => t !== 'firstboot')).toEqual([]);
  });
  it('firstboot/ never imports src/', () => {
    expect(violations('firstboot', (t) => t !== 'src')).toEqual([]);
  });
  it('core/ imports only core/ and node built-ins', () => {
    expect(violations('core', (t) => t === 'core' || t.startsWith('node:'))).toEqual([]);
  });
});
