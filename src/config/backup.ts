// cluster.yaml's `backup:` section: where the BorgBackup repository lives, when the timer runs,
// what prune keeps, and an optional rclone copy offsite. Absent: no backups (status says so).
import type { Node } from 'yaml';
import type { BackupConfig, VolumeConfig, VolumeName } from '../../core/config-types.js';
import { checkSchedule, DEFAULT_RETENTION, DEFAULT_SCHEDULE, scheduleIntervalS, SSH_REPO } from '../../core/backup.js';
import type { Reader } from './yaml-reader.js';

export const BACKUP_KEYS = {
  backup: ['repository', 'schedule', 'retention', 'encryption', 'offsite'],
  retention: ['keep_daily', 'keep_weekly', 'keep_monthly'],
} as const;

const ENCRYPTIONS = ['repokey', 'repokey-blake2'] as const;
const REPLICATED: VolumeName[] = ['gv0', 'gv1'];

export function readBackup(r: Reader, node: Node | undefined, volumes: Record<VolumeName, VolumeConfig> | undefined): BackupConfig | undefined | null {
  if (!node) return null;
  const m = r.map(node, 'backup', BACKUP_KEYS.backup);
  if (!m) return undefined;
  const before = r.errors.length;
  const repoNode = r.required(m, node, 'backup', 'repository', 'a directory on a replicated volume such as /mnt/gv1/backup, or ssh://user@host/path');
  const repository = repoNode && r.string(repoNode, 'backup.repository', 'a directory on a replicated volume, or ssh://user@host/path');
  if (repoNode && repository !== undefined) {
    if (repository.startsWith('ssh://')) {
      const port = SSH_REPO.exec(repository)?.[3];
      if (!SSH_REPO.test(repository)) r.error(repoNode, 'backup.repository', `'${repository}' is not an ssh repository (allowed: ssh://user@host/path or ssh://user@host:port/path)`);
      else if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) r.error(repoNode, 'backup.repository', `'${repository}' names port ${port} (allowed: 1 to 65535)`);
    } else if (!repository.startsWith('/')) {
      r.error(repoNode, 'backup.repository', `'${repository}' is neither an absolute path nor ssh://user@host/path`);
    } else {
      const enabled = REPLICATED.filter((v) => volumes?.[v]?.enabled);
      const vol = enabled.find((v) => repository.startsWith(`/mnt/${v}/`) && repository.length > `/mnt/${v}/`.length);
      if (repository.split('/').includes('..')) r.error(repoNode, 'backup.repository', `'${repository}' must not contain ..`);
      else if (!vol) r.error(repoNode, 'backup.repository', `'${repository}' is not on an enabled replicated volume (allowed: a directory under ${enabled.map((v) => `/mnt/${v}/`).join(' or ') || 'an enabled gv0 or gv1'}): every node must reach it`);
      else if (repository.startsWith('/mnt/gv0/vm/') || repository === '/mnt/gv0/vm') r.error(repoNode, 'backup.repository', `'${repository}' is inside the VM folder /mnt/gv0/vm: use e.g. /mnt/gv1/backup`);
      else if (vol === 'gv0') r.warn(repoNode, 'backup.repository', 'the repository is on gv0, the volume of the VM disks themselves: losing gv0 loses the backups too (gv1 or an offsite copy protects against that)');
    }
  }
  const schedNode = m.get('schedule')?.value;
  const schedule = schedNode ? r.string(schedNode, 'backup.schedule', 'a systemd OnCalendar expression such as daily or *-*-* 02:30') : DEFAULT_SCHEDULE;
  let intervalS = 86_400;
  if (schedNode && schedule !== undefined) {
    const bad = checkSchedule(schedule);
    if (bad) r.error(schedNode, 'backup.schedule', bad);
    else {
      const i = scheduleIntervalS(schedule);
      if (i === undefined) r.warn(schedNode, 'backup.schedule', `cannot tell how often '${schedule}' runs: status reports a VM's backup as missed after a day (plus grace); systemd checks the expression itself on the nodes`);
      else if (i < 3600) r.error(schedNode, 'backup.schedule', `'${schedule}' runs more than once an hour: a backup run reads every VM disk (allowed: hourly or less often)`);
      else intervalS = i;
    }
  }
  const retention = { ...DEFAULT_RETENTION };
  const retNode = m.get('retention')?.value;
  if (retNode) {
    const rm = r.map(retNode, 'backup.retention', BACKUP_KEYS.retention);
    if (rm) {
      for (const [k, f] of [['keep_daily', 'daily'], ['keep_weekly', 'weekly'], ['keep_monthly', 'monthly']] as const) {
        const n = rm.get(k)?.value;
        if (n) { const v = r.integer(n, `backup.retention.${k}`, 0, 1000); if (v !== undefined) retention[f] = v; }
      }
      if (retention.daily + retention.weekly + retention.monthly === 0) r.error(retNode, 'backup.retention', 'keeps nothing: prune would delete every archive (allowed: at least one of keep_daily, keep_weekly, keep_monthly above 0)');
    }
  }
  const encNode = m.get('encryption')?.value;
  const encryption = encNode ? r.oneOf(encNode, 'backup.encryption', [...ENCRYPTIONS]) : 'repokey';
  const offNode = m.get('offsite')?.value;
  let offsite: string | undefined;
  if (offNode) {
    offsite = r.string(offNode, 'backup.offsite', 'an rclone destination such as b2:my-bucket/cluster');
    if (offsite !== undefined && !/^[A-Za-z0-9_.-]+:[^\s]*$/.test(offsite)) offsite = r.error(offNode, 'backup.offsite', `'${offsite}' is not an rclone destination (allowed: remote:path, e.g. b2:my-bucket/cluster; the remote is set up in /etc/personal-cloud/rclone.conf on the nodes)`);
  }
  if (r.errors.length !== before || repository === undefined || schedule === undefined || !encryption) return undefined;
  return { repository, schedule, intervalS, retention, encryption, ...(offsite ? { offsite } : {}) };
}
