// Shared by the e2e scripts: the run's cluster.yaml (fixture + this run's admin key and
// password hash) and `personal-cloud status` asked from inside the private network.
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { build } from 'esbuild';
import { dirname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { NodeAnswer } from '../../src/commands/status.js';
import type { PrivateNet } from './netns.js';

/** The checkout (scripts run from it). */
const ROOT = resolve('.');

export const E2E_NODES = [
  { name: 'node1', address: '10.79.0.11', mac: '52:54:00:79:00:11', firmware: 'bios' as const },
  { name: 'node2', address: '10.79.0.12', mac: '52:54:00:79:00:12', firmware: 'bios' as const },
  // one node boots through UEFI: both boot paths are proven
  { name: 'node3', address: '10.79.0.13', mac: '52:54:00:79:00:13', firmware: 'uefi' as const },
];

export interface RunConfig { config: string; keyFile: string; password: string }

/** The image gets this run's admin key and a password hash; the password itself stays in memory. */
export async function runtimeConfig(fixture: string, work: string, edit: (doc: ReturnType<typeof parseDocument>) => void = () => {}): Promise<RunConfig> {
  const keyFile = join(work, 'id_ed25519');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'e2e', '-f', keyFile]);
  const pub = (await readFile(`${keyFile}.pub`, 'utf8')).trim();
  const password = randomBytes(12).toString('hex');
  const hash = (await execa('openssl', ['passwd', '-6', '-stdin'], { input: password })).stdout.trim();
  const doc = parseDocument(await readFile(fixture, 'utf8'));
  doc.setIn(['users', 0, 'password_hash'], hash);
  doc.setIn(['users', 0, 'ssh_keys'], doc.createNode([pub]));
  edit(doc);
  const config = join(work, 'cluster.yaml');
  await writeFile(config, doc.toString(), { mode: 0o600 });
  return { config, keyFile, password };
}

const askBundles = new Map<string, Promise<string>>();

/** test/e2e/ask.ts bundled once per run directory (next to the run's cluster.yaml). */
function askBundle(config: string): Promise<string> {
  const out = join(dirname(config), 'e2e-ask.mjs');
  if (!askBundles.has(out)) {
    askBundles.set(out, build({ entryPoints: [join(ROOT, 'test/e2e/ask.ts')], outfile: out, bundle: true, platform: 'node', format: 'esm', logLevel: 'warning', target: 'node18',
      // yaml is CommonJS: its require('process') needs a real require in an ESM bundle
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" } }).then(() => out));
  }
  return askBundles.get(out)!;
}

/**
 * Every node's status, asked from inside the private network. `heal` (glfsheal) and `ha`
 * (corosync-quorumtool, crm_mon) cost a loaded TCG guest seconds each: ask for them only when needed.
 */
export async function clusterStatus(net: PrivateNet, config: string, want: { heal?: boolean; ha?: boolean } = {}): Promise<NodeAnswer[]> {
  const [cmd, ...args] = net.exec(['node', await askBundle(config), config, want.heal ? '1' : '0', want.ha ? '1' : '0']);
  const r = await execa(cmd, args, { reject: false, timeout: 90_000 });
  try { return JSON.parse(String(r.stdout)) as NodeAnswer[]; } catch { return []; }
}

/** Polls status until healthy (see healthProblems); `onPoll` may act on each answer set (fault injection). */
export async function waitHealthy(opts: {
  net: PrivateNet; config: string; nodes: string[]; timeoutMs: number;
  alive: () => string | null; say: (m: string) => void; onPoll?: (answers: NodeAnswer[]) => Promise<boolean>;
  /** between polls: each poll runs heal info and crm_mon on every node, which costs a TCG guest seconds */
  intervalMs?: number;
  /** steps judged separately (see healthProblems) */
  ignoreSteps?: string[];
}): Promise<number> {
  const { healthProblems } = await import('./health.js');
  const start = Date.now();
  let last = '';
  for (;;) {
    if (Date.now() - start > opts.timeoutMs) throw new Error(`not healthy after ${Math.round(opts.timeoutMs / 60_000)} min: ${last}`);
    const dead = opts.alive();
    if (dead) throw new Error(dead);
    const answers = await clusterStatus(opts.net, opts.config);
    const problems = healthProblems(answers, opts.nodes, 'gv0', opts.ignoreSteps);
    const line = problems.length ? problems.join('; ') : 'healthy';
    if (line !== last) { opts.say(line); last = line; }
    const ready = opts.onPoll ? await opts.onPoll(answers) : true;
    if (!problems.length && ready) return (Date.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 5000));
  }
}
