// Shared by the e2e scripts: the run's cluster.yaml (fixture + this run's admin key and
// password hash) and `personal-cloud status` asked from inside the private network.
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import type { NodeAnswer } from '../../src/commands/status.js';
import type { PrivateNet } from './netns.js';

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

export async function clusterStatus(net: PrivateNet, cli: string, config: string): Promise<NodeAnswer[]> {
  const [cmd, ...args] = net.exec(['node', cli, 'status', '--config', config, '--json', '--timeout', '15']);
  const r = await execa(cmd, args, { reject: false, timeout: 60_000 });
  try { return JSON.parse(String(r.stdout)) as NodeAnswer[]; } catch { return []; }
}

/** Polls status until healthy (see healthProblems); `onPoll` may act on each answer set (fault injection). */
export async function waitHealthy(opts: {
  net: PrivateNet; cli: string; config: string; nodes: string[]; timeoutMs: number;
  alive: () => string | null; say: (m: string) => void; onPoll?: (answers: NodeAnswer[]) => Promise<boolean>;
}): Promise<number> {
  const { healthProblems } = await import('./health.js');
  const start = Date.now();
  let last = '';
  for (;;) {
    if (Date.now() - start > opts.timeoutMs) throw new Error(`not healthy after ${Math.round(opts.timeoutMs / 60_000)} min: ${last}`);
    const dead = opts.alive();
    if (dead) throw new Error(dead);
    const answers = await clusterStatus(opts.net, opts.cli, opts.config);
    const problems = healthProblems(answers, opts.nodes);
    const line = problems.length ? problems.join('; ') : 'healthy';
    if (line !== last) { opts.say(line); last = line; }
    const ready = opts.onPoll ? await opts.onPoll(answers) : true;
    if (!problems.length && ready) return (Date.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, 5000));
  }
}
