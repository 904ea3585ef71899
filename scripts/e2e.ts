// End-to-end proof on preinstalled disks (`make e2e`): builds the disk images of a 3-node
// cluster, boots three QEMU VMs (TCG) from them on a private bridge in a network namespace,
// asks the agents' status (test/e2e/ask.ts: the status channel of `personal-cloud status`)
// until gv0 is started and mounted with a brick on every node, and proves on the way:
//   - an agent SIGKILLed during formation is restarted by systemd and the cluster still forms,
//   - a file written on node1's gv0 mount is readable on node3,
//   - a power-cycled VM (QMP system_reset) comes back, rejoins, heals; nothing re-created,
//   - HA: corosync quorate with 3 members, Pacemaker starts a test VM resource (`personal-cloud vm create`),
//   - backups (with the fixture's backup: section): `backup now` from the admin machine through the agent API
//     takes ONE gluster snapshot of gv0 (thin LVM bricks), archives the test VM from it and removes it;
//     `backup list`, `backup verify`, `restore e2e-test --as e2e-copy` (same disk md5 as the archive);
//     a runner SIGKILLed with its snapshot mounted: the next run removes snapshot and mount and says so,
//   - node3 replaced: its VM destroyed with its disks, a new VM with blank disks booted from node3's
//     image takes its place by itself (same glusterd identity, every file back on its brick, corosync 3 members).
// Prints figures (image build time, power-on → healthy, per-step times from the agents'
// journals). On failure: each VM's serial log and the agent, glusterd, corosync and pacemaker
// journals are kept in the work dir. Everything it starts is stopped, also on failure or Ctrl-C.
// Options: --help.
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { scriptArgs } from './args.js';
import { bootDiskVm, type DiskVm } from '../test/helpers/qemu-disk.js';
import { createPrivateNet, type PrivateNet } from '../test/e2e/netns.js';
import { stopOnInterrupt } from '../test/e2e/interrupt.js';
import { nodeShell, type NodeShell } from '../test/e2e/ssh.js';
import { healthProblems, stepTimesFromJournal, type StepTimes } from '../test/e2e/health.js';
import { clusterStatus, E2E_NODES, runtimeConfig, waitHealthy } from '../test/e2e/cluster.js';
import { backupStage, type BackupFigures } from '../test/e2e/backup-stage.js';

const ROOT = resolve('.');
const FIXTURE = join(ROOT, 'test/fixtures/e2e/cluster.yaml');
const NODES = E2E_NODES;

const { values: opt } = scriptArgs(`Usage: make e2e   (node scripts/run-ts.mjs scripts/e2e.ts [options])
  --work DIR            keep the run's files in DIR (default: a new /var/tmp/pc-e2e-* removed after a pass)
  --keep                keep the work dir after a pass too
  --timeout-min N       power-on → healthy storage limit (default 40)
  --memory MIB          memory per VM (default 2048)
  --no-kill             do not SIGKILL node2's agent during formation
  --kill-after STEP     kill node2's agent right after its STEP is done (default disks)
  --no-reset            do not power-cycle node3 after the cluster is healthy
  --no-replace          do not replace node3 (new VM, blank disks, same image) at the end
  --no-backup           skip the backup stage (gluster snapshot → borg → verify → restore --as) after HA
  --copy-wait-min N     how long the backup stage waits for the restored copy to start (default 5)
  --reset-wait-min N    limit for the power-cycled node to come back and heal (default 20)
  --ha-wait-min N       limit for corosync/Pacemaker and for the test VM to start (default 10)`, {
  keep: { type: 'boolean' }, work: { type: 'string' }, 'timeout-min': { type: 'string' },
  'no-kill': { type: 'boolean' }, 'kill-after': { type: 'string' }, 'no-reset': { type: 'boolean' }, 'no-replace': { type: 'boolean' }, 'ha-wait-min': { type: 'string' }, 'reset-wait-min': { type: 'string' },
  'no-backup': { type: 'boolean' }, 'copy-wait-min': { type: 'string' },
  memory: { type: 'string' },
});
const TIMEOUT_MS = Number(opt['timeout-min'] ?? 40) * 60_000;
const KILL_AFTER = opt['kill-after'] ?? 'disks';
/** Storage health (gv0 on every node) is the first milestone; the HA step is judged on its own after it. */
const STORAGE_ONLY = ['ha'];
const HA_WAIT_MS = Number(opt['ha-wait-min'] ?? 10) * 60_000;
const RESET_WAIT_MS = Number(opt['reset-wait-min'] ?? 20) * 60_000;
const t0 = Date.now();
const since = (t: number) => ((Date.now() - t) / 1000).toFixed(0);
const say = (m: string) => process.stdout.write(`[e2e +${since(t0)}s] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Figures {
  imageBuildSeconds?: number;
  rootfsCached?: boolean;
  powerOnToHealthySeconds?: number;
  agentKill?: { node: string; atSeconds: number; restarts: number; stepsDoneBefore: string[]; convergedSecondsAfterKill?: number };
  stepTimes?: Record<string, StepTimes>;
  replace?: { node: string; answeringSeconds: number; healedSeconds: number; uuidKept: boolean; files: number; haMembers: number };
  powerCycle?: { node: string; backAnsweringSeconds: number; healedSeconds: number; bootIdChanged: boolean; brickUuidKept: boolean; volumeIdKept: boolean; fileWrittenWhileDownHealed: boolean; destructiveLogLines: string[] };
  ha?: HaFigures;
  backup?: BackupFigures;
  failures?: string[];
}

interface HaFigures { corosync: string; pacemaker: string; testVm?: string; ok: boolean; readySeconds?: number }

const CLI = join(ROOT, 'bin/personal-cloud.js');
/**
 * Three TCG guests share two host cores: the periodic jobs that fire at a first boot (Persistent
 * timers: logrotate, dpkg-db-backup, apt-daily, scrubs) would take CPU from the cluster's daemons.
 */
const E2E_KERNEL_OPTS = ['no_timer_check', ...['apt-daily', 'apt-daily-upgrade', 'dpkg-db-backup', 'e2scrub_all', 'fstrim', 'logrotate', 'xfs_scrub_all', 'man-db']
  .map((t) => `systemd.mask=${t}.timer`)].join(' ');
const status = (net: PrivateNet, config: string, want: { heal?: boolean; ha?: boolean } = {}) => clusterStatus(net, config, want);

/**
 * corosync quorate with every node as a member, seen from every node; then a test VM (TCG, no OS:
 * the firmware idles) created through `personal-cloud vm create` must be Started by Pacemaker.
 */
async function haProof(net: PrivateNet, config: string, powerOn: number): Promise<HaFigures> {
  const names = NODES.map((n) => n.name);
  let corosync = 'no answer';
  let pacemaker = 'no answer';
  let step = 'no answer';
  const end = Date.now() + HA_WAIT_MS;
  for (;;) {
    const answers = await status(net, config, { ha: true });
    step = answers.map((a) => { const h = a.status?.steps.find((st) => st.name === 'ha'); return `${a.node}: ${h ? `${h.state}${h.detail ? ` (${h.detail})` : ''}` : a.error ?? 'no ha step'}`; }).join('; ');
    const seen = answers.map((a) => {
      const c = a.ha?.corosync;
      if (!a.ha) return { node: a.node, quorate: false, members: 0, text: `${a.node}: no HA status` };
      return { node: a.node, quorate: Boolean(c?.quorate), members: c?.members?.length ?? 0, text: `${a.node}: ${c?.running ? `${c.quorate ? 'quorate' : 'NOT quorate'}, ${c.totalVotes ?? '?'}/${c.expectedVotes ?? '?'} votes, members ${(c.members ?? []).join(' ')}` : `corosync not running (${c?.error ?? '?'})`}` };
    });
    corosync = seen.map((x) => x.text).join('; ');
    pacemaker = answers.map((a) => `${a.node}: ${!a.ha ? 'no HA status' : a.ha.pacemaker.ok ? `dc ${a.ha.pacemaker.dc ?? 'none'}, ${a.ha.pacemaker.nodes.length} nodes` : `crm_mon failed (${a.ha.pacemaker.error.split('\n')[0]})`}`).join('; ');
    if (seen.length === names.length && seen.every((x) => x.quorate && x.members === names.length) && answers.every((a) => a.ha?.pacemaker.ok && a.ha.pacemaker.dc)
      && answers.every((a) => a.status?.converged)) break;
    if (Date.now() > end) return { ok: false, corosync, pacemaker: `${pacemaker}; ha step: ${step}` };
    await sleep(10_000);
  }
  const readySeconds = (Date.now() - powerOn) / 1000;
  say(`HA ready (ha step done everywhere, corosync quorate with ${names.length} members, pacemaker has a DC) ${readySeconds.toFixed(0)} s after power-on`);
  say(`corosync: ${corosync}`);
  say(`pacemaker: ${pacemaker}`);
  const vm = (args: string[]) => {
    const [cmd, ...rest] = net.exec(['node', CLI, 'vm', ...args, '--config', config, '--json']);
    return execa(cmd, rest, { reject: false, timeout: 1_200_000 });
  };
  const tv = Date.now();
  // a guest emulated inside an emulated node: QEMU's own start-up takes minutes there
  const created = await vm(['create', 'e2e-test', '--memory', '64', '--disk-size', '64M', '--tcg', '--op-timeout', '900']);
  if (created.exitCode !== 0) return { ok: false, corosync, pacemaker, readySeconds, testVm: `vm create failed (exit ${created.exitCode}): ${String(created.stderr).trim().slice(-600)}` };
  // Pacemaker places and starts the resource after create returns: ask until it runs (or the wait ends)
  const listEnd = Date.now() + HA_WAIT_MS;
  let testVm = '';
  let t: { name: string; role: string; nodes: string[]; failed: boolean } | undefined;
  for (;;) {
    const listed = await vm(['list']);
    let list: { name: string; role: string; nodes: string[]; failed: boolean }[] = [];
    try { list = JSON.parse(String(listed.stdout)); } catch { /* reported below */ }
    t = list.find((x) => x.name === 'e2e-test');
    testVm = t ? `${t.role}${t.failed ? ' (FAILED)' : ''} on ${t.nodes.join(',') || 'no node'}, ${((Date.now() - tv) / 1000).toFixed(0)} s after vm create` : `not listed: ${String(listed.stdout).slice(0, 300)} ${String(listed.stderr).slice(-300)}`;
    if ((t && t.role === 'Started' && t.nodes.length === 1) || t?.failed || Date.now() > listEnd) break;
    await sleep(10_000);
  }
  say(`test VM resource: ${testVm}`);
  return { ok: Boolean(t && t.role === 'Started' && t.nodes.length === 1 && !t.failed), corosync, pacemaker, readySeconds, testVm };
}

async function main(): Promise<number> {
  const work = opt.work ? resolve(opt.work) : await mkdtemp('/var/tmp/pc-e2e-');
  await mkdir(work, { recursive: true });
  say(`work dir ${work}`);
  const figures: Figures = {};
  const vms: DiskVm[] = [];
  let net: PrivateNet | undefined;
  let shells: Record<string, NodeShell> = {};
  let ok = false;
  let powerOn = 0;
  let builder: ReturnType<typeof execa> | undefined;
  stopOnInterrupt(() => ({ builder, vms, net }), say);
  try {
    // The backup stage's section is added here, not in the fixture: e2e-installer and e2e-encrypted share the
    // fixture, and borgbackup in the package list is another base tree for them. The repository is on gv0
    // (validate warns): gv1 would need a second disk per VM and its formation, TCG minutes the stage does not need.
    const { config, keyFile, password } = await runtimeConfig(FIXTURE, work, (doc) => {
      if (!opt['no-backup']) doc.set('backup', doc.createNode({ repository: '/mnt/gv0/backup' }));
    });

    // The images carry dist/personal-cloud-agent.mjs: bundle this checkout's agent and CLI first.
    await execa('node', [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'inherit' });
    say('building the disk images (personal-cloud build disk --format qcow2)');
    const tb = Date.now();
    builder = execa('node', [join(ROOT, 'bin/personal-cloud.js'), 'build', 'disk', '--config', config, '--out', join(work, 'out'), '--format', 'qcow2', '--kernel-opts', E2E_KERNEL_OPTS, '--json'],
      { reject: false, stderr: 'inherit' });
    const build = await builder;
    builder = undefined;
    if (build.exitCode !== 0) throw new Error(`build disk failed (exit ${build.exitCode}):\n${build.stdout}`);
    const built = JSON.parse(String(build.stdout)) as { rootfs: { cached: boolean }; outputs: { file: string; target: string }[] };
    figures.imageBuildSeconds = (Date.now() - tb) / 1000;
    figures.rootfsCached = built.rootfs.cached;
    say(`images built in ${figures.imageBuildSeconds.toFixed(0)} s (base tree ${built.rootfs.cached ? 'from cache' : 'built cold'})`);

    net = await createPrivateNet(`pce2e${process.pid}`, '10.79.0.1/24');
    for (const [i] of NODES.entries()) await net.addTap(`tap${i}`);
    shells = Object.fromEntries(NODES.map((n) => [n.name, nodeShell({ netns: net!.ns, address: n.address, user: 'admin', keyFile, password })]));

    const boot = (i: number) => bootDiskVm({
      name: NODES[i].name, image: built.outputs.find((o) => o.target === NODES[i].name)!.file, workDir: work, firmware: NODES[i].firmware, mac: NODES[i].mac, netns: net!.ns, tap: `tap${i}`,
      osSerial: 'pc-os', disks: [{ serial: 'pc-gv0', sizeGiB: 20 }], memoryMiB: Number(opt.memory ?? 2048),
    });
    powerOn = Date.now();
    for (const i of NODES.keys()) vms.push(await boot(i));
    say(`3 VMs powered on (node1, node2: BIOS; node3: UEFI); waiting for the cluster (timeout ${TIMEOUT_MS / 60_000} min)`);
    // informative only: under heavy TCG load the serial getty can miss its device timeout; the agents' status is what counts
    for (const vm of vms) void vm.waitFor(/login:/, TIMEOUT_MS).then(() => say(`${vm.name}: login prompt on the serial console after ${since(powerOn)} s`), () => undefined);

    let killed = Boolean(opt['no-kill']);
    const failures: string[] = [];
    figures.failures = failures;
    await waitHealthy({
      net, config, nodes: NODES.map((n) => n.name), timeoutMs: TIMEOUT_MS, say, intervalMs: 20_000, ignoreSteps: STORAGE_ONLY,
      alive: () => vms.find((vm) => vm.exited)?.name.concat(': QEMU exited') ?? null,
      onPoll: async (answers) => {
        if (killed) return true;
        const node2 = answers.find((a) => a.node === 'node2' && a.ok);
        if (node2 && node2.status!.steps.every((st) => st.state === 'done' || STORAGE_ONLY.includes(st.name))) {
          failures.push(`agent kill: node2 converged before its ${KILL_AFTER} step was seen done and the kill could land`);
          killed = true;
          return true;
        }
        if (!node2?.status!.steps.some((st) => st.name === KILL_AFTER && st.state === 'done')) return false;
        // Formation is under way on node2: kill its agent the hard way; systemd must restart it.
        const done = node2.status!.steps.filter((st) => st.state === 'done').map((st) => st.name);
        const k = await shells.node2.tryRoot('systemctl kill --signal=SIGKILL personal-cloud-agent.service', 120_000);
        if (k.code !== 0) { say(`node2: cannot kill the agent yet (ssh: ${k.out.trim().slice(0, 120)}); retrying`); return false; }
        figures.agentKill = { node: 'node2', atSeconds: (Date.now() - powerOn) / 1000, restarts: 0, stepsDoneBefore: done };
        say(`node2: agent SIGKILLed during formation, right after its ${KILL_AFTER} step (steps done: ${done.join(', ')})`);
        killed = true;
        return false;
      },
    });
    figures.powerOnToHealthySeconds = (Date.now() - powerOn) / 1000;
    say(`HEALTHY (storage: gv0 started and mounted, a brick on every node) ${figures.powerOnToHealthySeconds.toFixed(0)} s after power-on`);

    if (figures.agentKill) {
      figures.agentKill.convergedSecondsAfterKill = figures.powerOnToHealthySeconds - figures.agentKill.atSeconds;
      const r = await shells.node2.root('systemctl show -p NRestarts --value personal-cloud-agent.service');
      figures.agentKill.restarts = Number(r.trim());
      if (!(figures.agentKill.restarts >= 1)) throw new Error(`node2: the killed agent was not restarted by systemd (NRestarts=${r.trim()})`);
      say(`node2: systemd restarted the killed agent (NRestarts=${figures.agentKill.restarts}) and the cluster converged ${figures.agentKill.convergedSecondsAfterKill.toFixed(0)} s after the kill`);
    }

    const token = randomBytes(8).toString('hex');
    await shells.node1.root(`echo ${token} > /mnt/gv0/e2e-${token}.txt && sync`);
    const seen = (await shells.node3.root(`cat /mnt/gv0/e2e-${token}.txt`)).trim();
    if (seen !== token) throw new Error(`node3 reads '${seen}' from the file node1 wrote ('${token}')`);
    say('a file written on node1\'s /mnt/gv0 is readable on node3');

    // The power-cycle and HA proofs each record a failure and the run goes on, so one run shows both.
    if (!opt['no-reset']) {
      try { figures.powerCycle = await powerCycle(vms[2], shells, net, config); } catch (e) { failures.push((e as Error).message); }
    }
    figures.ha = await haProof(net, config, powerOn);
    if (!figures.ha.ok) failures.push(`HA: ${figures.ha.corosync}; ${figures.ha.pacemaker}${figures.ha.testVm ? `; test VM: ${figures.ha.testVm}` : ''}`);

    if (!opt['no-backup'] && figures.ha.ok) {
      say('backup stage: backup now (gluster snapshot of gv0), list, verify, restore --as e2e-copy');
      try {
        figures.backup = await backupStage({ net, config, cli: CLI, shells, vm: 'e2e-test', copy: 'e2e-copy', say, startWaitMs: Number(opt['copy-wait-min'] ?? 5) * 60_000 });
        if (!figures.backup.ok) failures.push(`backup: ${figures.backup.problems.join('; ')}`);
      } catch (e) { failures.push(`backup: ${(e as Error).message}`); }
    }

    if (!opt['no-replace']) {
      try { figures.replace = await replaceNode(2, vms, boot, work, shells, net, config); } catch (e) { failures.push((e as Error).message); }
    }

    figures.stepTimes = await collectStepTimes(shells, powerOn);
    if (failures.length) throw new Error(failures.join('\n'));
    ok = true;
    return 0;
  } catch (e) {
    say(`FAILED: ${(e as Error).message}`);
    return 1;
  } finally {
    if (!ok && Object.keys(shells).length) {
      figures.stepTimes ??= await collectStepTimes(shells, powerOn).catch(() => undefined);
      await collectJournals(shells, work);
    }
    for (const vm of vms) await vm.stop().catch(() => undefined);
    await net?.destroy();
    await writeFile(join(work, 'e2e-result.json'), `${JSON.stringify({ ok, figures }, null, 2)}\n`);
    printFigures(ok, figures, work);
    if (!ok) for (const vm of vms) say(`serial log of ${vm.name}: ${vm.consoleLog}`);
    if (ok && !opt.keep && !opt.work) await rm(work, { recursive: true, force: true });
  }
}

async function powerCycle(vm: DiskVm, shells: Record<string, NodeShell>, net: PrivateNet, config: string): Promise<NonNullable<Figures['powerCycle']>> {
  const sh = shells[vm.name];
  const facts = async () => ({
    bootId: (await sh.root('cat /proc/sys/kernel/random/boot_id', 180_000)).trim(),
    brickUuid: (await sh.root('blkid -s UUID -o value "$(findmnt -no SOURCE /data/glusterfs/gv0/brick1)"', 180_000)).trim(),
    volumeId: (await sh.root('gluster volume info gv0 | sed -n "s/^Volume ID: //p"', 180_000)).trim(),
  });
  const before = await facts();
  say(`${vm.name}: power-cycling (QMP system_reset); brick fs ${before.brickUuid}, volume ${before.volumeId}`);
  const tr = Date.now();
  await vm.qmp('system_reset');
  const token = randomBytes(8).toString('hex');
  // Written while node3 is down: it must reach node3's brick by self-heal after it is back.
  for (let i = 0; ; i++) {
    const w = await shells.node1.tryRoot(`echo ${token} > /mnt/gv0/while-down-${token}.txt && sync`);
    if (w.code === 0) break;
    if (i > 20) throw new Error(`node1 cannot write to gv0 while ${vm.name} is down: ${w.out}`);
    await sleep(3000);
  }
  let backAnswering = 0;
  let last = '';
  for (;;) {
    if (Date.now() - tr > RESET_WAIT_MS) throw new Error(`${vm.name} did not come back healed within ${RESET_WAIT_MS / 60_000} min of the reset (${last})`);
    const answers = await status(net, config, { heal: Boolean(backAnswering) });
    const problems = healthProblems(answers, NODES.map((n) => n.name), 'gv0', STORAGE_ONLY);
    const heal = answers.map((a) => `${a.node}: ${(a.status?.volumes.find((v) => v.name === 'gv0')?.heal ?? []).map((h) => `${h.brick.split(':')[0]} ${h.connected ? h.entries : 'disconnected'}`).join(' ') || 'no heal info'}`).join('; ');
    const line = problems.length ? problems.join('; ') : `heal: ${heal}`;
    if (line !== last) { say(line); last = line; }
    const me = answers.find((a) => a.node === vm.name);
    if (me?.ok && !backAnswering) {
      const bootNow = (await sh.tryRoot('cat /proc/sys/kernel/random/boot_id')).out.trim();
      if (bootNow && bootNow !== before.bootId) { backAnswering = (Date.now() - tr) / 1000; say(`${vm.name}: back and answering ${backAnswering.toFixed(0)} s after the reset`); }
    }
    const healed = backAnswering && !problems.length
      && answers.every((a) => a.status!.volumes.filter((v) => v.name === 'gv0').every((v) => (v.heal ?? []).every((h) => h.connected && h.entries === 0) && (v.heal ?? []).length === NODES.length));
    if (healed) break;
    await sleep(10_000);
  }
  const healedSeconds = (Date.now() - tr) / 1000;
  const after = await facts();
  const onBrick = (await sh.tryRoot(`cat /data/glusterfs/gv0/brick1/brick/while-down-${token}.txt`)).out.trim();
  const journal = await sh.root('journalctl -b -u personal-cloud-agent --no-pager -o cat', 180_000);
  const destructive = journal.split('\n').filter((l) => /wip(e|ing)|mkfs|pvcreate|vgcreate|lvcreate|volume create|refusing/i.test(l));
  const result = {
    node: vm.name, backAnsweringSeconds: backAnswering, healedSeconds,
    bootIdChanged: after.bootId !== before.bootId, brickUuidKept: after.brickUuid === before.brickUuid, volumeIdKept: after.volumeId === before.volumeId,
    fileWrittenWhileDownHealed: onBrick === token, destructiveLogLines: destructive,
  };
  say(`${vm.name}: healed ${healedSeconds.toFixed(0)} s after the reset; ${JSON.stringify(result)}`);
  if (!result.bootIdChanged || !result.brickUuidKept || !result.volumeIdKept || !result.fileWrittenWhileDownHealed || destructive.length) {
    throw new Error(`power-cycle of ${vm.name}: ${JSON.stringify(result)}`);
  }
  return result;
}

/** md5 of every file of a gv0 brick (Gluster's index and the VM disks, which run, left out). */
const BRICK_SUMS = "cd /data/glusterfs/gv0/brick1/brick && find . -path ./.glusterfs -prune -o -path ./vm -prune -o -type f -print0 | sort -z | xargs -0 -r md5sum";

/**
 * A dead PC replaced by new hardware: node i's VM is destroyed with its disks, and a new VM with
 * blank disks boots node i's image. Its agent must take the old node's place by itself: same
 * glusterd UUID, its brick back with every file node1's brick holds (same md5), corosync with all members.
 */
async function replaceNode(i: number, vms: DiskVm[], boot: (i: number) => Promise<DiskVm>, work: string, shells: Record<string, NodeShell>, net: PrivateNet, config: string): Promise<NonNullable<Figures['replace']>> {
  const name = NODES[i].name;
  const sh = shells[name];
  const uuid = (await sh.root('sed -n "s/^UUID=//p" /var/lib/glusterd/glusterd.info', 180_000)).trim();
  say(`${name}: replacing it — VM destroyed with its disks (glusterd ${uuid}); a new VM with blank disks boots its image`);
  await vms[i].stop();
  await rm(join(work, `${name}-pc-gv0.qcow2`), { force: true });
  const token = randomBytes(8).toString('hex');
  for (let k = 0; ; k++) {
    // (through the Gluster mount, checked: a write into an unmounted /mnt/gv0 lands on node1's root disk and proves nothing)
    const w = await shells.node1.tryRoot(`findmnt -n -t fuse.glusterfs /mnt/gv0 >/dev/null && for n in $(seq 1 20); do head -c 300000 /dev/urandom > /mnt/gv0/replaced-${token}-$n; done && sync`);
    if (w.code === 0) break;
    if (k > 20) throw new Error(`node1 cannot write to gv0 while ${name} is away: ${w.out}`);
    await sleep(3000);
  }
  const tr = Date.now();
  vms[i] = await boot(i);
  let answering = 0;
  let last = '';
  for (;;) {
    if (Date.now() - tr > RESET_WAIT_MS) throw new Error(`replaced ${name} not healed within ${RESET_WAIT_MS / 60_000} min of power-on (${last})`);
    const answers = await status(net, config, { heal: Boolean(answering) });
    if (!answering && answers.find((a) => a.node === name)?.ok) { answering = (Date.now() - tr) / 1000; say(`${name} (new hardware): agent answering ${answering.toFixed(0)} s after power-on`); }
    const problems = healthProblems(answers, NODES.map((n) => n.name), 'gv0', STORAGE_ONLY);
    const line = problems.length ? problems.join('; ') : answers.map((a) => `${a.node}: ${a.status?.steps.find((st) => st.name === 'bricks')?.detail ?? '?'}`).join('; ');
    if (line !== last) { say(line); last = line; }
    if (answering && !problems.length) {
      const [mine, ref] = await Promise.all([sh.tryRoot(BRICK_SUMS, 180_000), shells.node1.tryRoot(BRICK_SUMS, 180_000)]);
      if (mine.code === 0 && mine.out.trim() && mine.out === ref.out) break;
    }
    await sleep(10_000);
  }
  const healedSeconds = (Date.now() - tr) / 1000;
  const listed = (await sh.root(BRICK_SUMS, 180_000)).trim().split('\n');
  const files = listed.length;
  const outage = listed.filter((l) => l.includes(`/replaced-${token}-`)).length;
  if (outage !== 20) throw new Error(`replacing ${name}: its brick holds ${outage} of the 20 files written while it was away (${files} files in all)`);
  const uuidNow = (await sh.root('sed -n "s/^UUID=//p" /var/lib/glusterd/glusterd.info', 180_000)).trim();
  let haMembers = 0;
  const haEnd = Date.now() + HA_WAIT_MS;
  while (Date.now() < haEnd) {
    const c = (await status(net, config, { ha: true })).find((a) => a.node === name)?.ha?.corosync;
    haMembers = c?.quorate ? c.members?.length ?? 0 : 0;
    if (haMembers === NODES.length) break;
    await sleep(10_000);
  }
  const result = { node: name, answeringSeconds: answering, healedSeconds, uuidKept: uuidNow === uuid, files, haMembers };
  say(`${name}: replaced and healed ${healedSeconds.toFixed(0)} s after power-on; ${JSON.stringify(result)}`);
  if (!result.uuidKept || haMembers !== NODES.length) throw new Error(`replacing ${name}: ${JSON.stringify(result)}`);
  return result;
}

async function collectStepTimes(shells: Record<string, NodeShell>, powerOn: number): Promise<Record<string, StepTimes>> {
  const out: Record<string, StepTimes> = {};
  for (const [name, sh] of Object.entries(shells)) {
    // all boots: the power-cycled node's first boot holds its formation
    const j = await sh.tryRoot('journalctl -u personal-cloud-agent --no-pager -o short-unix', 60_000);
    out[name] = stepTimesFromJournal(j.out, powerOn / 1000);
  }
  return out;
}

async function collectJournals(shells: Record<string, NodeShell>, work: string): Promise<void> {
  for (const [name, sh] of Object.entries(shells)) {
    const j = await sh.tryRoot('journalctl -u personal-cloud-agent -u glusterd -u corosync -u pacemaker --no-pager -o short-iso; echo; systemctl status personal-cloud-agent glusterd corosync pacemaker --no-pager; echo; cat /var/lib/personal-cloud/status.json', 60_000).catch((e) => ({ out: String(e) }));
    const f = join(work, `${name}-journal.log`);
    await writeFile(f, j.out);
    say(`journal of ${name}: ${f}`);
  }
}

function printFigures(ok: boolean, f: Figures, work: string): void {
  const lines = [
    `e2e ${ok ? 'PASSED' : 'FAILED'} (details: ${join(work, 'e2e-result.json')})`,
    f.imageBuildSeconds !== undefined ? `  image build (3 nodes, qcow2): ${f.imageBuildSeconds.toFixed(0)} s, base tree ${f.rootfsCached ? 'cached' : 'built cold'}` : '',
    f.powerOnToHealthySeconds !== undefined ? `  power-on → healthy storage (gv0 started + mounted, brick on every node): ${f.powerOnToHealthySeconds.toFixed(0)} s` : '',
    f.agentKill ? `  agent kill on ${f.agentKill.node} at +${f.agentKill.atSeconds.toFixed(0)} s (after steps ${f.agentKill.stepsDoneBefore.join(',')}): systemd restarts ${f.agentKill.restarts}${f.agentKill.convergedSecondsAfterKill !== undefined ? `, cluster healthy ${f.agentKill.convergedSecondsAfterKill.toFixed(0)} s after the kill` : ', NOT converged'}` : '',
    f.powerCycle ? `  power-cycle ${f.powerCycle.node}: answering after ${f.powerCycle.backAnsweringSeconds.toFixed(0)} s, healed after ${f.powerCycle.healedSeconds.toFixed(0)} s, brick kept ${f.powerCycle.brickUuidKept}, volume kept ${f.powerCycle.volumeIdKept}` : '',
    f.replace ? `  replace ${f.replace.node} (new VM, blank disks, same image): agent answering ${f.replace.answeringSeconds.toFixed(0)} s, brick healed (${f.replace.files} files, md5 equal to node1's) ${f.replace.healedSeconds.toFixed(0)} s after power-on; glusterd UUID kept ${f.replace.uuidKept}; corosync members ${f.replace.haMembers}` : '',
    f.ha ? `  HA ${f.ha.ok ? 'ok' : 'FAILED'}${f.ha.readySeconds !== undefined ? ` (ready ${f.ha.readySeconds.toFixed(0)} s after power-on)` : ''}: corosync ${f.ha.corosync}\n     pacemaker ${f.ha.pacemaker}${f.ha.testVm ? `\n     test VM ${f.ha.testVm}` : ''}` : '',
    f.backup ? `  backup ${f.backup.ok ? 'ok' : 'FAILED'} (${f.backup.method ?? 'no method'}${f.backup.snapshot ? `, snapshot ${f.backup.snapshot} taken in ${f.backup.snapshotSeconds?.toFixed(1)} s (create ${f.backup.snapshotCreateSeconds?.toFixed(1) ?? '?'} s)` : ''}, on ${f.backup.runner ?? '?'}): backup now ${f.backup.backupSeconds?.toFixed(1) ?? '?'} s (VM ${f.backup.vmSeconds?.toFixed(1) ?? '?'} s, ${f.backup.originalMB?.toFixed(1)} MB read, ${f.backup.addedMB?.toFixed(1)} MB added), repository ${f.backup.repoMB?.toFixed(1) ?? '?'} MB, verify ${f.backup.verifySeconds?.toFixed(1) ?? '?'} s, restore --as ${f.backup.restoreSeconds?.toFixed(1) ?? '?'} s (md5 ${f.backup.md5 ? (f.backup.md5.archive === f.backup.md5.copy ? 'equal' : 'DIFFERENT') : '?'}; copy ${f.backup.copyRole ?? '?'}${f.backup.copyStartedSeconds !== undefined ? `, started ${f.backup.copyStartedSeconds.toFixed(0)} s after` : ''}); runner killed with its snapshot mounted: ${f.backup.killed?.cleaned ? `the next run cleaned up (${f.backup.killed.cleaned.length} lines) and took ${f.backup.killed.nextSeconds?.toFixed(1)} s, VM ${f.backup.secondSeconds?.toFixed(1)} s, ${f.backup.secondAddedMB?.toFixed(1)} MB added` : 'NOT shown'}; node1 loadavg ${f.backup.loadavg ?? '?'}` : '',
    ...(f.failures ?? []).map((x) => `  FAILED: ${x}`),
  ];
  if (f.stepTimes) {
    for (const [node, t] of Object.entries(f.stepTimes)) {
      lines.push(`  ${node}: agent start +${t.agentStart?.toFixed(0) ?? '?'} s after power-on (${t.restarts} restarts); step first done at (s after power-on): ${Object.entries(t.stepDone).map(([s, v]) => `${s} ${v.toFixed(0)}`).join(', ')}`);
    }
  }
  process.stdout.write(`${lines.filter(Boolean).join('\n')}\n`);
}

process.exitCode = await main();
