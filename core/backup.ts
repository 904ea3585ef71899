// Backups of the cluster's VMs into one BorgBackup repository: what cluster.yaml says (`backup:`),
// the names of archives, when a backup counts as missed, and the repository passphrase. Pure,
// shared by the builder (validate, plan, `backup` from the admin machine) and the agent (runner).
import { hkdfSync } from 'node:crypto';

/** systemd OnCalendar shortcuts and how often they fire (seconds). */
const SHORTCUTS: Record<string, number> = {
  minutely: 60, hourly: 3600, daily: 86_400, weekly: 7 * 86_400, monthly: 31 * 86_400,
  quarterly: 92 * 86_400, semiannually: 184 * 86_400, yearly: 366 * 86_400, annually: 366 * 86_400,
};

export interface Retention { daily: number; weekly: number; monthly: number }

/** The how-to's `borg prune --keep-daily=7 --keep-weekly=4 --keep-monthly=12`. */
export const DEFAULT_RETENTION: Retention = { daily: 7, weekly: 4, monthly: 12 };
export const DEFAULT_SCHEDULE = 'daily';

export interface BackupPlan {
  /** A directory on a replicated volume (/mnt/gv1/backup) or ssh://user@host[:port]/path. */
  repository: string;
  /** systemd OnCalendar expression of the timer. */
  schedule: string;
  /** How often the schedule fires (s): a VM whose last good backup is older than this plus GRACE is "missed". */
  intervalS: number;
  retention: Retention;
  encryption: 'repokey' | 'repokey-blake2';
  /** rclone destination (remote:path) the repository is synced to after each run. */
  offsite?: string;
}

/** Slack on top of the schedule before a backup counts as missed (a run takes time; the timer is randomized). */
export const GRACE_S = 6 * 3600;

/**
 * How often an OnCalendar expression fires, for the missed-backup rule; undefined when we cannot
 * tell (validate then warns and the daily interval is used). Covers the shortcuts and the usual
 * `[Weekday] *-*-* HH:MM[:SS]` forms; anything else is left to systemd.
 */
export function scheduleIntervalS(schedule: string): number | undefined {
  const s = schedule.trim().toLowerCase();
  if (SHORTCUTS[s]) return SHORTCUTS[s];
  const m = /^(?:([a-z]{3}(?:[.,-]+[a-z]{3})*)\s+)?(\*-\*-\*|\*-\*-\d{1,2})?\s*(\*|\d{1,2}(?:,\d{1,2})*)(?:\/(\d+))?:(\d{1,2}|\*)(?::\d{1,2})?$/.exec(s);
  if (!m) return undefined;
  const [, days, date, hour, step, minute] = m;
  if (minute === '*') return 60;
  if (date && /\d$/.test(date)) return 31 * 86_400; // a day of each month
  if (step) return Number(step) * 3600;
  if (hour === '*') return 3600;
  const perDay = hour.split(',').length;
  if (days) {
    const n = days.includes('..') || days.includes('-') ? 5 : days.split(',').length; // Mon..Fri: the weekend is the longest gap
    return (n >= 5 ? 3 : Math.ceil(7 / n)) * 86_400 / perDay;
  }
  return 86_400 / perDay;
}

/** Only the characters OnCalendar uses: the value ends up in a unit file. */
export function checkSchedule(s: string): string | undefined {
  if (!s.trim()) return 'is empty (allowed: a systemd OnCalendar expression such as daily or *-*-* 02:30)';
  if (!/^[A-Za-z0-9*,./:~ -]+$/.test(s)) return `'${s}' is not a systemd OnCalendar expression (allowed: letters, digits and * , . / : ~ -, e.g. daily or Mon *-*-* 03:00)`;
  return undefined;
}

export const SSH_REPO = /^ssh:\/\/([a-z_][a-z0-9_-]*)@([a-zA-Z0-9.-]+)(?::(\d{1,5}))?(\/.+)$/;

/** Archive names: VM name (no dot in it: VM_NAME), a dot, the UTC time — `-a 'NAME.*'` is exactly one VM's archives. */
export function archiveName(vm: string, at: Date): string {
  return `${vm}.${at.toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '')}`;
}

export function parseArchiveName(name: string): { vm: string; at: Date } | undefined {
  const m = /^([a-z0-9][a-z0-9-]{0,62})\.(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(name);
  if (!m) return undefined;
  return { vm: m[1], at: new Date(Date.UTC(+m[2], +m[3] - 1, +m[4], +m[5], +m[6], +m[7])) };
}

/** How a VM's point in time was taken (shown in status). */
export type BackupMethod =
  | 'gluster-snapshot'            // one gluster snapshot of gv0 for every VM of the run, crash-consistent
  | 'gluster-snapshot-quiesced'   // the same, the guest frozen by qemu-guest-agent around it: filesystem-consistent
  | 'libvirt-snapshot'            // external disk-only snapshot, crash-consistent
  | 'libvirt-snapshot-quiesced'   // the same with qemu-guest-agent freeze/thaw: filesystem-consistent
  | 'stopped-vm';                 // the VM was not running: its disk was read as it is

export interface VmBackupResult {
  vm: string; ok: boolean; at: string; seconds: number;
  archive?: string; method?: BackupMethod; node?: string;
  /** The gluster snapshot the VM was read from (method gluster-snapshot*). */
  snapshot?: string;
  /** Why a per-VM method ran where the gluster snapshot would have (thin bricks): degraded volume, create failed. */
  fallback?: string;
  /** Bytes of the disk read, and bytes this archive added to the repository (after dedup + compression). */
  originalBytes?: number; addedBytes?: number;
  error?: string;
}

/** The shared record of backups (on gv0): the last attempt and the last success per VM. */
export interface BackupRecord { vms: Record<string, { last: VmBackupResult; lastOk?: VmBackupResult }> }

export type BackupVerdict = { vm: string; state: 'ok' | 'failed' | 'missed' | 'never'; ageS?: number; message: string };

/**
 * The rule of `status`: a VM is a problem when its last attempt failed, when its last good backup
 * is older than the schedule's interval plus GRACE_S, or when it never had one and exists for longer
 * than that (a VM created an hour ago is not "missed").
 */
export function backupVerdict(vm: string, rec: BackupRecord['vms'][string] | undefined, plan: Pick<BackupPlan, 'intervalS'>, now: Date, vmAgeS?: number): BackupVerdict {
  const limit = plan.intervalS + GRACE_S;
  const age = (iso: string) => Math.max(0, Math.round((now.getTime() - Date.parse(iso)) / 1000));
  if (!rec?.lastOk) {
    if (rec && !rec.last.ok) return { vm, state: 'failed', ageS: age(rec.last.at), message: `backup FAILED ${fmtAge(age(rec.last.at))} ago: ${rec.last.error ?? 'unknown error'}; no good backup yet` };
    if (vmAgeS === undefined || vmAgeS > limit) return { vm, state: 'never', message: 'NO BACKUP yet' };
    return { vm, state: 'ok', message: 'no backup yet (new VM)' };
  }
  const ok = rec.lastOk;
  const a = age(ok.at);
  const what = `last backup ${fmtAge(a)} ago (${ok.archive}, ${ok.method}${ok.fallback ? `: no gluster snapshot, ${ok.fallback}` : ''})`;
  if (!rec.last.ok) return { vm, state: 'failed', ageS: a, message: `backup FAILED ${fmtAge(age(rec.last.at))} ago: ${rec.last.error ?? 'unknown error'}; ${what}` };
  if (a > limit) return { vm, state: 'missed', ageS: a, message: `backup MISSED: ${what}, the schedule wants one every ${fmtAge(plan.intervalS)}` };
  return { vm, state: 'ok', ageS: a, message: what };
}

export function fmtAge(s: number): string {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 2 * 86_400) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

/**
 * The repository passphrase: HKDF of the join key, which both the nodes (join.key) and the
 * admin (from cluster.yaml's secret) have — nothing is stored for it, in an image or elsewhere.
 */
export function backupPassphrase(joinKeyHex: string, cluster: string): string {
  return Buffer.from(hkdfSync('sha256', Buffer.from(joinKeyHex, 'hex'), Buffer.from(`personal-cloud/${cluster}`), 'pc1 borg-passphrase', 32)).toString('base64url');
}

/** The Prometheus textfile collector's view: last success per VM (what node-exporter publishes). */
export function promText(rec: BackupRecord): string {
  const lines = [
    '# HELP personal_cloud_backup_last_success_timestamp_seconds Time of the last successful backup of a VM.',
    '# TYPE personal_cloud_backup_last_success_timestamp_seconds gauge',
    ...Object.entries(rec.vms).filter(([, r]) => r.lastOk).sort(([a], [b]) => a.localeCompare(b))
      .map(([vm, r]) => `personal_cloud_backup_last_success_timestamp_seconds{vm="${vm}"} ${Math.round(Date.parse(r.lastOk!.at) / 1000)}`),
    '# HELP personal_cloud_backup_last_ok Whether the last backup attempt of a VM succeeded (1) or failed (0).',
    '# TYPE personal_cloud_backup_last_ok gauge',
    ...Object.entries(rec.vms).sort(([a], [b]) => a.localeCompare(b)).map(([vm, r]) => `personal_cloud_backup_last_ok{vm="${vm}"} ${r.last.ok ? 1 : 0}`),
    '# HELP personal_cloud_backup_last_success_method How the last successful backup of a VM took its point in time (always 1; the method is the label).',
    '# TYPE personal_cloud_backup_last_success_method gauge',
    ...Object.entries(rec.vms).filter(([, r]) => r.lastOk?.method).sort(([a], [b]) => a.localeCompare(b))
      .map(([vm, r]) => `personal_cloud_backup_last_success_method{vm="${vm}",method="${r.lastOk!.method}"} 1`),
  ];
  return `${lines.join('\n')}\n`;
}

/** The `backup` operation of the agents' channel. */
export type BackupRequest =
  | { action: 'now'; vms: string[] }
  | { action: 'list'; vm?: string }
  | { action: 'verify' }
  | { action: 'status' }
  | { action: 'progress' }
  | { action: 'restore'; vm: string; at?: string; as?: string; opTimeoutS?: number };

export interface ArchiveInfo { name: string; vm: string; time: string; comment?: string }
