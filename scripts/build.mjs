// Bundles the builder CLI (run from a checkout, node_modules present) and the first-boot
// agent (one self-contained file for Debian's nodejs: trixie 20.x, bookworm 18.x).
import { build } from 'esbuild';
import { copyFileSync, existsSync } from 'node:fs';

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

// The web console's Cockpit page (installed on every node as /usr/share/cockpit/personal-cloud):
// plain JS for the browser, beside its manifest, HTML and CSS.
if (existsSync('console/main.ts')) {
  await build({
    bundle: true, platform: 'browser', format: 'iife', target: 'es2020', sourcemap: false, logLevel: 'warning', legalComments: 'none',
    entryPoints: ['console/main.ts'],
    outfile: 'dist/console/console.js',
  });
  for (const f of ['manifest.json', 'index.html', 'console.css']) copyFileSync(`console/${f}`, `dist/console/${f}`);
}
