// The node's own ssh key for an ssh:// repository: made at first boot when backup.repository is
// ssh:// (ed25519, 0600, in the agent's state directory — never in an image), given to borg's ssh,
// and its public half published on gv0 so `backup status` on any node lists every node's key for
// the admin to authorize on the repository host (any node may be the runner).
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { SSH_REPO } from '../../core/backup.js';
import type { AgentPlan } from '../../core/plan-types.js';
import { run } from '../exec.js';
import { exists, writeDurable } from '../fsx.js';
import { stateDir } from './marker.js';

export const sshKeyPath = (agentStateDir: string) => join(agentStateDir, 'backup-ssh', 'id_ed25519');
const publishedDir = (plan: AgentPlan) => join(stateDir(plan), 'ssh-keys');

export const wantsSshKey = (plan: AgentPlan) => Boolean(plan.backup?.repository.startsWith('ssh://') && plan.ha?.enabled);

// the repository host's key as this node first saw it: next to the node's key, not in root's
// ~/.ssh (the agent's own state; a changed-key error names this file and the command that clears it)
const knownHostsOf = (key: string) => join(dirname(key), 'known_hosts');

/** ssh's options for borg: this node's key (and its known_hosts) when it has one. Pure. */
export function borgRsh(key: string | undefined): string {
  return `ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new${key ? ` -i ${key} -o UserKnownHostsFile=${knownHostsOf(key)}` : ''}`;
}

/**
 * Why ssh to an ssh:// repository fails, in words the admin can act on; undefined when it works.
 * borg relays ssh's own error only sometimes (it may say just "Connection closed by remote
 * host"), so this asks ssh itself, with borg's options, running what borg runs there.
 */
export async function sshProblem(repo: string, rsh: string): Promise<string | undefined> {
  const m = SSH_REPO.exec(repo);
  if (!m) return undefined;
  const [, user, host, port = '22'] = m;
  const [cmd, ...opts] = rsh.split(/\s+/);
  const r = await run(cmd, [...opts, '-p', port, `${user}@${host}`, 'borg', 'serve'], { allowFail: true, timeoutMs: 60_000 });
  if (r.code === 0) return undefined;
  const said = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const where = `${user}@${host}${m[3] ? `:${port}` : ''}`;
  if (said.some((l) => /^Host key for .* has changed|Host key verification failed/.test(l))) {
    const known = /UserKnownHostsFile=(\S+)/.exec(rsh)?.[1];
    const name = port === '22' ? host : `[${host}]:${port}`;
    return `the ssh host key of the repository host ${where} is not the one this node recorded when it first connected${known ? ` (in ${known})` : ''}: ssh refuses it (someone may be in between). If the host was reinstalled or its key changed on purpose, remove the old key on every node with: ssh-keygen -R '${name}'${known ? ` -f ${known}` : ''}`;
  }
  if (said.some((l) => /Permission denied \(publickey/.test(l))) {
    const key = /-i (\S+)/.exec(rsh)?.[1];
    return `the repository host refused this node's ssh key${key ? ` (${key}.pub)` : ''} for ${where}: add every node's key (\`personal-cloud backup status\` lists them) to ~${user}/.ssh/authorized_keys there, e.g. command="borg serve --restrict-to-path DIR",restrict ssh-ed25519 …`;
  }
  if (said.some((l) => /spawn \S+ ENOENT/.test(l))) return `${cmd} is not installed on this node (openssh-client)`;
  if (r.code === 127 || said.some((l) => /borg: (command )?not found/.test(l))) return `ssh to ${where} works but borg is not installed there (install borgbackup on the repository host): ${said.at(-1) ?? ''}`;
  return `ssh to the repository host ${where} failed: ${said.at(-1) ?? `exit ${r.code}`}`;
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
