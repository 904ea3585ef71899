// The backup schedule as a systemd timer on every node (backup.schedule in cluster.yaml): each
// node's timer starts `personal-cloud-agent backup-run --scheduled`, and only the first online
// Pacemaker node runs the backup (firstboot/backup/run-cli.ts) — one runner, and another when
// that node is down. KillMode=control-group: a stopped or failed service takes borg with it.
import { unlink } from 'node:fs/promises';
import type { AgentPlan } from '../../core/plan-types.js';
import { AGENT_SCRIPT_PATH } from '../../core/paths.js';
import { run } from '../exec.js';
import { readText, writeDurable } from '../fsx.js';
import { log } from '../log.js';
import { underSystemd } from '../ha/procs.js';
import { done, todo, type Step } from './step.js';
import { ensureSshKey, sshKeyPublished, wantsSshKey } from '../backup/ssh-key.js';

export const BACKUP_SERVICE = '/etc/systemd/system/personal-cloud-backup.service';
export const BACKUP_TIMER = '/etc/systemd/system/personal-cloud-backup.timer';

/** The unit files for a plan, or null when it has no backups. Pure. */
export function backupUnits(plan: AgentPlan): { service: string; timer: string } | null {
  if (!plan.backup || !plan.ha?.enabled) return null;
  return {
    service: `# Written by personal-cloud-agent: VM backups into ${plan.backup.repository} (BorgBackup).
[Unit]
Description=personal-cloud VM backups (runs on one node: the first online Pacemaker node)
After=personal-cloud-agent.service remote-fs.target network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/bin/node ${AGENT_SCRIPT_PATH} backup-run --scheduled
KillMode=control-group
Nice=10
IOSchedulingClass=idle
`,
    timer: `# Written by personal-cloud-agent: backup.schedule of cluster.yaml.
[Unit]
Description=personal-cloud VM backups (${plan.backup.schedule})

[Timer]
OnCalendar=${plan.backup.schedule}
Persistent=true
RandomizedDelaySec=5min

[Install]
WantedBy=timers.target
`,
  };
}

export interface BackupTimerSeen { service: string | null; timer: string | null; sshKey?: boolean }
export type BackupTimerAction = { do: 'write' | 'remove' | 'ssh-key' };

export const backupTimerStep: Step<BackupTimerSeen, BackupTimerAction> = {
  name: 'backup-timer',
  loop: 'virt',
  async observe(ctx) {
    return { service: await readText(BACKUP_SERVICE), timer: await readText(BACKUP_TIMER), ...(wantsSshKey(ctx.plan) ? { sshKey: await sshKeyPublished(ctx.plan, ctx.self.name, ctx.env.stateDir) } : {}) };
  },
  plan(ctx, seen) {
    const want = backupUnits(ctx.plan);
    if (!want) return seen.service !== null || seen.timer !== null ? todo([{ do: 'remove' }], 'backups no longer configured: timer to remove') : done('no backups configured (no backup: section in cluster.yaml)');
    if (seen.service !== want.service || seen.timer !== want.timer) return todo([{ do: 'write' }], `backup timer to install (${ctx.plan.backup!.schedule})`);
    if (seen.sshKey === false) return todo([{ do: 'ssh-key' }], 'ssh key for the backup repository to make and publish');
    return done(`timer ${ctx.plan.backup!.schedule} → ${ctx.plan.backup!.repository} (the first online Pacemaker node runs it)`);
  },
  async apply(ctx, actions) {
    const sd = underSystemd();
    if (actions.some((a) => a.do === 'remove')) {
      if (sd) await run('systemctl', ['disable', '--now', 'personal-cloud-backup.timer'], { allowFail: true });
      await unlink(BACKUP_SERVICE).catch(() => undefined);
      await unlink(BACKUP_TIMER).catch(() => undefined);
      if (sd) await run('systemctl', ['daemon-reload'], { allowFail: true });
      return;
    }
    if (actions.some((a) => a.do === 'ssh-key')) {
      const said = await ensureSshKey(ctx.plan, ctx.self.name, ctx.env.stateDir);
      if (said) log.info(`backup: ${said}`);
      return;
    }
    const want = backupUnits(ctx.plan)!;
    await writeDurable(BACKUP_SERVICE, want.service, 0o644);
    await writeDurable(BACKUP_TIMER, want.timer, 0o644);
    log.info(`backup: timer installed (${ctx.plan.backup!.schedule})`);
    if (sd) {
      await run('systemctl', ['daemon-reload']);
      await run('systemctl', ['enable', '--now', 'personal-cloud-backup.timer']);
    }
  },
};
