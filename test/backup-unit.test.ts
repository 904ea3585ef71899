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

describe('gluster snapshot path: the decisions', () => {
  const three = [{ name: 'node1', hostPart: 11, gv0: ['/dev/vdb'] }, { name: 'node2', hostPart: 12, gv0: ['/dev/vdb'] }, { name: 'node3', hostPart: 13, gv0: ['/dev/vdb'] }];
  const planOf = async (layout: 'lvm-thin' | 'xfs') => {
    const { planFor, testConfig } = await import('./harness/plan.js');
    const cfg = testConfig(three, { layout });
    cfg.ha = { enabled: true, fencing: { kind: 'none-unsafe' }, bridges: [] };
    return planFor(cfg).plan;
  };
  it('uses it only when every gv0 brick is a thin LV, and says which are not', async () => {
    const { notThinWhy } = await import('../firstboot/backup/snapshot-plan.js');
    expect(notThinWhy(await planOf('lvm-thin'))).toBeUndefined();
    expect(notThinWhy(await planOf('xfs'))).toBe("gv0's bricks are not all on thin LVM: node1:/data/glusterfs/gv0/brick1/brick (xfs), node2:/data/glusterfs/gv0/brick1/brick (xfs), node3:/data/glusterfs/gv0/brick1/brick (xfs)");
    const p = await planOf('lvm-thin');
    p.nodes[2].bricks[0] = { ...p.nodes[2].bricks[0], arbiter: true };
    expect(notThinWhy(p)).toBe("gv0's bricks are not all on thin LVM: node3:/data/glusterfs/gv0/brick1/brick (arbiter folder)");
    expect(notThinWhy({ ...p, ha: { ...p.ha!, vmDir: '/srv/vm' } })).toBe('the VM folder /srv/vm is not on gv0');
  });
  it('refuses a degraded gv0 (a brick down or not listed), with the bricks named', async () => {
    const { degradedWhy } = await import('../firstboot/backup/snapshot-plan.js');
    const p = await planOf('lvm-thin');
    const all = p.volumes.find((v) => v.name === 'gv0')!.bricks.map((b) => ({ brick: `${b.node}:${b.path}`, online: true, pid: 100 }));
    expect(degradedWhy(p, all)).toBeUndefined();
    expect(degradedWhy(p, [all[0], { ...all[1], online: false }])).toBe('gv0 is degraded (bricks not running: node2:/data/glusterfs/gv0/brick1/brick, node3:/data/glusterfs/gv0/brick1/brick); gluster snapshots need every brick');
  });
  it('names its snapshots with a prefix, finds only those, and its mounts in /proc/mounts', async () => {
    const { snapshotName, parseSnapshotList, ourSnapshots, snapMountsIn, snapVmRoot, snapMount } = await import('../firstboot/backup/snapshot-plan.js');
    expect(snapshotName(new Date('2026-12-07T21:30:05.250Z'))).toBe('pc-backup-20261207T213005Z');
    expect(parseSnapshotList('No snapshots present\n')).toEqual([]);
    expect(ourSnapshots(parseSnapshotList('nightly_GMT-2026.12.01-02.00.00\npc-backup-20261207T213005Z\n'))).toEqual(['pc-backup-20261207T213005Z']);
    const mounts = 'node1:/gv0 /mnt/gv0 fuse.glusterfs rw 0 0\nnode1:/snaps/pc-backup-1/gv0 /run/personal-cloud/backup-snap/gv0 fuse.glusterfs ro 0 0\nx /run/personal-cloud/backup-snapshots fuse ro 0 0\nnode1:/snaps/a/gv0 /run/personal-cloud/backup-snap/with\\040space fuse.glusterfs ro 0 0\n';
    expect(snapMountsIn(mounts)).toEqual(['/run/personal-cloud/backup-snap/gv0', '/run/personal-cloud/backup-snap/with space']);
    expect(snapVmRoot(await planOf('lvm-thin'), snapMount())).toBe('/run/personal-cloud/backup-snap/gv0/vm');
  });
  it('status and Prometheus say which method ran, and why the gluster snapshot did not', () => {
    const now = new Date('2026-12-07T12:00:00Z');
    const r: VmBackupResult = { vm: 'a', ok: true, at: '2026-12-07T10:00:00Z', seconds: 3, archive: 'a.x', method: 'libvirt-snapshot', fallback: 'gv0 is degraded (bricks not running: node2:/b); gluster snapshots need every brick' };
    expect(backupVerdict('a', { last: r, lastOk: r }, { intervalS: 86_400 }, now).message).toBe('last backup 2 h ago (a.x, libvirt-snapshot: no gluster snapshot, gv0 is degraded (bricks not running: node2:/b); gluster snapshots need every brick)');
    const g: VmBackupResult = { vm: 'b', ok: true, at: '2026-12-07T10:00:00Z', seconds: 3, archive: 'b.x', method: 'gluster-snapshot-quiesced', snapshot: 'pc-backup-20261207T100000Z' };
    expect(backupVerdict('b', { last: g, lastOk: g }, { intervalS: 86_400 }, now).message).toBe('last backup 2 h ago (b.x, gluster-snapshot-quiesced)');
    expect(promText({ vms: { a: { last: r, lastOk: r }, b: { last: g, lastOk: g } } })).toContain('personal_cloud_backup_last_success_method{vm="a",method="libvirt-snapshot"} 1\npersonal_cloud_backup_last_success_method{vm="b",method="gluster-snapshot-quiesced"} 1\n');
  });
  it('backup now says how the point in time was taken', async () => {
    const { formatBackup } = await import('../core/backup-cli.js');
    const res = (pointInTime: unknown) => ({ node: 'node1', cleaned: ['deleted gluster snapshot pc-backup-20261207T000000Z left by an interrupted run'], pointInTime, problems: [],
      results: [{ vm: 'a', ok: true, at: '2026-12-07T10:00:00Z', seconds: 3.04, archive: 'a.20261207T100000Z', method: 'gluster-snapshot', node: 'node1', originalBytes: 64e6, addedBytes: 2e6 }] });
    expect(formatBackup({ action: 'now', vms: [] }, res({ method: 'gluster-snapshot', snapshot: 'pc-backup-20261207T100000Z', seconds: 2.5, quiesced: ['a'] }))).toBe(
      'deleted gluster snapshot pc-backup-20261207T000000Z left by an interrupted run\npoint in time: gluster snapshot pc-backup-20261207T100000Z of gv0 (2.5 s; frozen around it: a)\na: a.20261207T100000Z (gluster-snapshot on node1), 3.0 s, 64.0 MB read, 2.0 MB added\n');
    expect(formatBackup({ action: 'now', vms: [] }, res({ method: 'per-vm', why: 'the gluster snapshot failed: gluster snapshot create: x' }))).toContain('point in time: each VM on its own (libvirt): no gluster snapshot, the gluster snapshot failed: gluster snapshot create: x\n');
  });
});

describe('ssh:// repositories: each node\'s own key', () => {
  it('is made once (0600), published for status, used by borg\'s ssh, and listed for the admin', async () => {
    const { mkdtempSync, statSync, readFileSync } = await import('node:fs');
    const { ensureSshKey, publishedSshKeys, sshKeyPath, sshKeyPublished, borgRsh, wantsSshKey } = await import('../firstboot/backup/ssh-key.js');
    const { planFor, testConfig } = await import('./harness/plan.js');
    const cfg = testConfig([{ name: 'node1', hostPart: 11, gv0: ['/dev/vdb'] }, { name: 'node2', hostPart: 12, gv0: ['/dev/vdb'] }, { name: 'node3', hostPart: 13, gv0: ['/dev/vdb'] }]);
    cfg.ha = { enabled: true, fencing: { kind: 'none-unsafe' }, bridges: [] };
    cfg.backup = { repository: 'ssh://borg@backup.example:2222/./pc', schedule: 'daily', intervalS: 86_400, retention: { daily: 7, weekly: 4, monthly: 12 }, encryption: 'repokey' };
    const tmp = mkdtempSync('/tmp/pc-sshkey-');
    const base = planFor(cfg).plan;
    const plan = { ...base, ha: { ...base.ha!, vmDir: `${tmp}/gv0/vm` } };
    expect(wantsSshKey(plan)).toBe(true);
    expect(wantsSshKey({ ...plan, backup: { ...plan.backup!, repository: '/mnt/gv0/backup' } })).toBe(false);
    const state = `${tmp}/state`;
    await expect(ensureSshKey(plan, 'node1', state)).rejects.toThrow(/gv0 not mounted yet/); // the key is made, not published into a bare mount point
    (await import('node:fs')).mkdirSync(plan.ha.vmDir, { recursive: true });
    expect(await sshKeyPublished(plan, 'node1', state)).toBe(false);
    expect(await ensureSshKey(plan, 'node1', state)).toMatch(/^published this node's backup ssh key in /);
    expect(await ensureSshKey(plan, 'node1', state)).toBeUndefined();
    expect(await sshKeyPublished(plan, 'node1', state)).toBe(true);
    expect(statSync(sshKeyPath(state)).mode & 0o777).toBe(0o600);
    const pub = readFileSync(`${sshKeyPath(state)}.pub`, 'utf8').trim();
    expect(pub).toMatch(/^ssh-ed25519 \S+ personal-cloud-backup@node1\.testcloud$/);
    await ensureSshKey(plan, 'node2', `${tmp}/state2`);
    const keys = await publishedSshKeys(plan);
    expect(Object.keys(keys)).toEqual(['node1', 'node2']);
    expect(keys.node1).toBe(pub);
    expect(borgRsh(sshKeyPath(state))).toBe(`ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -i ${state}/backup-ssh/id_ed25519 -o UserKnownHostsFile=${state}/backup-ssh/known_hosts`);
    const { formatBackupStatus } = await import('../core/backup-cli.js');
    expect(formatBackupStatus({ repository: plan.backup!.repository, schedule: 'daily', sshKeys: keys, vms: [] })).toBe(
      `backups: ssh://borg@backup.example:2222/./pc, daily\n  ssh keys to authorize on the repository host (~/.ssh/authorized_keys of its user):\n    ${pub}   # node1\n    ${keys.node2}   # node2\n  no VMs\n`);
    const { backupTimerStep } = await import('../firstboot/steps/backup-timer.js');
    const { backupUnits } = await import('../firstboot/steps/backup-timer.js');
    const u = backupUnits(plan)!;
    expect(backupTimerStep.plan({ plan } as never, { service: u.service, timer: u.timer, sshKey: false })).toMatchObject({ actions: [{ do: 'ssh-key' }] });
    (await import('node:fs')).rmSync(tmp, { recursive: true, force: true });
  });
});

describe('the run lock', () => {
  it('is gone after release even with heartbeat saves still in flight, and can be taken again', async () => {
    const { mkdtempSync, existsSync, rmSync } = await import('node:fs');
    const { RunLock } = await import('../firstboot/backup/marker.js');
    const tmp = mkdtempSync('/tmp/pc-runlock-');
    const plan = { ha: { vmDir: tmp } } as never;
    for (let round = 0; round < 5; round++) {
      const { lock } = await RunLock.acquire(plan, 'node1', 'restore of a');
      for (let i = 0; i < 5; i++) void lock.save(); // as the progress callbacks and the heartbeat timer do
      await lock.release();
      await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(`${tmp}/.backup/run.json`)).toBe(false);
    }
    const again = await RunLock.acquire(plan, 'node1', 'backup of a');
    expect(again.stale).toBeUndefined();
    await again.lock.release();
    rmSync(tmp, { recursive: true, force: true });
  });
});
