// BorgBackup as the agent runs it: the passphrase reaches borg through BORG_PASSCOMMAND reading
// a 0600 file in /run (derived from the join key each time, never in argv, env dumps or logs);
// borg's cache and security state live in the agent's state directory. Long commands report
// progress from borg's --log-json lines.
import { spawn } from 'node:child_process';
import { mkdir, stat, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { backupPassphrase } from '../../core/backup.js';
import type { AgentPlan } from '../../core/plan-types.js';
import { log } from '../log.js';
import { exists } from '../fsx.js';
import { borgRsh, sshKeyPath, sshProblem } from './ssh-key.js';

export const PASS_FILE = '/run/personal-cloud/borg-passphrase';

export class BorgError extends Error {}

export interface Borg { repo: string; env: Record<string, string> }

export async function borgFor(plan: AgentPlan, joinKey: string, stateDir: string): Promise<Borg> {
  if (!plan.backup) throw new BorgError('no backup: section in cluster.yaml: backups are not configured');
  await mkdir('/run/personal-cloud', { recursive: true, mode: 0o700 });
  await writeFile(PASS_FILE, backupPassphrase(joinKey, plan.cluster.name), { mode: 0o600 });
  await chmod(PASS_FILE, 0o600);
  const base = join(stateDir, 'borg');
  await mkdir(base, { recursive: true, mode: 0o700 });
  return {
    repo: plan.backup.repository,
    env: {
      BORG_PASSCOMMAND: `cat ${PASS_FILE}`, BORG_BASE_DIR: base,
      // the runner moves between nodes: each node's cache and security state see the repository change under them
      BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes', BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK: 'no',
      BORG_HOSTNAME_IS_UNIQUE: 'yes', BORG_RSH: borgRsh(await exists(sshKeyPath(stateDir)) ? sshKeyPath(stateDir) : undefined),
    },
  };
}

export interface BorgProgress { originalBytes?: number; message?: string }

/** Runs borg; stdout is returned (JSON for --json commands), stderr's log lines feed onProgress and the error. */
export function borg(b: Borg, args: string[], o: { cwd?: string; onProgress?: (p: BorgProgress) => void; timeoutMs?: number; allowFail?: boolean; strict?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  log.debug(`$ borg ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn('borg', args, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...b.env, LANG: 'C.UTF-8' } });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => {
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) {
        let j: { type?: string; original_size?: number; message?: string; msgid?: string; levelname?: string } | undefined;
        try { j = JSON.parse(l); } catch { stderr += `${l}\n`; continue; }
        if (j?.type === 'archive_progress' && typeof j.original_size === 'number') o.onProgress?.({ originalBytes: j.original_size });
        else if (j?.type === 'progress_message' || j?.type === 'progress_percent') { if (j.message) o.onProgress?.({ message: j.message }); }
        else if (j?.type === 'log_message' && j.message) stderr += `${j.message}\n`;
      }
    });
    const timer = setTimeout(() => { stderr += `(timed out after ${o.timeoutMs} ms)\n`; child.kill('SIGTERM'); }, o.timeoutMs ?? 6 * 3600_000);
    child.on('error', (e) => { clearTimeout(timer); reject(new BorgError(`borg: ${e.message}`)); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const r = { code: code ?? 128, stdout, stderr: stderr + partial };
      // 1 is "warning" in borg (e.g. a file changed while read): the archive exists — but a VM
      // disk that changed or vanished while read is no backup (strict)
      if (r.code > (o.strict ? 0 : 1) && !o.allowFail) void borgSaid(b, r.stderr).then((said) => reject(new BorgError(`borg ${args[0]} failed (exit ${code ?? signal}): ${said}`)));
      else resolve(r);
    });
  });
}

/**
 * What a failed borg said, on one line; for an ssh:// repository whose connection closed, ssh's
 * own reason, and what borg serve's --restrict-to-path means when it refuses the path.
 */
export async function borgSaid(b: Borg, stderr: string): Promise<string> {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  if (b.repo.startsWith('ssh://')) {
    if (lines.some((l) => /^Remote: |Connection closed by remote host|Got connection close/.test(l))) {
      const why = await sshProblem(b.repo, b.env.BORG_RSH ?? 'ssh');
      if (why) return why;
    }
    const denied = lines.find((l) => /^Repository path not allowed/.test(l));
    if (denied) return `${denied}: the repository host's authorized_keys limits this node's key (borg serve --restrict-to-path) to other folders; the path must be that folder or below it, as seen on the repository host (ssh://user@host/abs/path is absolute, /./path or /~/path is relative to the user's home)`;
  }
  return lines.slice(-3).join(' | ');
}

/** Creates the repository on first use (repokey: the key lives in the repository, opened by the derived passphrase). */
export async function ensureRepo(b: Borg, encryption: string): Promise<boolean> {
  if (!b.repo.startsWith('ssh://')) {
    if (await stat(join(b.repo, 'config')).then(() => true, () => false)) return false;
  } else {
    const r = await borg(b, ['info', '--json', b.repo], { allowFail: true, timeoutMs: 120_000 });
    if (r.code === 0) return false;
    if (!/does not exist|not a valid repository/i.test(r.stderr)) throw new BorgError(`borg repository ${b.repo}: ${await borgSaid(b, r.stderr)}`);
  }
  await borg(b, ['init', '--encryption', encryption, '--make-parent-dirs', b.repo], { timeoutMs: 300_000 });
  return true;
}
