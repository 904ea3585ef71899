// The `backup` operation of the agent's channel. A backup run is a process of its own
// (`personal-cloud-agent backup-run`, in its own process group like the systemd service's), so
// the agent keeps answering while it works and a runner that dies takes its borg with it; the
// CLI polls `progress` meanwhile. Restore, list and verify run in the agent, under the same lock.
import { spawn } from 'node:child_process';
import type { ArchiveInfo, BackupRequest } from '../../core/backup.js';
import { backupVerdict, parseArchiveName } from '../../core/backup.js';
import type { AgentPlan } from '../../core/plan-types.js';
import { crmMon } from '../ha/pcmk.js';
import { log } from '../log.js';
import { vmDir, vmList } from '../virt/vm.js';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { borg, borgFor } from './borg.js';
import { readMarker, RunLock } from './marker.js';
import { cleanUp, readRecord, writeProm, type RunContext } from './runner.js';
import { restoreVm } from './restore.js';
import { publishedSshKeys } from './ssh-key.js';

export class BackupRequestError extends Error {}

/** Starts the runner process and waits for its JSON result. */
function runnerProcess(vms: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [process.argv[1], 'backup-run', '--json', ...vms], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    // the runner's log lines go to the agent's log (journald): what it ran, what it cleaned up
    let partial = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) if (l.trim()) log.info(`backup-run[${child.pid}]: ${l.replace(/^\S+Z (debug|info|warn|error) /, '$1 ')}`);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) { try { resolve(JSON.parse(out)); } catch { reject(new BackupRequestError(`backup runner: unreadable result: ${out.slice(0, 200)}`)); } return; }
      const said = err.trim().split('\n').filter(Boolean).slice(-1)[0]?.replace(/^personal-cloud: /, '');
      reject(new BackupRequestError(signal ? `the backup runner (pid ${child.pid}) was killed (${signal}); the next run cleans up after it` : said ?? `backup runner exited ${code}`));
    });
  });
}

export async function handleBackup(ctx: RunContext, r: BackupRequest): Promise<unknown> {
  const { plan } = ctx;
  if (!plan.ha?.enabled) throw new BackupRequestError('the HA VM stack is disabled in cluster.yaml');
  if (!plan.backup) throw new BackupRequestError('backups are not configured: add a backup: section to cluster.yaml (see the README)');
  switch (r.action) {
    case 'now': return runnerProcess(r.vms ?? []);
    case 'progress': return (await readMarker(plan)) ?? null;
    case 'status': return backupStatus(plan);
    case 'list': {
      const b = await borgFor(plan, ctx.joinKey, ctx.agentStateDir);
      const out = await borg(b, ['list', '--json', '--format', '{comment}', ...(r.vm ? ['--glob-archives', `${r.vm}.*`] : []), b.repo], { timeoutMs: 600_000 }).catch((e: Error) => {
        throw new BackupRequestError(/does not exist|is not a valid repository/.test(e.message) ? `no backup yet: the repository ${b.repo} does not exist` : e.message);
      });
      const archives = (JSON.parse(out.stdout) as { archives: { name: string; time: string; comment?: string }[] }).archives;
      return archives.map((a): ArchiveInfo | undefined => { const p = parseArchiveName(a.name); return p ? { name: a.name, vm: p.vm, time: p.at.toISOString(), ...(a.comment ? { comment: a.comment } : {}) } : undefined; }).filter(Boolean);
    }
    case 'verify': {
      const b = await borgFor(plan, ctx.joinKey, ctx.agentStateDir);
      const { lock, stale } = await RunLock.acquire(plan, ctx.self, 'verify (borg check)');
      try {
        const cleaned = stale ? await cleanUp(ctx, b, stale) : [];
        const t = Date.now();
        const c = await borg(b, ['check', '--log-json', b.repo], { timeoutMs: 24 * 3600_000, allowFail: true });
        return { ok: c.code === 0, seconds: (Date.now() - t) / 1000, said: c.stderr.trim(), cleaned };
      } finally { await lock.release(); }
    }
    case 'restore': return restoreVm(ctx, r);
    default: throw new BackupRequestError(`unknown backup action ${(r as { action: string }).action}`);
  }
}

/** Per VM of Pacemaker (and archived VMs that are gone): the last backup and its verdict; also refreshes this node's .prom file. */
export async function backupStatus(plan: AgentPlan, now = new Date()) {
  const rec = await readRecord(plan);
  const vms = vmList(await crmMon()).map((v) => v.name);
  const running = await readMarker(plan);
  await writeProm(rec);
  // a VM younger than the schedule's interval is not "missed" yet: its definition's age tells
  const ageS = async (vm: string) => stat(join(vmDir(plan, vm), `${vm}.xml`)).then((s) => (now.getTime() - s.mtimeMs) / 1000, () => undefined);
  const keys = plan.backup!.repository.startsWith('ssh://') ? await publishedSshKeys(plan) : undefined;
  return {
    repository: plan.backup!.repository, schedule: plan.backup!.schedule, ...(keys ? { sshKeys: keys } : {}),
    ...(running ? { running: { node: running.node, what: running.what, since: running.startedAt, progress: running.progress } } : {}),
    vms: await Promise.all(vms.map(async (vm) => ({ ...backupVerdict(vm, rec.vms[vm], plan.backup!, now, await ageS(vm)), ...(rec.vms[vm] ? { last: rec.vms[vm].last, lastOk: rec.vms[vm].lastOk } : {}) }))),
  };
}
