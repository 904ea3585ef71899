#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('personal-cloud: the CLI is not built yet; run `npm ci` (or `npm run build`) in the checkout.');
  process.exit(70);
}
await import(cli);
