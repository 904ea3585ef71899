// Debian bookworm's nodejs 18 (the oldest runtime the agent must support), unpacked from the
// archive's .debs: the `node` npm package would download from nodejs.org, which is not
// reachable here. Debian's build loads some builtins from /usr/share/nodejs, so a node's mount
// namespace overlays that directory onto /usr/share (see Harness, option node18).
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './sh.js';

export const NODE18_DIR = process.env.PC_NODE18_DIR || '/var/cache/personal-cloud-test/node18';
const PKGS = ['nodejs=18.20.4+dfsg-1~deb12u3', 'libnode108=18.20.4+dfsg-1~deb12u3', 'libc-ares2', 'node-acorn', 'node-cjs-module-lexer', 'node-undici'];

export interface Node18 { bin: string; libDir: string; shareDir: string }

export async function ensureNode18(): Promise<Node18> {
  const root = join(NODE18_DIR, 'root');
  const n: Node18 = { bin: join(root, 'usr/bin/node'), libDir: join(root, 'usr/lib/x86_64-linux-gnu'), shareDir: join(root, 'usr/share') };
  if (existsSync(n.bin) && existsSync(join(n.shareDir, 'nodejs/cjs-module-lexer'))) return n;
  const debs = join(NODE18_DIR, 'debs');
  mkdirSync(debs, { recursive: true });
  const r = await sh('sh', ['-c', `cd '${debs}' && apt-get download ${PKGS.join(' ')}`], { allowFail: true, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`cannot fetch bookworm's nodejs 18 from the Debian archive: ${r.stderr.trim()}`);
  for (const f of readdirSync(debs).filter((x) => x.endsWith('.deb'))) await sh('dpkg-deb', ['-x', join(debs, f), root]);
  return n;
}
