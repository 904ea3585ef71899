// The pure rules of VM backups (core/backup.ts): how often a schedule fires, when a backup is
// missed or failed, archive names, the derived passphrase, the Prometheus text.
import { describe, expect, it } from 'vitest';
import { archiveName, backupPassphrase, backupVerdict, GRACE_S, parseArchiveName, promText, scheduleIntervalS, type BackupRecord, type VmBackupResult } from '../core/backup.js';
import { deriveJoinKey } from '../src/plan/keys.js';

describe('schedule interval (for the missed-backup rule)', () => {
  it.each([
    ['daily', 86_400], ['hourly', 3600], ['weekly', 604_800], ['Daily', 86_400],
    ['*-*-* 02:30', 86_400], ['*-*-* 02,14:00', 43_200], ['*-*-* *:00', 3600], ['*-*-* 00/6:00', 21_600],
    ['Mon *-*-* 03:00', 604_800], ['Mon,Thu *-*-* 03:00', 4 * 86_400], ['Mon..Fri *-*-* 22:00', 3 * 86_400], ['02:30', 86_400],
    ['*-*-01 04:00', 31 * 86_400], ['*-*-* *:*', 60],
  ])('%s → %i s', (s, n) => expect(scheduleIntervalS(s)).toBe(n));
  it('leaves what it cannot read to systemd', () => {
    expect(scheduleIntervalS('2026-12-24 18:00')).toBeUndefined();
    expect(scheduleIntervalS('Sat 2026..2030-*-* 1:00')).toBeUndefined();
  });
});

describe('archive names', () => {
  it('are VM.UTC-time and parse back', () => {
    const at = new Date('2026-12-07T18:30:05.123Z');
    const n = archiveName('web-1', at);
    expect(n).toBe('web-1.20261207T183005Z');
    expect(parseArchiveName(n)).toEqual({ vm: 'web-1', at: new Date('2026-12-07T18:30:05Z') });
    expect(parseArchiveName('web-1.checkpoint')).toBeUndefined();
    expect(parseArchiveName('Web.20261207T183005Z')).toBeUndefined();
  });
});

describe('backup verdict (status)', () => {
  const now = new Date('2026-12-07T12:00:00Z');
  const plan = { intervalS: 86_400 };
  const res = (hoursAgo: number, ok: boolean): VmBackupResult => ({ vm: 'a', ok, at: new Date(now.getTime() - hoursAgo * 3600_000).toISOString(), seconds: 3, archive: 'a.x', method: 'libvirt-snapshot', ...(ok ? {} : { error: 'borg: disk full' }) });
  it('a recent good backup is ok', () => {
    const v = backupVerdict('a', { last: res(2, true), lastOk: res(2, true) }, plan, now);
    expect(v.state).toBe('ok');
    expect(v.message).toBe('last backup 2 h ago (a.x, libvirt-snapshot)');
  });
  it('older than the interval plus grace is missed, just under is not', () => {
    const limitH = (86_400 + GRACE_S) / 3600;
    expect(backupVerdict('a', { last: res(limitH - 0.1, true), lastOk: res(limitH - 0.1, true) }, plan, now).state).toBe('ok');
    const v = backupVerdict('a', { last: res(limitH + 0.1, true), lastOk: res(limitH + 0.1, true) }, plan, now);
    expect(v.state).toBe('missed');
    expect(v.message).toMatch(/^backup MISSED: last backup 30 h ago .* every 24 h$/);
  });
  it('a failed last attempt is loud even with an older good one', () => {
    const v = backupVerdict('a', { last: res(1, false), lastOk: res(20, true) }, plan, now);
    expect(v.state).toBe('failed');
    expect(v.message).toBe('backup FAILED 60 min ago: borg: disk full; last backup 20 h ago (a.x, libvirt-snapshot)');
  });
  it('never backed up: a problem unless the VM is new', () => {
    expect(backupVerdict('a', undefined, plan, now).state).toBe('never');
    expect(backupVerdict('a', undefined, plan, now, 3600).state).toBe('ok');
    expect(backupVerdict('a', undefined, plan, now, 86_400 + GRACE_S + 1).state).toBe('never');
    expect(backupVerdict('a', { last: res(1, false) }, plan, now).state).toBe('failed');
  });
});

describe('passphrase', () => {
  it('is derived from the join key: the same from cluster.yaml and on a node, different per cluster, not the key', () => {
    const k = deriveJoinKey('pcs1_wJ8kw9iyBVLfeTN7WgsAXk4_TEfjzS21Dh_gJPk63Bw', 'homelab');
    const p = backupPassphrase(k, 'homelab');
    expect(p).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(backupPassphrase(k, 'homelab')).toBe(p);
    expect(backupPassphrase(k, 'other')).not.toBe(p);
    expect(p).not.toContain(k.slice(0, 16));
  });
});

describe('Prometheus textfile', () => {
  it('has the last success per VM and whether the last attempt worked', () => {
    const rec: BackupRecord = { vms: {
      b: { last: { vm: 'b', ok: false, at: '2026-12-07T10:00:00Z', seconds: 1, error: 'x' } },
      a: { last: { vm: 'a', ok: true, at: '2026-12-07T10:00:00Z', seconds: 1 }, lastOk: { vm: 'a', ok: true, at: '2026-12-07T10:00:00Z', seconds: 1 } },
    } };
    const t = promText(rec);
    expect(t).toContain('personal_cloud_backup_last_success_timestamp_seconds{vm="a"} 1796637600\n');
    expect(t).not.toContain('last_success_timestamp_seconds{vm="b"}');
    expect(t).toContain('personal_cloud_backup_last_ok{vm="a"} 1\npersonal_cloud_backup_last_ok{vm="b"} 0\n');
  });
});

describe('backup timer units', () => {
  it('run the agent\'s scheduled runner on the configured calendar; installed units are left alone', async () => {
    const { backupTimerStep, backupUnits } = await import('../firstboot/steps/backup-timer.js');
    const { planFor, testConfig } = await import('./harness/plan.js');
    const cfg = testConfig([{ name: 'node1', hostPart: 11, gv0: ['/dev/vdb'] }, { name: 'node2', hostPart: 12, gv0: ['/dev/vdb'] }, { name: 'node3', hostPart: 13, gv0: ['/dev/vdb'] }]);
    cfg.ha = { enabled: true, fencing: { kind: 'none-unsafe' }, bridges: [] };
    cfg.backup = { repository: '/mnt/gv0/backup', schedule: 'Mon *-*-* 03:00', intervalS: 604_800, retention: { daily: 7, weekly: 4, monthly: 12 }, encryption: 'repokey' };
    const { plan } = planFor(cfg);
    const u = backupUnits(plan)!;
    expect(u.timer).toMatch(/^OnCalendar=Mon \*-\*-\* 03:00$/m);
    expect(u.timer).toMatch(/^Persistent=true$/m);
    expect(u.service).toMatch(/^ExecStart=\/usr\/bin\/node \/usr\/lib\/personal-cloud\/personal-cloud-agent\.mjs backup-run --scheduled$/m);
    expect(u.service).toMatch(/^KillMode=control-group$/m);
    const d = backupTimerStep.plan({ plan } as never, { service: u.service, timer: u.timer });
    expect(d).toEqual({ actions: [], detail: 'timer Mon *-*-* 03:00 → /mnt/gv0/backup (the first online Pacemaker node runs it)' });
    expect(backupUnits({ ...plan, ha: { ...plan.ha!, enabled: false } })).toBeNull();
  });
});

describe('restore: the definition of a copy', () => {
  it('gets the new name, no UUID or MAC of the original, paths in its own folder', async () => {
    const { renameDomainXml } = await import('../firstboot/backup/restore.js');
    const xml = `<domain type='qemu'>\n  <name>web</name>\n  <uuid>0f3c…</uuid>\n  <devices>\n    <disk type='file' device='disk'><source file='/mnt/gv0/vm/web/disk.qcow2'/><target dev='vda'/></disk>\n    <interface type='network'><mac address='52:54:00:aa:bb:cc'/><source network='lab2'/></interface>\n    <serial type='file'><source path='/var/log/libvirt/qemu/web-serial.log'/></serial>\n    <disk type='file' device='disk'><source file='/mnt/gv0/vm/webfarm/disk.qcow2'/></disk>\n  </devices>\n</domain>\n`;
    const out = renameDomainXml(xml, { from: 'web', to: 'web-copy', vmRoot: '/mnt/gv0/vm' });
    expect(out).toContain('<name>web-copy</name>');
    expect(out).not.toContain('<uuid>');
    expect(out).not.toContain('52:54:00:aa:bb:cc');
    expect(out).toContain("<source file='/mnt/gv0/vm/web-copy/disk.qcow2'/>");
    expect(out).toContain("/var/log/libvirt/qemu/web-copy-serial.log");
    expect(out).toContain('/mnt/gv0/vm/webfarm/disk.qcow2'); // another VM's folder of a similar name is not touched
    expect(renameDomainXml(xml, { from: 'web', to: 'web', vmRoot: '/mnt/gv0/vm' })).toBe(xml);
  });
});
