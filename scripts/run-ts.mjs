// Runs a TypeScript script of this repo (benchmarks, tools): bundles it with esbuild into a
// temp file next to node_modules, then imports it. Usage: node scripts/run-ts.mjs FILE.ts [ARGS…]
import { build } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [file, ...args] = process.argv.slice(2);
if (!file) { console.error('usage: node scripts/run-ts.mjs FILE.ts [ARGS…]'); process.exit(2); }
const dir = mkdtempSync(join(resolve('.'), '.run-ts-'));
const out = join(dir, 'script.mjs');
try {
  await build({ entryPoints: [file], outfile: out, bundle: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'warning', target: 'node18' });
  process.argv = [process.argv[0], resolve(file), ...args];
  await import(pathToFileURL(out).href);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
