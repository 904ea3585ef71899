// The backup stage of `make e2e` (scripts/e2e.ts), after HA is ready: with gv0's bricks on thin
// LVM the agent takes its backups through one Gluster snapshot. From the admin machine, through
// the agent API: `backup now` (must say gluster-snapshot), `backup list`, `backup verify`,
// `restore e2e-test --as e2e-copy`; on the nodes: no gluster snapshot and no snapshot mount left,
// the restored disk's md5 equal to the archived one (borg extract --stdout on the node that holds
// the derived passphrase file; the passphrase itself never leaves it); then a runner SIGKILLed
// while its snapshot is mounted, and the next run (on that node) must remove both and say so.
import { execa } from 'execa';
import { AGENT_SCRIPT_PATH as AGENT, CLI_WRAPPER as NODE_CLI } from '../../core/paths.js';
import type { PrivateNet } from './netns.js';
import type { NodeShell } from './ssh.js';

export interface BackupFigures {
  ok: boolean;
  /** Wall time of `backup now` from the admin machine, and what the runner said. */
  backupSeconds?: number; snapshotSeconds?: number; snapshotCreateSeconds?: number; vmSeconds?: number; method?: string; snapshot?: string; runner?: string;
  originalMB?: number; addedMB?: number; repoMB?: number;
  verifySeconds?: number; restoreSeconds?: number; copyRole?: string; copyStartedSeconds?: number;
  md5?: { archive: string; copy: string };
  /** The runner SIGKILLed while its snapshot was mounted, and the next run's cleanup. */
  killed?: { left: string; nextSeconds?: number; cleaned?: string[] };
  secondAddedMB?: number; secondSeconds?: number;
  loadavg?: string;
  problems: string[];
}


interface Res { method?: string; ok: boolean; seconds: number; archive?: string; node?: string; snapshot?: string; originalBytes?: number; addedBytes?: number; error?: string }

export async function backupStage(o: {
  net: PrivateNet; config: string; cli: string; shells: Record<string, NodeShell>; vm: string; copy: string; say: (m: string) => void; startWaitMs: number;
}): Promise<BackupFigures> {
  const { net, config, shells, say } = o;
  const f: BackupFigures = { ok: false, problems: [] };
  const cli = async (args: string[], timeout = 1_800_000) => {
    const [cmd, ...rest] = net.exec(['node', o.cli, ...args, '--config', config, '--json']);
    const r = await execa(cmd, rest, { reject: false, timeout });
    let data: unknown;
    try { data = JSON.parse(String(r.stdout)); } catch { /* below */ }
    return { code: r.exitCode, data, err: String(r.stderr).trim() };
  };
  const fail = (m: string) => { f.problems.push(m); say(`backup stage: ${m}`); };
  const node1 = shells.node1;

  const t0 = Date.now();
  const now = await cli(['backup', 'now', o.vm]);
  f.backupSeconds = (Date.now() - t0) / 1000;
  f.loadavg = (await node1.tryRoot('cat /proc/loadavg')).out.trim();
  const run = now.data as { node: string; cleaned: string[]; pointInTime?: { method: string; snapshot?: string; seconds?: number; createSeconds?: number; why?: string }; results: Res[]; problems: string[] } | undefined;
  if (now.code !== 0 || !run) { fail(`backup now failed (exit ${now.code}): ${now.err.slice(-600)}`); return f; }
  const r = run.results.find((x) => x.archive && x.ok);
  f.runner = run.node;
  f.method = r?.method;
  f.snapshot = run.pointInTime?.snapshot;
  f.snapshotSeconds = run.pointInTime?.seconds;
  f.snapshotCreateSeconds = run.pointInTime?.createSeconds;
  f.vmSeconds = r?.seconds;
  f.originalMB = (r?.originalBytes ?? 0) / 1e6;
  f.addedMB = (r?.addedBytes ?? 0) / 1e6;
  say(`backup now: ${f.backupSeconds.toFixed(1)} s from the admin machine on ${run.node}; point in time ${JSON.stringify(run.pointInTime)}; ${JSON.stringify(run.results)}${run.cleaned.length ? `; cleaned: ${run.cleaned.join('; ')}` : ''}${run.problems.length ? `; problems: ${run.problems.join('; ')}` : ''}`);
  if (run.pointInTime?.method !== 'gluster-snapshot' || !r || !/^gluster-snapshot/.test(r.method ?? '')) fail(`the backup did not use the gluster snapshot: ${JSON.stringify(run.pointInTime)} ${JSON.stringify(run.results)}`);
  if (!r) return f;

  const list = await cli(['backup', 'list', o.vm], 600_000);
  const archives = (list.data as { name: string }[] | undefined) ?? [];
  if (list.code !== 0 || !archives.some((a) => a.name === r.archive)) fail(`backup list ${o.vm} does not show ${r.archive} (exit ${list.code}): ${JSON.stringify(list.data)} ${list.err.slice(-300)}`);

  // nothing of the snapshot left: gluster's list is cluster-wide; the mount would be on the runner, looked for everywhere
  const snaps = (await node1.tryRoot('gluster snapshot list gv0', 120_000)).out.trim();
  if (!/^No snapshots present/i.test(snaps)) fail(`gluster snapshots left after the run: ${snaps}`);
  for (const [name, sh] of Object.entries(shells)) {
    const m = (await sh.tryRoot('grep -c " /run/personal-cloud/backup-snap" /proc/mounts')).out.trim();
    if (m !== '0') fail(`${name}: a snapshot mount is left (${m} in /proc/mounts)`);
  }
  const runnerShell = shells[run.node] ?? node1;
  f.repoMB = Number((await runnerShell.root('du -sb /mnt/gv0/backup | cut -f1')).trim()) / 1e6;

  const tv = Date.now();
  const verify = await cli(['backup', 'verify']);
  f.verifySeconds = (Date.now() - tv) / 1000;
  if (verify.code !== 0 || !(verify.data as { ok?: boolean } | undefined)?.ok) fail(`backup verify failed (exit ${verify.code}): ${JSON.stringify(verify.data)} ${verify.err.slice(-300)}`);

  const tr = Date.now();
  const restore = await cli(['restore', o.vm, '--as', o.copy, '--op-timeout', '900']);
  f.restoreSeconds = (Date.now() - tr) / 1000;
  if (restore.code !== 0) { fail(`restore ${o.vm} --as ${o.copy} failed (exit ${restore.code}): ${restore.err.slice(-600)}`); return f; }
  say(`restore --as ${o.copy}: ${f.restoreSeconds.toFixed(1)} s: ${JSON.stringify(restore.data)}`);
  const defined = await runnerShell.tryRoot(`virsh list --all --name | grep -x ${o.copy} || ls /mnt/gv0/vm/${o.copy}/${o.copy}.xml`);
  if (defined.code !== 0) fail(`${o.copy} is not defined after the restore: ${defined.out}`);

  // the archive's disk and the copy's, byte for byte (md5): extracted on the node whose agent wrote the passphrase file
  const disk = `${o.vm}/disk.qcow2`;
  const borgEnv = 'BORG_PASSCOMMAND="cat /run/personal-cloud/borg-passphrase" BORG_BASE_DIR=$(mktemp -d) BORG_RELOCATED_REPO_ACCESS_IS_OK=yes';
  let archiveMd5 = '';
  for (const sh of [runnerShell, ...Object.values(shells)]) {
    const x = await sh.tryRoot(`test -s /run/personal-cloud/borg-passphrase && ${borgEnv} borg extract --stdout /mnt/gv0/backup::${r.archive} ${disk} | md5sum | cut -d" " -f1`, 600_000);
    if (x.code === 0 && /^[0-9a-f]{32}$/.test(x.out.trim())) { archiveMd5 = x.out.trim(); break; }
  }
  const copyMd5 = (await runnerShell.tryRoot(`md5sum /mnt/gv0/vm/${o.copy}/disk.qcow2 | cut -d" " -f1`, 300_000)).out.trim();
  f.md5 = { archive: archiveMd5, copy: copyMd5 };
  if (!archiveMd5 || archiveMd5 !== copyMd5) fail(`the copy's disk differs from the archive's: ${JSON.stringify(f.md5)}`);

  // a runner SIGKILLed (with its borg) while the snapshot is mounted: the next run must find the
  // snapshot and the mount by name/marker, remove them and say so
  const killScript = [
    `setsid sh -c 'exec /usr/bin/node ${AGENT} backup-run ${o.vm}' >/var/tmp/pc-killed-backup.log 2>&1 </dev/null & p=$!`,
    'i=0; while ! grep -q " /run/personal-cloud/backup-snap/gv0 " /proc/mounts; do i=$((i+1)); [ $i -gt 1500 ] && break; kill -0 $p 2>/dev/null || break; sleep 0.2; done',
    'kill -9 -$p; sleep 2; echo "mounts=$(grep -c " /run/personal-cloud/backup-snap" /proc/mounts)"; gluster snapshot list gv0',
  ].join('\n');
  const killed = await node1.tryRoot(killScript, 600_000);
  f.killed = { left: killed.out.trim().replace(/\s+/g, ' ') };
  say(`backup stage: runner killed on node1 while its snapshot was mounted; left: ${f.killed.left}`);
  if (!/mounts=1/.test(killed.out) || !/pc-backup-/.test(killed.out)) fail(`the kill did not land while the snapshot was mounted: ${killed.out.trim()} (${(await node1.tryRoot('tail -5 /var/tmp/pc-killed-backup.log')).out.trim()})`);
  else {
    const t2 = Date.now();
    const again = await node1.tryRoot(`${NODE_CLI} backup now ${o.vm} --json`, 1_800_000);
    f.killed.nextSeconds = (Date.now() - t2) / 1000;
    let next: { cleaned: string[]; pointInTime?: { method: string }; results: Res[] } | undefined;
    try { next = JSON.parse(again.out.slice(again.out.indexOf('{'))); } catch { /* below */ }
    if (again.code !== 0 || !next) fail(`the backup after the kill failed (exit ${again.code}): ${again.out.slice(-600)}`);
    else {
      f.killed.cleaned = next.cleaned;
      f.secondAddedMB = (next.results[0]?.addedBytes ?? 0) / 1e6;
      f.secondSeconds = next.results[0]?.seconds;
      say(`backup stage: the next run (${f.killed.nextSeconds.toFixed(1)} s) said: ${next.cleaned.join(' | ')}; ${JSON.stringify(next.results)}`);
      if (!next.cleaned.some((c) => /deleted gluster snapshot pc-backup-/.test(c)) || !next.cleaned.some((c) => /unmounted .*backup-snap/.test(c))) fail(`the run after the kill did not report removing the snapshot and its mount: ${JSON.stringify(next.cleaned)}`);
      if (next.pointInTime?.method !== 'gluster-snapshot' || !next.results[0]?.ok) fail(`the run after the kill: ${JSON.stringify(next.pointInTime)} ${JSON.stringify(next.results)}`);
      const left = (await node1.tryRoot('echo "mounts=$(grep -c " /run/personal-cloud/backup-snap" /proc/mounts)"; gluster snapshot list gv0', 120_000)).out.trim();
      if (!/mounts=0/.test(left) || /pc-backup-/.test(left)) fail(`left after the run that cleaned up: ${left}`);
    }
  }

  // Pacemaker starts the copy: a TCG guest inside a TCG node takes minutes; waited for within the stage's limit
  const ts = Date.now();
  for (;;) {
    const l = await cli(['vm', 'list'], 300_000);
    const c = ((l.data as { name: string; role: string; nodes: string[]; failed: boolean }[] | undefined) ?? []).find((x) => x.name === o.copy);
    f.copyRole = c ? `${c.role}${c.failed ? ' (FAILED)' : ''} on ${c.nodes.join(',') || 'no node'}` : 'not listed';
    if (c?.role === 'Started' && c.nodes.length === 1) { f.copyStartedSeconds = (Date.now() - ts) / 1000; break; }
    if (c?.failed) { fail(`${o.copy} failed to start: ${f.copyRole}`); break; }
    if (!c) { fail(`${o.copy} is not a Pacemaker VM after the restore`); break; }
    if (Date.now() - ts > o.startWaitMs) { say(`backup stage: ${o.copy} not started within ${o.startWaitMs / 1000} s (${f.copyRole}); the stage does not wait longer`); break; }
    await new Promise((res) => setTimeout(res, 10_000));
  }
  say(`backup stage: ${JSON.stringify(f)}`);
  f.ok = f.problems.length === 0;
  return f;
}
