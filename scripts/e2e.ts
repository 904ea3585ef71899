// End-to-end proof on preinstalled disks (`make e2e`): builds the disk images of a 3-node
// cluster, boots three QEMU VMs (TCG) from them on a private bridge in a network namespace,
// asks `personal-cloud status` until the cluster is healthy, and proves on the way:
//   - an agent SIGKILLed during formation is restarted by systemd and the cluster still forms,
//   - a file written on node1's gv0 mount is readable on node3,
//   - a power-cycled VM (QMP system_reset) comes back, rejoins, heals; nothing re-created.
// Prints figures (image build time, power-on → healthy, per-step times from the agents'
// journals). On failure: each VM's serial log and the agent journals are kept in the work dir.
// Everything it starts is stopped, also on failure.
//
// Usage: node scripts/run-ts.mjs scripts/e2e.ts [--keep] [--work DIR] [--timeout-min N] [--no-kill] [--no-reset]
import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bootDiskVm, type DiskVm } from '../test/helpers/qemu-disk.js';
import { createPrivateNet, type PrivateNet } from '../test/e2e/netns.js';
import { nodeShell, type NodeShell } from '../test/e2e/ssh.js';
import { healthProblems, stepTimesFromJournal, type StepTimes } from '../test/e2e/health.js';
import { clusterStatus, E2E_NODES, runtimeConfig, waitHealthy } from '../test/e2e/cluster.js';

const ROOT = resolve('.');
const FIXTURE = join(ROOT, 'test/fixtures/e2e/cluster.yaml');
const NODES = E2E_NODES;

const { values: opt } = parseArgs({
  options: {
    keep: { type: 'boolean' }, work: { type: 'string' }, 'timeout-min': { type: 'string' },
    'no-kill': { type: 'boolean' }, 'no-reset': { type: 'boolean' }, memory: { type: 'string' },
  },
});
const TIMEOUT_MS = Number(opt['timeout-min'] ?? 40) * 60_000;
const t0 = Date.now();
const since = (t: number) => ((Date.now() - t) / 1000).toFixed(0);
const say = (m: string) => process.stdout.write(`[e2e +${since(t0)}s] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Figures {
  imageBuildSeconds?: number;
  rootfsCached?: boolean;
  powerOnToHealthySeconds?: number;
  agentKill?: { node: string; atSeconds: number; restarts: number; stepsDoneBefore: string[] };
  stepTimes?: Record<string, StepTimes>;
  powerCycle?: { node: string; backAnsweringSeconds: number; healedSeconds: number; bootIdChanged: boolean; brickUuidKept: boolean; volumeIdKept: boolean; fileWrittenWhileDownHealed: boolean; destructiveLogLines: string[] };
  ha?: string;
}

const status = (net: PrivateNet, config: string) => clusterStatus(net, join(ROOT, 'bin/personal-cloud.js'), config);

async function main(): Promise<number> {
  const work = opt.work ? resolve(opt.work) : await mkdtemp('/var/tmp/pc-e2e-');
  await mkdir(work, { recursive: true });
  say(`work dir ${work}`);
  const figures: Figures = {};
  const vms: DiskVm[] = [];
  let net: PrivateNet | undefined;
  let shells: Record<string, NodeShell> = {};
  let ok = false;
  // Ctrl-C / SIGTERM: stop what this run started (VMs, namespace) before exiting.
  const onSignal = () => {
    for (const vm of vms) void vm.stop();
    if (net) execFileSync('ip', ['netns', 'del', net.ns], { stdio: 'ignore' });
    say('interrupted: VMs stopped, namespace removed');
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const { config, keyFile, password } = await runtimeConfig(FIXTURE, work);

    say('building the disk images (personal-cloud build disk --format qcow2)');
    const tb = Date.now();
    const build = await execa('node', [join(ROOT, 'bin/personal-cloud.js'), 'build', 'disk', '--config', config, '--out', join(work, 'out'), '--format', 'qcow2', '--kernel-opts', 'no_timer_check', '--json'],
      { reject: false, stderr: 'inherit' });
    if (build.exitCode !== 0) throw new Error(`build disk failed (exit ${build.exitCode}):\n${build.stdout}`);
    const built = JSON.parse(String(build.stdout)) as { rootfs: { cached: boolean }; outputs: { file: string; target: string }[] };
    figures.imageBuildSeconds = (Date.now() - tb) / 1000;
    figures.rootfsCached = built.rootfs.cached;
    say(`images built in ${figures.imageBuildSeconds.toFixed(0)} s (base tree ${built.rootfs.cached ? 'from cache' : 'built cold'})`);

    net = await createPrivateNet(`pce2e${process.pid}`, '10.79.0.1/24');
    for (const [i] of NODES.entries()) await net.addTap(`tap${i}`);
    shells = Object.fromEntries(NODES.map((n) => [n.name, nodeShell({ netns: net!.ns, address: n.address, user: 'admin', keyFile, password })]));

    const powerOn = Date.now();
    for (const [i, n] of NODES.entries()) {
      const image = built.outputs.find((o) => o.target === n.name)!.file;
      vms.push(await bootDiskVm({
        name: n.name, image, workDir: work, firmware: n.firmware, mac: n.mac, netns: net.ns, tap: `tap${i}`,
        osSerial: 'pc-os', disks: [{ serial: 'pc-gv0', sizeGiB: 20 }], memoryMiB: Number(opt.memory ?? 1536),
      }));
    }
    say(`3 VMs powered on (node1, node2: BIOS; node3: UEFI); waiting for the cluster (timeout ${TIMEOUT_MS / 60_000} min)`);
    // informative only: under heavy TCG load the serial getty can miss its device timeout; the agents' status is what counts
    for (const vm of vms) void vm.waitFor(/login:/, TIMEOUT_MS).then(() => say(`${vm.name}: login prompt on the serial console after ${since(powerOn)} s`), () => undefined);

    let killed = Boolean(opt['no-kill']);
    await waitHealthy({
      net, cli: join(ROOT, 'bin/personal-cloud.js'), config, nodes: NODES.map((n) => n.name), timeoutMs: TIMEOUT_MS, say,
      alive: () => vms.find((vm) => vm.exited)?.name.concat(': QEMU exited') ?? null,
      onPoll: async (answers) => {
        if (killed) return true;
        const victim = answers.find((a) => a.node === 'node2' && a.ok && !a.status!.converged);
        if (!victim) return false;
        // Formation is under way on node2: kill its agent the hard way; systemd must restart it.
        const done = victim.status!.steps.filter((s) => s.state === 'done').map((s) => s.name);
        const k = await shells.node2.tryRoot('systemctl kill --signal=SIGKILL personal-cloud-agent.service', 120_000);
        if (k.code !== 0) { say(`node2: cannot kill the agent yet (ssh: ${k.out.trim().slice(0, 120)}); retrying`); return false; }
        figures.agentKill = { node: 'node2', atSeconds: (Date.now() - powerOn) / 1000, restarts: 0, stepsDoneBefore: done };
        say(`node2: agent SIGKILLed during formation (steps done so far: ${done.join(', ') || 'none'})`);
        killed = true;
        return false;
      },
    });
    figures.powerOnToHealthySeconds = (Date.now() - powerOn) / 1000;
    say(`HEALTHY ${figures.powerOnToHealthySeconds.toFixed(0)} s after power-on`);

    if (figures.agentKill) {
      const r = await shells.node2.root('systemctl show -p NRestarts --value personal-cloud-agent.service');
      figures.agentKill.restarts = Number(r.trim());
      if (!(figures.agentKill.restarts >= 1)) throw new Error(`node2: the killed agent was not restarted by systemd (NRestarts=${r.trim()})`);
      say(`node2: systemd restarted the killed agent (NRestarts=${figures.agentKill.restarts}) and it converged`);
    }

    const token = randomBytes(8).toString('hex');
    await shells.node1.root(`echo ${token} > /mnt/gv0/e2e-${token}.txt && sync`);
    const seen = (await shells.node3.root(`cat /mnt/gv0/e2e-${token}.txt`)).trim();
    if (seen !== token) throw new Error(`node3 reads '${seen}' from the file node1 wrote ('${token}')`);
    say('a file written on node1\'s /mnt/gv0 is readable on node3');

    const ha = await shells.node1.tryRoot('command -v corosync-quorumtool >/dev/null && corosync-quorumtool -s 2>&1 | head -20');
    figures.ha = ha.code === 0 && /Quorate:\s+Yes/.test(ha.out) ? `corosync quorate: ${/Total votes:\s+(\d+)/.exec(ha.out)?.[1]} votes` : 'HA stack (corosync/pacemaker) not configured by the agent yet: not checked';
    say(figures.ha);

    if (!opt['no-reset']) figures.powerCycle = await powerCycle(vms[2], shells, net, config);
    figures.stepTimes = await collectStepTimes(shells, powerOn);
    ok = true;
    return 0;
  } catch (e) {
    say(`FAILED: ${(e as Error).message}`);
    return 1;
  } finally {
    if (!ok && Object.keys(shells).length) await collectJournals(shells, work);
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
    bootId: (await sh.root('cat /proc/sys/kernel/random/boot_id')).trim(),
    brickUuid: (await sh.root('blkid -s UUID -o value "$(findmnt -no SOURCE /data/glusterfs/gv0/brick1)"')).trim(),
    volumeId: (await sh.root('gluster volume info gv0 | sed -n "s/^Volume ID: //p"')).trim(),
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
  for (;;) {
    if (Date.now() - tr > 20 * 60_000) throw new Error(`${vm.name} did not come back healthy within 20 min of the reset`);
    const answers = await status(net, config);
    const me = answers.find((a) => a.node === vm.name);
    if (me?.ok && !backAnswering) {
      const bootNow = (await sh.tryRoot('cat /proc/sys/kernel/random/boot_id')).out.trim();
      if (bootNow && bootNow !== before.bootId) { backAnswering = (Date.now() - tr) / 1000; say(`${vm.name}: back and answering ${backAnswering.toFixed(0)} s after the reset`); }
    }
    const healed = backAnswering && !healthProblems(answers, NODES.map((n) => n.name)).length
      && answers.every((a) => a.status!.volumes.filter((v) => v.name === 'gv0').every((v) => (v.heal ?? []).every((h) => h.connected && h.entries === 0) && (v.heal ?? []).length === NODES.length));
    if (healed) break;
    await sleep(5000);
  }
  const healedSeconds = (Date.now() - tr) / 1000;
  const after = await facts();
  const onBrick = (await sh.tryRoot(`cat /data/glusterfs/gv0/brick1/brick/while-down-${token}.txt`)).out.trim();
  const journal = await sh.root('journalctl -b -u personal-cloud-agent --no-pager -o cat');
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
    const j = await sh.tryRoot('journalctl -u personal-cloud-agent -u glusterd --no-pager -o short-iso; echo; systemctl status personal-cloud-agent glusterd --no-pager', 30_000).catch((e) => ({ out: String(e) }));
    const f = join(work, `${name}-journal.log`);
    await writeFile(f, j.out);
    say(`journal of ${name}: ${f}`);
  }
}

function printFigures(ok: boolean, f: Figures, work: string): void {
  const lines = [
    `e2e ${ok ? 'PASSED' : 'FAILED'} (details: ${join(work, 'e2e-result.json')})`,
    f.imageBuildSeconds !== undefined ? `  image build (3 nodes, qcow2): ${f.imageBuildSeconds.toFixed(0)} s, base tree ${f.rootfsCached ? 'cached' : 'built cold'}` : '',
    f.powerOnToHealthySeconds !== undefined ? `  power-on → healthy: ${f.powerOnToHealthySeconds.toFixed(0)} s` : '',
    f.agentKill ? `  agent kill on ${f.agentKill.node} at +${f.agentKill.atSeconds.toFixed(0)} s: restarts ${f.agentKill.restarts}, converged` : '',
    f.powerCycle ? `  power-cycle ${f.powerCycle.node}: answering after ${f.powerCycle.backAnsweringSeconds.toFixed(0)} s, healed after ${f.powerCycle.healedSeconds.toFixed(0)} s, brick kept ${f.powerCycle.brickUuidKept}, volume kept ${f.powerCycle.volumeIdKept}` : '',
    f.ha ? `  HA: ${f.ha}` : '',
  ];
  if (f.stepTimes) {
    for (const [node, t] of Object.entries(f.stepTimes)) {
      lines.push(`  ${node}: agent start +${t.agentStart?.toFixed(0) ?? '?'} s after power-on; step done at (s after power-on): ${Object.entries(t.stepDone).map(([s, v]) => `${s} ${v.toFixed(0)}`).join(', ')}`);
    }
  }
  process.stdout.write(`${lines.filter(Boolean).join('\n')}\n`);
}

process.exitCode = await main();
