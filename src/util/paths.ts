import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Source files (src/util/paths.ts) and the bundle (dist/cli.js) both sit one or two levels
// below the project root: walk up to the folder holding package.json.
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('personal-cloud: cannot find the project root (package.json)');
    dir = up;
  }
  return dir;
}

const ROOT = findRoot();

export function projectPath(...parts: string[]): string {
  return join(ROOT, ...parts);
}
