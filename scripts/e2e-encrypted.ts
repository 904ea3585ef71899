// End-to-end proof of encrypted bricks (`make e2e-encrypted`): builds the disk images of the
// 3-node cluster in test/fixtures/e2e/cluster-encrypted.yaml (LUKS2 bricks bound to the other
// nodes' tang, threshold 1), boots them in QEMU (TCG) on a private bridge in a network namespace
// (test/e2e/*), and proves:
//   - the cluster forms on encrypted bricks (the brick's XFS sits on dm-crypt; the header holds a
//     clevis token and the recovery slot; the format key is gone),
//   - a marker written to /mnt/gv0 is NOT in the raw bytes of any brick disk (qemu-img convert to
//     raw, grep), while the same marker written to a plain disk IS found (the method works),
//   - `personal-cloud recovery-key` gives a passphrase that opens the brick (cryptsetup
//     --test-passphrase in the guest); a wrong one does not,
//   - a node rebooted alone unlocks from its peers' tang and rejoins with heal,
//   - the stolen box: node3 booted cut off from its peers keeps its brick locked and says so in
//     status, nothing is created in its place; it unlocks once the link returns,
//   - the three power-cycled at once all unlock and the volume heals.
// Figures: boot → unlocked (from the agents' journals, seconds since kernel start), dd
// throughput on the encrypted brick vs a plain XFS disk in the same guest, loadavg alongside.
// On failure the work dir keeps serial logs and journals. Options: --help.
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { scriptArgs } from './args.js';
import { bootDiskVm, type DiskVm } from '../test/helpers/qemu-disk.js';
import { createPrivateNet, type PrivateNet } from '../test/e2e/netns.js';
import { stopOnInterrupt } from '../test/e2e/interrupt.js';
import { nodeShell, type NodeShell } from '../test/e2e/ssh.js';
import { healthProblems } from '../test/e2e/health.js';
import { clusterStatus, E2E_NODES, runtimeConfig, waitHealthy } from '../test/e2e/cluster.js';
import type { NodeAnswer } from '../src/commands/status.js';

const ROOT = resolve('.');
const FIXTURE = join(ROOT, 'test/fixtures/e2e/cluster-encrypted.yaml');
const CLI = join(ROOT, 'bin/personal-cloud.js');
const NODES = E2E_NODES;
const NAMES = NODES.map((n) => n.name);
const BRICK_DEV = '/dev/disk/by-id/virtio-pc-gv0';
const SCRATCH_DEV = '/dev/disk/by-id/virtio-pc-scratch';
const BRICK_MNT = '/data/glusterfs/gv0/brick1';

const { values: opt } = scriptArgs(`Usage: make e2e-encrypted   (node scripts/run-ts.mjs scripts/e2e-encrypted.ts [options])
  --work DIR            keep the run's files in DIR (default: a new /var/tmp/pc-e2e-crypt-* removed after a pass)
  --keep                keep the work dir after a pass too
  --timeout-min N       power-on → healthy storage limit (default 40)
  --wait-min N          limit for each reboot scenario to unlock and heal (default 15)
  --locked-s N          how long the cut-off node is watched staying locked (default 60)
  --memory MIB          memory per VM (default 2048)
  --no-reboots          stop after the formation, marker, throughput and recovery-key proofs`, {
  keep: { type: 'boolean' }, work: { type: 'string' }, 'timeout-min': { type: 'string' }, 'wait-min': { type: 'string' },
  'locked-s': { type: 'string' }, memory: { type: 'string' }, 'no-reboots': { type: 'boolean' },
});
const TIMEOUT_MS = Number(opt['timeout-min'] ?? 40) * 60_000;
const WAIT_MS = Number(opt['wait-min'] ?? 15) * 60_000;
const LOCKED_MS = Number(opt['locked-s'] ?? 60) * 1000;
/** As scripts/e2e.ts: periodic jobs of a first boot would take CPU from the cluster's daemons. */
const KERNEL_OPTS = ['no_timer_check', ...['apt-daily', 'apt-daily-upgrade', 'dpkg-db-backup', 'e2scrub_all', 'fstrim', 'logrotate', 'xfs_scrub_all', 'man-db']
  .map((t) => `systemd.mask=${t}.timer`)].join(' ');
const t0 = Date.now();
const since = (t: number) => ((Date.now() - t) / 1000).toFixed(0);
const say = (m: string) => process.stdout.write(`[e2e-crypt +${since(t0)}s] ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const loadavg = async () => (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');

interface Figures {
  imageBuildSeconds?: number;
  powerOnToHealthySeconds?: number;
  layers?: Record<string, string>;
  marker?: { bricksScanned: number; foundInBricks: string[]; foundInPlainControl: boolean };
  throughput?: { encrypted: { writeMBs: number; readMBs: number }; plain: { writeMBs: number; readMBs: number }; loadavg: string };
  recovery?: { opens: boolean; wrongRefused: boolean };
  rebootOne?: { node: string; bootToUnlockedS: number | null; healedS: number; fileHealed: boolean; loadavg: string };
  stolen?: { node: string; lockedDetail: string; stayedLockedS: number; nothingInItsPlace: boolean; linkToUnlockedS: number; healedS: number; loadavg: string };
  powerCycleAll?: { bootToUnlockedS: Record<string, number | null>; resetToHealedS: number; loadavg: string };
  failures: string[];
}

const figures: Figures = { failures: [] };
const status = (net: PrivateNet, config: string, heal = false) => clusterStatus(net, config, { heal });
const disksStep = (a?: NodeAnswer) => a?.status?.steps.find((s) => s.name === 'disks');

/** When the agent logged the brick unlocked in this boot: seconds since the kernel started. */
async function bootToUnlocked(sh: NodeShell): Promise<number | null> {
  const j = await sh.tryRoot('journalctl -b -u personal-cloud-agent -o short-monotonic --no-pager | grep -m1 "brick1: unlocked"', 60_000);
  const m = /^\[\s*(\d+\.\d+)\]/.exec(j.out.trim());
  return m ? Number(m[1]) : null;
}

/** Every node answers, converged, gv0 started and mounted, and heal info shows nothing pending on connected bricks. */
async function waitHealed(net: PrivateNet, config: string, limitMs: number, what: string, extra: () => Promise<boolean> = async () => true): Promise<number> {
  const start = Date.now();
  let last = '';
  for (;;) {
    if (Date.now() - start > limitMs) throw new Error(`${what}: not healed within ${limitMs / 60_000} min (${last})`);
    const answers = await status(net, config, true);
    const problems = healthProblems(answers, NAMES, 'gv0');
    const heal = answers.map((a) => `${a.node}: ${(a.status?.volumes.find((v) => v.name === 'gv0')?.heal ?? []).map((h) => `${h.brick.split(':')[0]} ${h.connected ? h.entries : 'disconnected'}`).join(' ') || 'no heal info'}`).join('; ');
    const line = problems.length ? problems.join('; ') : `heal: ${heal}`;
    if (line !== last) { say(line); last = line; }
    const healed = !problems.length && answers.every((a) => a.status!.volumes.filter((v) => v.name === 'gv0')
      .every((v) => (v.heal ?? []).length === NODES.length && (v.heal ?? []).every((h) => h.connected && h.entries === 0)));
    if (healed && (await extra())) return (Date.now() - start) / 1000;
    await sleep(10_000);
  }
}

/** MB/s from dd's last line ("… copied, 3.1 s, 86.5 MB/s"; kB/s and GB/s scaled). */
function ddRate(out: string): number {
  const m = /([\d.]+) ([kMG])B\/s/.exec(out.trim().split('\n').pop() ?? '');
  if (!m) throw new Error(`no rate in dd's output: ${out.slice(-300)}`);
  return Number(m[1]) * ({ k: 0.001, M: 1, G: 1000 } as Record<string, number>)[m[2]];
}

async function ddFigures(sh: NodeShell, dir: string): Promise<{ writeMBs: number; readMBs: number }> {
  const f = `${dir}/dd-test`;
  const w = await sh.root(`LC_ALL=C dd if=/dev/zero of=${f} bs=1M count=256 oflag=direct 2>&1`, 600_000);
  const r = await sh.root(`sync; echo 3 > /proc/sys/vm/drop_caches; LC_ALL=C dd if=${f} of=/dev/null bs=1M iflag=direct 2>&1; rm -f ${f}`, 600_000);
  return { writeMBs: ddRate(w), readMBs: ddRate(r) };
}

/** Whether `needle` occurs in the raw bytes of a (running) VM's qcow2 disk. */
async function inRawDisk(qcow2: string, work: string, needle: string): Promise<boolean> {
  const raw = join(work, 'scan.raw');
  await execa('qemu-img', ['convert', '-U', '-O', 'raw', qcow2, raw]);
  try {
    const g = await execa('grep', ['-c', '-a', '-F', needle, raw], { reject: false });
    if (g.exitCode !== 0 && g.exitCode !== 1) throw new Error(`grep ${raw}: ${g.stderr}`);
    return g.exitCode === 0;
  } finally { await rm(raw, { force: true }); }
}

async function main(): Promise<number> {
  const work = opt.work ? resolve(opt.work) : await mkdtemp('/var/tmp/pc-e2e-crypt-');
  await mkdir(work, { recursive: true });
  say(`work dir ${work}`);
  const vms: DiskVm[] = [];
  let net: PrivateNet | undefined;
  let shells: Record<string, NodeShell> = {};
  let ok = false;
  let builder: ReturnType<typeof execa> | undefined;
  stopOnInterrupt(() => ({ builder, vms, net }), say);
  try {
    const { config, keyFile, password } = await runtimeConfig(FIXTURE, work);
    // the images carry dist/personal-cloud-agent.mjs: bundle this checkout's agent and CLI first
    await execa('node', [join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, stdio: 'inherit' });
    say('building the disk images (personal-cloud build disk --format qcow2)');
    const tb = Date.now();
    builder = execa('node', [CLI, 'build', 'disk', '--config', config, '--out', join(work, 'out'), '--format', 'qcow2', '--kernel-opts', KERNEL_OPTS, '--json'], { reject: false, stderr: 'inherit' });
    const build = await builder;
    builder = undefined;
    if (build.exitCode !== 0) throw new Error(`build disk failed (exit ${build.exitCode}):\n${build.stdout}`);
    const built = JSON.parse(String(build.stdout)) as { rootfs: { cached: boolean }; outputs: { file: string; target: string }[] };
    figures.imageBuildSeconds = (Date.now() - tb) / 1000;
    say(`images built in ${figures.imageBuildSeconds.toFixed(0)} s (base tree ${built.rootfs.cached ? 'from cache' : 'built cold'})`);

    net = await createPrivateNet(`pccrypt${process.pid}`, '10.79.0.1/24');
    for (const [i] of NODES.entries()) await net.addTap(`tap${i}`);
    const ns = net.ns;
    shells = Object.fromEntries(NODES.map((n) => [n.name, nodeShell({ netns: ns, address: n.address, user: 'admin', keyFile, password })]));
    const boot = (i: number) => bootDiskVm({
      name: NODES[i].name, image: built.outputs.find((o) => o.target === NODES[i].name)!.file, workDir: work, firmware: NODES[i].firmware, mac: NODES[i].mac, netns: ns, tap: `tap${i}`,
      osSerial: 'pc-os', disks: [{ serial: 'pc-gv0', sizeGiB: 6 }, { serial: 'pc-scratch', sizeGiB: 1 }], memoryMiB: Number(opt.memory ?? 2048),
    });
    const powerOn = Date.now();
    for (const i of NODES.keys()) vms.push(await boot(i));
    say(`3 VMs powered on; waiting for the cluster on encrypted bricks (timeout ${TIMEOUT_MS / 60_000} min)`);
    await waitHealthy({ net, config, nodes: NAMES, timeoutMs: TIMEOUT_MS, say, intervalMs: 15_000, alive: () => vms.find((vm) => vm.exited)?.name.concat(': QEMU exited') ?? null });
    figures.powerOnToHealthySeconds = (Date.now() - powerOn) / 1000;
    say(`HEALTHY on encrypted bricks ${figures.powerOnToHealthySeconds.toFixed(0)} s after power-on (loadavg ${await loadavg()})`);

    // the layers: XFS on the thin LV on the mapper device; the header: a clevis token, two slots, no format key left
    figures.layers = {};
    for (const n of NAMES) {
      const sh = shells[n];
      const chain = (await sh.root(`lsblk -s -n -o NAME,TYPE "$(findmnt -no SOURCE ${BRICK_MNT})" | tr -s " " | paste -sd "," -`)).trim();
      const dump = JSON.parse(await sh.root(`cryptsetup luksDump --dump-json-metadata ${BRICK_DEV}`)) as { keyslots: Record<string, unknown>; tokens: Record<string, { type: string }> };
      const slots = `${Object.keys(dump.keyslots).length} slots, tokens ${Object.values(dump.tokens).map((t) => t.type).join(',')}`;
      const keys = (await sh.root('ls -A /run/personal-cloud/luks 2>/dev/null | wc -l')).trim();
      figures.layers[n] = `${chain} | keyslots ${slots} | format keys in /run: ${keys}`;
      say(`${n}: ${figures.layers[n]}`);
      if (!/crypt/.test(chain) || slots !== '2 slots, tokens clevis' || keys !== '0') figures.failures.push(`${n}: brick layers/header not as expected: ${figures.layers[n]}`);
    }
    const answers = await status(net, config);
    for (const a of answers) say(`${a.node} disks: ${disksStep(a)?.detail ?? a.error}`);

    // the marker: in clear through Gluster, never in clear on a brick disk
    const marker = `PCMARK-${randomBytes(12).toString('hex')}`;
    await shells.node1.root(`findmnt -n -t fuse.glusterfs /mnt/gv0 >/dev/null && yes ${marker} | head -c 4M > /mnt/gv0/marker.txt && sync`);
    for (const n of NAMES) {
      // read back with O_DIRECT after dropping the caches: the blocks are on the virtual disk, through dm-crypt
      const onBrick = await shells[n].root(`sync; echo 3 > /proc/sys/vm/drop_caches; dd if=${BRICK_MNT}/brick/marker.txt iflag=direct bs=1M status=none | grep -c ${marker}`);
      if (!(Number(onBrick.trim().split('\n')[0]) > 0)) figures.failures.push(`${n}: the marker file is not on its brick (${onBrick.trim()})`);
    }
    await sleep(5000);
    const found: string[] = [];
    for (const n of NAMES) if (await inRawDisk(join(work, `${n}-pc-gv0.qcow2`), work, marker)) found.push(n);
    // control: the same marker on a plain disk of node1 is found by the same scan
    await shells.node1.root(`yes ${marker} | head -c 1M | dd of=${SCRATCH_DEV} bs=1M oflag=direct status=none && sync`);
    const control = await inRawDisk(join(work, 'node1-pc-scratch.qcow2'), work, marker);
    figures.marker = { bricksScanned: NAMES.length, foundInBricks: found, foundInPlainControl: control };
    say(`marker in the raw brick disks: ${found.length ? `FOUND on ${found.join(', ')}` : 'not found on any of 3'}; on the plain control disk: ${control ? 'found' : 'NOT found'}`);
    if (found.length || !control) figures.failures.push(`marker scan: ${JSON.stringify(figures.marker)}`);

    // throughput: the encrypted brick (dm-crypt + thin LV + XFS) vs plain XFS on the scratch disk, same guest
    await shells.node1.root(`mkfs.xfs -q -f ${SCRATCH_DEV} && mkdir -p /mnt/scratch && mount ${SCRATCH_DEV} /mnt/scratch`);
    const la = await loadavg();
    const enc = await ddFigures(shells.node1, BRICK_MNT);
    const plain = await ddFigures(shells.node1, '/mnt/scratch');
    await shells.node1.root('umount /mnt/scratch');
    figures.throughput = { encrypted: enc, plain, loadavg: la };
    say(`dd 256 MiB direct on node1: encrypted brick write ${enc.writeMBs} MB/s read ${enc.readMBs} MB/s; plain XFS write ${plain.writeMBs} MB/s read ${plain.readMBs} MB/s (loadavg ${la})`);

    // the recovery key: from cluster.yaml's secret alone, through the agent API
    const [rc, ...rargs] = net.exec(['node', CLI, 'recovery-key', '--config', config, '--node', 'node2', '--json']);
    const rk = await execa(rc, rargs, { reject: false, timeout: 120_000 });
    let pass = '';
    try { pass = (JSON.parse(String(rk.stdout)) as { brick: string; passphrase: string }[]).find((x) => x.brick === `${BRICK_MNT}`)?.passphrase ?? ''; } catch { /* reported below */ }
    if (!pass) figures.failures.push(`recovery-key --node node2: exit ${rk.exitCode}: ${String(rk.stderr).slice(-300)}`);
    else {
      // the passphrase goes over ssh's stdin (after sudo's password line), never on a command line (sudo would log it)
      const test = async (p: string) => {
        const script = `while read -r l; do case "$l" in RK:*) p="\${l#RK:}";; esac; done; printf %s "$p" | cryptsetup open --test-passphrase --key-file - ${BRICK_DEV}`;
        const [sc, ...sargs] = net!.exec(['ssh', '-i', keyFile, '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
          `admin@${NODES[1].address}`, `sudo -S -p '' sh -c '${script}'`]);
        const r = await execa(sc, sargs, { input: `${password}\nRK:${p}\n`, reject: false, timeout: 300_000 });
        return { code: r.exitCode ?? -1 };
      };
      const opens = (await test(pass)).code === 0;
      const wrongRefused = (await test(pass.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')))).code !== 0;
      figures.recovery = { opens, wrongRefused };
      say(`recovery passphrase of node2's brick (from recovery-key): opens it ${opens}; a wrong one refused ${wrongRefused}`);
      if (!opens || !wrongRefused) figures.failures.push(`recovery key: ${JSON.stringify(figures.recovery)}`);
    }

    if (!opt['no-reboots']) {
      for (const [name, scenario] of [['reboot one', () => rebootOne(vms, shells, net!, config)], ['stolen box', () => stolenBox(vms, shells, net!, config)], ['power-cycle all', () => powerCycleAll(vms, shells, net!, config)]] as const) {
        try { await scenario(); } catch (e) { figures.failures.push(`${name}: ${(e as Error).message}`); }
      }
    }
    if (figures.failures.length) throw new Error(figures.failures.join('\n'));
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
    process.stdout.write(`e2e-encrypted ${ok ? 'PASSED' : 'FAILED'}\n${JSON.stringify(figures, null, 2)}\n`);
    if (!ok) for (const vm of vms) say(`serial log of ${vm.name}: ${vm.consoleLog}`);
    if (ok && !opt.keep && !opt.work) await rm(work, { recursive: true, force: true });
  }
}

/** node2 reset while its peers run: unlocks from their tang, its brick rejoins and heals. */
async function rebootOne(vms: DiskVm[], shells: Record<string, NodeShell>, net: PrivateNet, config: string): Promise<void> {
  const name = 'node2';
  const sh = shells[name];
  const bootId = (await sh.root('cat /proc/sys/kernel/random/boot_id')).trim();
  say(`${name}: power-cycling it alone (QMP system_reset)`);
  const tr = Date.now();
  await vms[1].qmp('system_reset');
  const token = randomBytes(8).toString('hex');
  for (let i = 0; ; i++) {
    const w = await shells.node1.tryRoot(`echo ${token} > /mnt/gv0/while-down-${token}.txt && sync`);
    if (w.code === 0) break;
    if (i > 20) throw new Error(`node1 cannot write to gv0 while ${name} is down: ${w.out}`);
    await sleep(3000);
  }
  const healedS = await waitHealed(net, config, WAIT_MS, `${name} rebooted alone`, async () => {
    if ((await sh.tryRoot('cat /proc/sys/kernel/random/boot_id')).out.trim() === bootId) return false;
    return (await sh.tryRoot(`cat ${BRICK_MNT}/brick/while-down-${token}.txt`)).out.trim() === token;
  });
  const boot = await bootToUnlocked(sh);
  figures.rebootOne = { node: name, bootToUnlockedS: boot, healedS: (Date.now() - tr) / 1000, fileHealed: true, loadavg: await loadavg() };
  say(`${name}: unlocked ${boot ?? '?'} s after its kernel started; healed (file written while down on its brick) ${figures.rebootOne.healedS.toFixed(0)} s after the reset (${healedS.toFixed(0)} s of waiting) (loadavg ${figures.rebootOne.loadavg})`);
  if (boot === null) throw new Error(`${name}: no "unlocked" line in its agent's journal of this boot`);
}

/** The stolen box: node3 booted with its link to the peers cut keeps its brick locked and says why; the link back unlocks it. */
async function stolenBox(vms: DiskVm[], shells: Record<string, NodeShell>, net: PrivateNet, config: string): Promise<void> {
  const name = 'node3';
  const sh = shells[name];
  // bridge forwarding to and from its tap dropped: it reaches no node; the run (the bridge's own address) still reaches it
  const eb = (args: string) => execa('ip', ['netns', 'exec', net.ns, 'ebtables', ...args.split(' ')]);
  await eb('-A FORWARD -i tap2 -j DROP');
  await eb('-A FORWARD -o tap2 -j DROP');
  const bootId = (await sh.root('cat /proc/sys/kernel/random/boot_id')).trim();
  say(`${name}: cut off from its peers and power-cycled (the stolen box)`);
  await vms[2].qmp('system_reset');
  let lockedDetail = '';
  let lockedSince = 0;
  const end = Date.now() + WAIT_MS;
  let nothingInItsPlace = true;
  for (;;) {
    if (Date.now() > end) throw new Error(`${name}: never reported its brick locked (${lockedDetail || 'no status'})`);
    const a = (await status(net, config)).find((x) => x.node === name);
    const d = disksStep(a);
    if (d) lockedDetail = `${d.state}: ${d.detail}`;
    if (a?.ok && d && (await sh.tryRoot('cat /proc/sys/kernel/random/boot_id')).out.trim() !== bootId) {
      const look = await sh.tryRoot(`cryptsetup status gv0b1 >/dev/null 2>&1 && echo OPEN; findmnt -n ${BRICK_MNT} && echo MOUNTED; test -e ${BRICK_MNT}/brick && echo BRICKDIR; true`);
      if (/OPEN|MOUNTED|BRICKDIR/.test(look.out)) { nothingInItsPlace = false; throw new Error(`${name} cut off: ${look.out.trim()}`); }
      const locked = d.state === 'waiting' && /bricks locked: waiting for 1 of node1, node2 tang/.test(d.detail);
      if (!locked && lockedSince) throw new Error(`${name} cut off: its disks step went from locked to ${d.state}: ${d.detail}`);
      if (locked && !lockedSince) { lockedSince = Date.now(); lockedDetail = d.detail; say(`${name}: status says "${d.detail}" (disks step ${d.state})`); }
      if (lockedSince && Date.now() - lockedSince >= LOCKED_MS) break;
    }
    await sleep(10_000);
  }
  const stayedLockedS = (Date.now() - lockedSince) / 1000;
  await eb('-D FORWARD -i tap2 -j DROP');
  await eb('-D FORWARD -o tap2 -j DROP');
  const tl = Date.now();
  say(`${name}: still locked after ${stayedLockedS.toFixed(0)} s of watching; link restored`);
  let linkToUnlockedS = 0;
  const healedS = await waitHealed(net, config, WAIT_MS, `${name} after its link returned`, async () => {
    if (!linkToUnlockedS && (await sh.tryRoot(`findmnt -n ${BRICK_MNT}`)).code === 0) linkToUnlockedS = (Date.now() - tl) / 1000;
    return linkToUnlockedS > 0;
  });
  figures.stolen = { node: name, lockedDetail, stayedLockedS, nothingInItsPlace, linkToUnlockedS, healedS, loadavg: await loadavg() };
  say(`${name}: unlocked and mounted ≤ ${linkToUnlockedS.toFixed(0)} s after the link returned; healed ${healedS.toFixed(0)} s after (loadavg ${figures.stolen.loadavg})`);
}

/** All three reset at once: every node waits for another's tang, all unlock, the volume heals. */
async function powerCycleAll(vms: DiskVm[], shells: Record<string, NodeShell>, net: PrivateNet, config: string): Promise<void> {
  const ids = await Promise.all(NAMES.map(async (n) => (await shells[n].root('cat /proc/sys/kernel/random/boot_id')).trim()));
  say('power-cycling all three at once');
  const tr = Date.now();
  await Promise.all(vms.map((vm) => vm.qmp('system_reset')));
  await waitHealed(net, config, WAIT_MS, 'after the power-cycle of all three', async () => {
    const now = await Promise.all(NAMES.map(async (n) => (await shells[n].tryRoot('cat /proc/sys/kernel/random/boot_id')).out.trim()));
    return now.every((id, i) => id && id !== ids[i]);
  });
  const boot: Record<string, number | null> = {};
  for (const n of NAMES) boot[n] = await bootToUnlocked(shells[n]);
  figures.powerCycleAll = { bootToUnlockedS: boot, resetToHealedS: (Date.now() - tr) / 1000, loadavg: await loadavg() };
  say(`all three unlocked (s after kernel start: ${NAMES.map((n) => `${n} ${boot[n] ?? '?'}`).join(', ')}); healthy and healed ${figures.powerCycleAll.resetToHealedS.toFixed(0)} s after the reset (loadavg ${figures.powerCycleAll.loadavg})`);
  if (NAMES.some((n) => boot[n] === null)) throw new Error(`no "unlocked" line in this boot's journal of ${NAMES.filter((n) => boot[n] === null).join(', ')}`);
}

async function collectJournals(shells: Record<string, NodeShell>, work: string): Promise<void> {
  for (const [name, sh] of Object.entries(shells)) {
    const j = await sh.tryRoot('journalctl -u personal-cloud-agent -u glusterd -u tangd.socket --no-pager -o short-iso; echo; cat /var/lib/personal-cloud/status.json', 60_000).catch((e) => ({ out: String(e) }));
    await writeFile(join(work, `${name}-journal.log`), j.out);
    say(`journal of ${name}: ${join(work, `${name}-journal.log`)}`);
  }
}

process.exitCode = await main();
