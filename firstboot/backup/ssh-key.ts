// The node's own ssh key for an ssh:// repository: made at first boot when backup.repository is
// ssh:// (ed25519, 0600, in the agent's state directory — never in an image), given to borg's ssh,
// and its public half published on gv0 so `backup status` on any node lists every node's key for
// the admin to authorize on the repository host (any node may be the runner).
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentPlan } from '../../core/plan-types.js';
import { run } from '../exec.js';
import { exists, writeDurable } from '../fsx.js';
import { stateDir } from './marker.js';

export const sshKeyPath = (agentStateDir: string) => join(agentStateDir, 'backup-ssh', 'id_ed25519');
const publishedDir = (plan: AgentPlan) => join(stateDir(plan), 'ssh-keys');

export const wantsSshKey = (plan: AgentPlan) => Boolean(plan.backup?.repository.startsWith('ssh://') && plan.ha?.enabled);

/** ssh's options for borg: this node's key when it has one. Pure. */
export function borgRsh(key: string | undefined): string {
  return `ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new${key ? ` -i ${key}` : ''}`;
}

/** Makes the key if missing and publishes its public half on gv0; says what it did (nothing: undefined). */
export async function ensureSshKey(plan: AgentPlan, node: string, agentStateDir: string): Promise<string | undefined> {
  const key = sshKeyPath(agentStateDir);
  let said: string | undefined;
  if (!(await exists(key))) {
    await mkdir(join(agentStateDir, 'backup-ssh'), { recursive: true, mode: 0o700 });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `personal-cloud-backup@${node}.${plan.cluster.name}`, '-f', key]);
    said = `made this node's ssh key for the backup repository (${key})`;
  }
  const pub = (await readFile(`${key}.pub`, 'utf8')).trim();
  // never into the bare mount point: the VM folder exists only on the mounted gv0
  if (!(await exists(plan.ha!.vmDir))) throw new Error(`${plan.ha!.vmDir} is not there (gv0 not mounted yet): the backup ssh key is published once it is`);
  const dest = join(publishedDir(plan), `${node}.pub`);
  if ((await readFile(dest, 'utf8').catch(() => ''))?.trim() !== pub) { await writeDurable(dest, `${pub}\n`, 0o644); said ??= `published this node's backup ssh key in ${dest}`; }
  return said;
}

/** Every node's published public key, by node. */
export async function publishedSshKeys(plan: AgentPlan): Promise<Record<string, string>> {
  const dir = publishedDir(plan);
  const out: Record<string, string> = {};
  for (const f of (await readdir(dir).catch(() => [] as string[])).filter((x) => x.endsWith('.pub')).sort()) out[f.slice(0, -4)] = (await readFile(join(dir, f), 'utf8')).trim();
  return out;
}

/** Whether this node's key exists and its public half is published as it is (the step's observation). */
export async function sshKeyPublished(plan: AgentPlan, node: string, agentStateDir: string): Promise<boolean> {
  const pub = await readFile(`${sshKeyPath(agentStateDir)}.pub`, 'utf8').catch(() => undefined);
  if (!pub || !(await exists(sshKeyPath(agentStateDir)))) return false;
  return (await readFile(join(publishedDir(plan), `${node}.pub`), 'utf8').catch(() => '')).trim() === pub.trim();
}
