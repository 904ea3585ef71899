// VM backups with BorgBackup on three simulated nodes (namespace harness: real libvirtd/QEMU TCG
// guests, corosync, Pacemaker with fencing, Gluster on plain XFS bricks — so the per-VM libvirt
// snapshot path, not the Gluster-snapshot one). The guest runs qemu-guest-agent (agent-guest.ts),
// so the snapshots are quiesced: its filesystem frozen around them. One cluster, in order: a VM's
// disk holds known data; backup; the data is overwritten; `restore --as` brings up a copy whose disk has the
// original; restore refuses to overwrite; in place after `vm remove`; a second backup of the
// unchanged disk adds little and takes less time; a backup during a live migration restores to
// a disk that boots; the runner killed mid-backup leaves an overlay and a lock the next run cleans
// up and reports; status and the Prometheus textfile show the last backup.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RETENTION } from '../core/backup.js';
import { buildCli, HaCluster } from './harness/ha-cluster.js';
import { ensureAgentGuest, parseAgentConsole } from './harness/agent-guest.js';
import { parseConsole } from './harness/ha-guest.js';
import { sh, waitFor } from './harness/sh.js';

const NODES = ['node1', 'node2', 'node3'];
const VM = 'bk';
const REPO = '/mnt/gv0/backup';
const WORK = '/tmp/pc-ha-backup-test';
const OFFSITE = `${WORK}/offsite`;
const PAYLOAD_OFF = 1 << 20;
const PAYLOAD_MB = 160;
const DISK_MB = 192;
const BOOT = ['--kernel', '/mnt/gv0/vm/boot/vmlinuz', '--initrd', '/mnt/gv0/vm/boot/initrd.gz', '--cmdline', 'console=ttyS0 quiet panic=-1'];
let c: HaCluster;
let cli: string;
let payloadSha = '';

async function agentCli(node: string, args: string[], allowFail = false) {
  const r = await c.on(node, process.execPath, [c.h.agentPath, ...args], { allowFail: true, timeoutMs: 900_000 });
  if (r.code !== 0 && !allowFail) throw new Error(`personal-cloud-agent ${args.join(' ')} on ${node} → exit ${r.code}: ${r.stderr.trim()} ${r.stdout.trim()}`);
  return r;
}

async function pc(node: string, args: string[], allowFail = false) {
  const r = await c.on(node, process.execPath, [cli, ...args], { allowFail: true, timeoutMs: 900_000 });
  if (r.code !== 0 && !allowFail) throw new Error(`personal-cloud ${args.join(' ')} on ${node} → exit ${r.code}: ${r.stderr.trim()}`);
  return r;
}

async function where(vm: string): Promise<string> {
  return waitFor(`${vm} running on one node`, 120_000, async () => {
    const v = (JSON.parse((await pc('node1', ['vm', 'list', '--json'])).stdout) as { name: string; role: string; nodes: string[] }[]).find((x) => x.name === vm);
    return v && v.role === 'Started' && v.nodes.length === 1 ? v.nodes[0] : null;
  }, 500);
}

/** sha256 of the payload region of a VM disk, read with qemu-img (-U: the VM may be running). */
async function payloadOf(node: string, disk: string): Promise<string> {
  const raw = `${WORK}/read-${Date.now()}.raw`;
  await c.on(node, 'qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', disk, raw], { timeoutMs: 300_000 });
  const buf = readFileSync(raw).subarray(PAYLOAD_OFF, PAYLOAD_OFF + PAYLOAD_MB * 1048576);
  rmSync(raw, { force: true });
  return createHash('sha256').update(buf).digest('hex');
}

/** A copy left by a failed step would fill gv0 for the next ones. */
const dropCopies = async () => { for (const v of ['bk-copy', 'bk-mig']) await agentCli('node1', ['vm', 'remove', v, '--delete-disk'], true); };
const disksOf = async (node: string, vm: string) => (await c.on(node, 'virsh', ['-c', 'qemu:///system', 'domblklist', vm])).stdout;
const marker = async () => { const r = await c.on('node1', 'cat', ['/mnt/gv0/vm/.backup/run.json'], { allowFail: true }); return r.code === 0 ? JSON.parse(r.stdout) : null; };
const overlays = async () => (await c.on('node1', 'sh', ['-c', 'ls /mnt/gv0/vm/*/*backup-overlay* 2>/dev/null || true'])).stdout.trim();
const repoLocks = async () => (await c.on('node1', 'sh', ['-c', `ls -d ${REPO}/lock.* 2>/dev/null || true`])).stdout.trim();

describe('VM backups (borg): restore as a copy and in place, dedup, during migration, runner killed', () => {
  let first: { seconds: number; addedBytes: number; originalBytes: number };

  beforeAll(async () => {
    if ((await sh('sh', ['-c', 'command -v borg'], { allowFail: true })).code !== 0) throw new Error('borg not found (apt package borgbackup; scripts/deps.sh long)');
    mkdirSync(WORK, { recursive: true });
    const guest = await ensureAgentGuest();
    cli = await buildCli();
    if ((await sh('sh', ['-c', 'command -v rclone'], { allowFail: true })).code !== 0) throw new Error('rclone not found (apt package rclone; scripts/deps.sh long)');
    c = await HaCluster.create(NODES, { brickMB: 1400, backup: { repository: REPO, schedule: 'daily', intervalS: 86_400, retention: DEFAULT_RETENTION, encryption: 'repokey', offsite: `offsite:${OFFSITE}` } });
    // the offsite copy: a real rclone with a local-path remote (no network), as the README's rclone.conf would name a cloud one
    for (const n of NODES) writeFileSync(join(c.h.node(n).dir, 'pc-etc', 'rclone.conf'), '[offsite]\ntype = local\n', { mode: 0o600 });
    await c.start();
    await c.waitConverged('all three agents converged (gluster, virt, ha)', 420_000);
    await c.stageGuest(guest);
  }, 600_000);

  afterAll(async () => { if (process.env.PC_HA_KEEP !== '1') await c?.teardown(); rmSync(WORK, { recursive: true, force: true }); }, 180_000);

  it('a VM whose disk holds known data is backed up while it runs (libvirt snapshot), the passphrase never in clear', async () => {
    expect((await agentCli('node2', ['backup', '--help'])).stdout).toMatch(/^Usage: personal-cloud backup /);
    expect((await agentCli('node2', ['restore', '--help'])).stdout).toMatch(/^Usage: personal-cloud restore VM/);
    expect((await agentCli('node2', ['backup', 'frob'], true)).code).toBe(2);
    expect((await agentCli('node2', ['restore', 'Bad_Name'], true)).code).toBe(2);
    expect((await agentCli('node2', ['backup', 'list'], true)).stderr).toMatch(/no backup yet: the repository \/mnt\/gv0\/backup does not exist/);
    await agentCli('node1', ['vm', 'create', VM, '--memory', '128', '--disk-size', `${DISK_MB}M`, '--tcg', '--op-timeout', '20', ...BOOT]);
    // known data: the disk rebuilt from a raw image with a random payload at 1 MiB (the guest only writes sector 0)
    await agentCli('node1', ['vm', 'stop', VM]);
    const payload = randomBytes(PAYLOAD_MB * 1048576);
    payloadSha = createHash('sha256').update(payload).digest('hex');
    const raw = Buffer.alloc(DISK_MB * 1048576);
    payload.copy(raw, PAYLOAD_OFF);
    writeFileSync(`${WORK}/known.raw`, raw);
    await c.on('node1', 'qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', `${WORK}/known.raw`, `/mnt/gv0/vm/${VM}/disk.qcow2`], { timeoutMs: 300_000 });
    await c.on('node1', 'chown', ['64055:64055', `/mnt/gv0/vm/${VM}/disk.qcow2`]);
    rmSync(`${WORK}/known.raw`);
    await agentCli('node1', ['vm', 'start', VM]);
    const on = await where(VM);
    await waitFor('guest ticks', 120_000, async () => parseConsole(c.serialLog(on, VM)).filter((l) => l.kind === 'TICK').length >= 3);
    // (3 ticks: the guest has written its tick to sector 0 of the disk, which the restored copies boot reading)
    // qemu-ga is up once libvirt gets its answer (it starts seconds after its console line under TCG)
    await waitFor('the guest agent answers libvirt', 120_000, async () => (await c.on(on, 'virsh', ['-c', 'qemu:///system', 'qemu-agent-command', VM, '{"execute":"guest-ping"}', '--timeout', '5'], { allowFail: true })).code === 0, 1000);
    // (the console also holds the boot before the disk was replaced: this boot is the last one)
    const thisBoot = parseConsole(c.serialLog(on, VM)).filter((l) => l.kind === 'BOOT').at(-1)!.boot;
    const agent = parseAgentConsole(c.serialLog(on, VM)).find((l) => l.kind === 'AGENT' && l.boot === thisBoot);
    expect(agent, 'the guest started qemu-guest-agent on its port, with a filesystem to freeze').toMatchObject({ port: expect.stringMatching(/^\/dev\/vport\d+p\d+$/), fs: '/mnt/tick' });
    const consoleBefore = c.serialLog(on, VM).length;
    const runner = NODES.find((n) => n !== on)!; // the VM runs elsewhere: the snapshot goes through that node's libvirtd
    const r = await agentCli(runner, ['backup', 'now', VM, '--json']);
    const res = JSON.parse(r.stdout);
    expect(res.repoInitialized).toBe(true);
    expect(res.results).toHaveLength(1);
    const b = res.results[0];
    expect(b).toMatchObject({ vm: VM, ok: true, method: 'libvirt-snapshot-quiesced', node: on });
    // the guest's own account: its agent ran the freeze hook, then the thaw hook, and it ticked on after
    const during = c.serialLog(on, VM).slice(consoleBefore);
    const fs = parseAgentConsole(during).filter((l) => l.kind === 'FS' && l.boot === agent!.boot).map((l) => l.event);
    expect(fs, `${VM}'s console during the backup:\n${during.split('\n').filter((l) => !/HAVM-TICK/.test(l)).join('\n').slice(-1500)}\n(${parseConsole(during).length} ticks)`).toEqual(['freeze', 'thaw']);
    await waitFor('the guest ticks after the thaw', 30_000, async () => parseConsole(c.serialLog(on, VM).slice(consoleBefore + during.lastIndexOf('HAVM-FS thaw'))).some((l) => l.kind === 'TICK'), 500);
    expect(b.fallback).toBeUndefined(); // the harness's bricks are plain XFS: per-VM is the designed path, no fallback
    expect(res.pointInTime).toEqual({ method: 'per-vm', why: expect.stringMatching(/^gv0's bricks are not all on thin LVM: node1:\S+ \(xfs\)/) });
    expect(b.archive).toMatch(/^bk\.\d{8}T\d{6}Z$/);
    first = b;
    console.log(`[backup] first backup of ${VM} (running on ${on}, runner ${runner}): ${b.seconds.toFixed(1)} s, ${(b.originalBytes / 1e6).toFixed(1)} MB read, ${(b.addedBytes / 1e6).toFixed(1)} MB added; loadavg ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
    expect(await overlays()).toBe('');
    expect(await disksOf(on, VM)).toMatch(new RegExp(`vda\\s+/mnt/gv0/vm/${VM}/disk.qcow2`));
    expect(await marker()).toBeNull();
    // the repository is encrypted (repokey) and the passphrase is nowhere in clear: not in the plan, the agent log, argv
    const cfgRepo = (await c.on('node1', 'cat', [`${REPO}/config`])).stdout;
    expect(cfgRepo).toMatch(/^key = /m);
    const pass = (await agentCli('node3', ['backup', 'passphrase'])).stdout.trim();
    expect(pass).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await pc('node1', ['backup', 'passphrase'])).stdout.trim()).toBe(pass); // the same from the builder CLI
    for (const n of NODES) {
      expect(c.h.logTail(n, 100000)).not.toContain(pass);
      expect((await c.on(n, 'cat', ['/etc/personal-cloud/cluster.json'])).stdout).not.toContain(pass);
    }
    expect((await c.on(runner, 'stat', ['-c', '%a', '/run/personal-cloud/borg-passphrase'])).stdout.trim()).toBe('600');
    // the archive holds the disk and the definition
    const list = JSON.parse((await agentCli('node2', ['backup', 'list', VM, '--json'])).stdout);
    expect(list.map((a: { name: string }) => a.name)).toEqual([b.archive]);
    expect(list[0].comment).toBe(`method=libvirt-snapshot-quiesced node=${on}`);
    // rclone synced the repository offsite after the run: borg opens the copy and finds the archive
    expect(res.offsite).toBe(`synced to offsite:${OFFSITE}`);
    const off = await c.on(runner, 'sh', ['-c', `BORG_PASSCOMMAND='cat /run/personal-cloud/borg-passphrase' BORG_BASE_DIR=$(mktemp -d) BORG_RELOCATED_REPO_ACCESS_IS_OK=yes borg list --short ${OFFSITE}`]);
    expect(off.stdout.trim().split('\n')).toEqual([b.archive]);
  }, 600_000);

  it('a second backup of the unchanged disk adds only a little (dedup) and takes less time', async () => {
    const r = JSON.parse((await agentCli('node3', ['backup', 'now', VM, '--json'])).stdout).results[0];
    expect(r.ok).toBe(true);
    console.log(`[backup] second backup: ${r.seconds.toFixed(1)} s (first ${first.seconds.toFixed(1)} s, ratio ${(r.seconds / first.seconds).toFixed(2)}), ${(r.addedBytes / 1e6).toFixed(2)} MB added of ${(r.originalBytes / 1e6).toFixed(1)} MB (dedup ratio ${(r.originalBytes / Math.max(1, r.addedBytes)).toFixed(0)}:1; first added ${(first.addedBytes / 1e6).toFixed(1)} MB); loadavg ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
    expect(first.addedBytes).toBeGreaterThan(PAYLOAD_MB * 1e6);
    expect(r.addedBytes).toBeLessThan(first.addedBytes / 10);
    // the guest rewrites sector 0 every second and the overlay commit touches qcow2 metadata: a few chunks (~2 MiB each)
    expect(r.addedBytes).toBeLessThan(12e6);
    expect(r.seconds).toBeLessThan(first.seconds * 0.8);
  }, 600_000);

  it('the data is overwritten; restore --as brings up a copy whose disk has the original data', async () => {
    const on = await where(VM);
    await agentCli('node1', ['vm', 'stop', VM]);
    await c.on('node1', 'qemu-io', ['-f', 'qcow2', '-c', `write -P 0x5a ${PAYLOAD_OFF} ${PAYLOAD_MB}M`, `/mnt/gv0/vm/${VM}/disk.qcow2`]);
    expect(await payloadOf('node1', `/mnt/gv0/vm/${VM}/disk.qcow2`)).not.toBe(payloadSha);
    await agentCli('node1', ['vm', 'start', VM]);
    void on;
    const r = await agentCli('node2', ['restore', VM, '--as', 'bk-copy', '--op-timeout', '20']);
    expect(r.stdout).toMatch(/^restored bk\.\d{8}T\d{6}Z as bk-copy: Started on node\d/m);
    expect(await payloadOf('node2', '/mnt/gv0/vm/bk-copy/disk.qcow2')).toBe(payloadSha);
    const xml = (await c.on('node2', 'cat', ['/mnt/gv0/vm/bk-copy/bk-copy.xml'])).stdout;
    expect(xml).toContain('<name>bk-copy</name>');
    expect(xml).toContain("/mnt/gv0/vm/bk-copy/disk.qcow2");
    expect(xml).not.toContain('/mnt/gv0/vm/bk/');
    const copyOn = await where('bk-copy');
    const uuids = await Promise.all([[await where(VM), VM], [copyOn, 'bk-copy']].map(async ([n, v]) => (await c.on(n, 'virsh', ['-c', 'qemu:///system', 'domuuid', v])).stdout.trim()));
    expect(uuids[0]).not.toBe(uuids[1]);
    // the copy boots from the restored disk: it reads the tick the original wrote before the backup
    const boot = await waitFor('bk-copy boots', 120_000, async () => parseConsole(c.serialLog(copyOn, 'bk-copy')).find((l) => l.kind === 'BOOT'), 500);
    expect(boot.prev, `bk-copy's console:\n${c.serialLog(copyOn, 'bk-copy').slice(-1500)}`).toMatch(/^HAVM boot=[0-9a-f]+ tick=\d+$/);
    // and the filesystem frozen at the snapshot mounts on the copy with the tick it held then
    const copyAgent = await waitFor('bk-copy mounts its filesystem', 60_000, async () => parseAgentConsole(c.serialLog(copyOn, 'bk-copy')).find((l) => l.kind === 'AGENT'), 500);
    expect(copyAgent.fs).toBe('/mnt/tick');
    expect(copyAgent.fsprev).toMatch(/^tick=\d+$/);
    // never over an existing VM, running or not
    const refused = await agentCli('node3', ['restore', VM], true);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/a VM named bk exists \(Started on node\d\): restore never overwrites a VM/);
    expect((await agentCli('node3', ['restore', VM, '--at', '20000101T000000Z'], true)).stderr).toMatch(/exists/);
    await agentCli('node1', ['vm', 'remove', 'bk-copy', '--delete-disk']);
  }, 600_000);

  it('restore in place after `vm remove`: the same name, the original data, the overwritten disk kept aside', async () => {
    await agentCli('node1', ['vm', 'remove', VM]);
    const bad = await agentCli('node1', ['restore', VM, '--at', 'bk.20000101T000000Z'], true);
    expect(bad.stderr).toMatch(/no archive bk\.20000101T000000Z/);
    const r = await agentCli('node3', ['restore', VM, '--json', '--op-timeout', '20']);
    const d = JSON.parse(r.stdout);
    expect(d.info.role).toBe('Started');
    expect(d.keptAside).toEqual([expect.stringMatching(/^\/mnt\/gv0\/vm\/bk\/disk\.qcow2\.before-restore-\d{8}T\d{6}Z$/)]);
    console.log(`[backup] restore in place of ${d.archive}: ${d.seconds.toFixed(1)} s (extract + Pacemaker start); loadavg ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
    expect(await payloadOf('node3', `/mnt/gv0/vm/${VM}/disk.qcow2`)).toBe(payloadSha);
    await c.on('node3', 'rm', ['-f', d.keptAside[0]]);
    await where(VM);
  }, 600_000);

  it('a backup taken while the VM live-migrates restores to a disk that boots', async () => {
    await dropCopies();
    const from = await where(VM);
    const to = NODES.find((n) => n !== from)!;
    const runner = NODES.find((n) => n !== from && n !== to)!;
    const backup = agentCli(runner, ['backup', 'now', VM, '--json'], true);
    await waitFor('the VM on its backup overlay', 60_000, async () => (await marker())?.overlays?.length > 0 && /backup-overlay/.test(await disksOf(from, VM)), 100);
    const mig = await agentCli('node1', ['vm', 'migrate', VM, to, '--json']);
    const out = await backup.catch((e: Error) => ({ stdout: '', stderr: e.message }));
    if (!out.stdout.startsWith('{')) console.log(`[backup] during migration: ${out.stderr}`);
    const res = JSON.parse(out.stdout).results[0];
    console.log(`[backup] backup during migration ${from} → ${to} (${JSON.parse(mig.stdout).seconds.toFixed(1)} s): ${res.ok ? `${res.archive} in ${res.seconds.toFixed(1)} s` : res.error}`);
    expect(res.ok).toBe(true);
    expect(await where(VM)).toBe(to);
    expect(await disksOf(to, VM)).toMatch(new RegExp(`vda\\s+/mnt/gv0/vm/${VM}/disk.qcow2`));
    expect(await overlays()).toBe('');
    await agentCli('node2', ['restore', VM, '--at', res.archive, '--as', 'bk-mig', '--op-timeout', '20']);
    const on = await where('bk-mig');
    const boot = await waitFor('bk-mig boots', 120_000, async () => parseConsole(c.serialLog(on, 'bk-mig')).find((l) => l.kind === 'BOOT'), 500);
    expect(boot.prev).toMatch(/^HAVM boot=[0-9a-f]+ tick=\d+$/);
    await waitFor('bk-mig ticks', 30_000, async () => parseConsole(c.serialLog(on, 'bk-mig')).some((l) => l.kind === 'TICK'));
    expect(await payloadOf(on, '/mnt/gv0/vm/bk-mig/disk.qcow2')).toBe(payloadSha);
    await agentCli('node1', ['vm', 'remove', 'bk-mig', '--delete-disk']);
  }, 600_000);

  it('the runner killed mid-backup leaves nothing the next run does not clean up and report', async () => {
    await dropCopies();
    const on = await where(VM);
    const runner = NODES.find((n) => n !== on)!;
    const backup = agentCli(runner, ['backup', 'now', VM], true);
    const m = await waitFor('the runner with the VM on its overlay', 60_000, async () => {
      const x = await marker();
      return x?.overlays?.length && /backup-overlay/.test(await disksOf(on, VM)) ? x : null;
    }, 100);
    expect(m.node).toBe(runner);
    await c.on(runner, 'kill', ['-KILL', '--', `-${m.pid}`]); // the runner's process group: it and its borg
    const r = await backup;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the backup runner \(pid \d+\) was killed \(SIGKILL\); the next run cleans up after it/);
    const leftOnOverlay = /backup-overlay/.test(await disksOf(on, VM));
    console.log(`[backup] runner killed: VM on its overlay ${leftOnOverlay}, overlay files: ${await overlays() || 'none'}, repo locks: ${await repoLocks() || 'none'}`);
    expect(await marker()).not.toBeNull();
    // a second request on the same node while the dead runner's marker is there: it takes over at once (its pid is gone)
    const next = await agentCli(runner, ['backup', 'now', VM], true);
    console.log(`[backup] the next run (exit ${next.code}):\n${next.stdout}${next.stderr.split('\n').filter((l) => !/\(1\/1\)/.test(l)).join('\n')}`);
    expect(next.code).toBe(0);
    expect(next.stdout).toMatch(/^cleaned up after an interrupted backup of bk \(backup of bk, started on node\d at /m);
    expect(next.stdout).toMatch(/broke the repository lock/);
    expect(next.stdout).toMatch(/^bk: bk\.\d{8}T\d{6}Z \(libvirt-snapshot-quiesced on node\d\)/m);
    if (leftOnOverlay) expect(next.stdout).toMatch(/committed bk's backup overlay into \/mnt\/gv0\/vm\/bk\/disk\.qcow2 on node\d/);
    expect(await overlays()).toBe('');
    expect(await repoLocks()).toBe('');
    expect(await marker()).toBeNull();
    expect(await disksOf(await where(VM), VM)).toMatch(new RegExp(`vda\\s+/mnt/gv0/vm/${VM}/disk.qcow2`));
    expect(c.serialLog(await where(VM), VM)).not.toContain('HAVM-WERR');
    const v = await agentCli('node1', ['backup', 'verify']);
    expect(v.stdout).toMatch(/repository and archives verified/);
  }, 600_000);

  it('status shows the last backup per VM; the Prometheus textfile has its last success', async () => {
    const st = await agentCli('node2', ['status'], true);
    expect(st.stdout).toMatch(/backups: \/mnt\/gv0\/backup, daily/);
    expect(st.stdout).toMatch(/backup bk: last backup \d+ (s|min) ago \(bk\.\d{8}T\d{6}Z, libvirt-snapshot-quiesced\)/);
    const js = JSON.parse((await agentCli('node2', ['backup', 'status', '--json'])).stdout);
    expect(js.vms).toEqual([expect.objectContaining({ vm: 'bk', state: 'ok' })]);
    const prom = (await c.on('node2', 'cat', ['/var/lib/prometheus/node-exporter/personal_cloud_backup.prom'])).stdout;
    expect(prom).toMatch(/^personal_cloud_backup_last_success_timestamp_seconds\{vm="bk"\} \d{10}$/m);
    const t = Number(/\{vm="bk"\} (\d+)/.exec(prom)![1]);
    expect(Math.abs(Date.now() / 1000 - t)).toBeLessThan(900);
    // retention: 4 archives of bk made today, pruned with the defaults: one kept by each of the daily, weekly
    // and monthly rules at most (borg counts an archive for one rule only)
    const list = JSON.parse((await agentCli('node1', ['backup', 'list', VM, '--json'])).stdout);
    expect(list.length).toBeGreaterThanOrEqual(1);
    expect(list.length).toBeLessThanOrEqual(3);
    // a failed backup is loud: a stopped VM whose disk is gone
    await agentCli('node1', ['vm', 'create', 'bk-fail', '--memory', '64', '--disk-size', '8M', '--tcg', '--op-timeout', '20', ...BOOT]);
    await agentCli('node1', ['vm', 'stop', 'bk-fail']);
    const okStopped = JSON.parse((await agentCli('node3', ['backup', 'now', 'bk-fail', '--json'])).stdout).results[0];
    expect(okStopped).toMatchObject({ ok: true, method: 'stopped-vm' });
    await c.on('node1', 'rm', ['/mnt/gv0/vm/bk-fail/disk.qcow2']);
    const f = await agentCli('node1', ['backup', 'now', 'bk-fail'], true);
    expect(f.code).toBe(1);
    expect(f.stdout).toMatch(/^bk-fail: FAILED after [\d.]+ s: bk-fail: disk vda \(\/mnt\/gv0\/vm\/bk-fail\/disk\.qcow2\) is missing/m);
    const st2 = await agentCli('node2', ['status'], true);
    expect(st2.code).toBe(3);
    expect(st2.stdout).toMatch(/backup bk-fail: PROBLEM: backup FAILED \d+ s ago: .*is missing; last backup \d+ s ago \(bk-fail\.\d{8}T\d{6}Z, stopped-vm\)/);
    expect(st2.stdout).toMatch(/backup bk: last backup/);
    expect((await c.on('node2', 'cat', ['/var/lib/prometheus/node-exporter/personal_cloud_backup.prom'])).stdout).toContain('personal_cloud_backup_last_ok{vm="bk-fail"} 0');
    await agentCli('node1', ['vm', 'remove', 'bk-fail', '--delete-disk']);
  }, 600_000);
});
