// Bundles the builder CLI (run from a checkout, node_modules present) and the first-boot
// agent (one self-contained file for Debian's nodejs: trixie 20.x, bookworm 18.x).
import { build } from 'esbuild';
import { existsSync } from 'node:fs';

const common = { bundle: true, platform: 'node', format: 'esm', sourcemap: false, logLevel: 'warning', legalComments: 'none' };

await build({
  ...common,
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/cli.js',
  target: 'node18',
  packages: 'external',
});

if (existsSync('firstboot/main.ts')) {
  await build({
    ...common,
    entryPoints: ['firstboot/main.ts'],
    outfile: 'dist/personal-cloud-agent.mjs',
    target: 'node18',
    banner: { js: '#!/usr/bin/env node' },
  });
}
