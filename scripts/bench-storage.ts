// Storage benchmark (namespace harness, real glusterd and agents): fio with the profiles a VM disk
// sees, on
//   ours:   gv0 as the agents form it for users, on the nodes' FUSE mounts /mnt/gv0;
//   floor:  one brick's filesystem directly (every brick shares this machine's one disk: a replica-3
//           write lands on it 3 times, so writes are also compared with floor/3);
//   how-to: a volume made by hand on the same nodes with the how-to's commands and options only
//           (volume create … replica 3, TLS, libvirt-qemu ownership, features.shard; mount -t glusterfs).
// Prints MB/s, IOPS and p99 latency per profile and the ratios ours/floor and ours/how-to.
// The loop-device disks run with direct I/O, so the floor is this machine's disk, not its page cache.
// Needs root and fio.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASE, Harness } from '../test/harness/cluster.js';
import { ensureFioGuest, fioGuestInitrd, parseFioConsole } from '../test/harness/fio-guest.js';
import { planFor, testConfig } from '../test/harness/plan.js';
import { sh, waitFor } from '../test/harness/sh.js';
import { scriptArgs } from './args.js';
import { median } from './stats.js';

const USAGE = `
usage: node scripts/run-ts.mjs scripts/bench-storage.ts [options]   (make bench-storage)

Forms a cluster with the agents in the namespace harness and runs fio on gv0's FUSE mount, on one
brick's filesystem (the floor) and on a volume made by hand as the how-to does, with the profiles
a VM disk sees: 1 MiB sequential write/read (iodepth 8), 4 KiB random read/write at iodepth 1 and
32, 4 KiB mixed 70/30 random read/write (iodepth 32); all direct=1. Needs root. The default run
(3 targets x 7 profiles x 3 runs of 8 s) takes about 15 minutes. It also prints the options gv0
and the how-to volume run with differently (\`gluster volume get VOL all\`, defaults included).

  --nodes N        3 (gv0 replica 3) or 6 (2 x 3 distributed-replicated), default 3
  --clients N      fio on N nodes' mounts at once (node1, node3, node5, …), the aggregate is
                   printed; default 1 for 3 nodes, 3 for 6 nodes
  --size-mb N      fio file size per client (default 512)
  --runtime S      seconds per profile (default 8)
  --engine E       fio ioengine: io_uring (default) or libaio
  --only LIST      comma-separated subset of ours,floor,howto (default all)
  --profiles LIST  comma-separated subset of the profile names (default all)
  --runs N         each profile N times on every target, the targets taking turns (their order
                   rotating) so drift of the machine hits all alike; the table shows the median
                   and the min–max of MB/s, ratios are of medians (default 3)
  --try NAME:K=V,K=V
                   also measure a copy of gv0 (its bricks' order and every option it has, made by
                   hand next to it) with these options on top, interleaved with the others;
                   repeatable; NAME: with no options is a plain copy (a control for the copy)
  --guest          also from inside a guest on node1: a qcow2 on gv0 (qemu-img create as the
                   agent does), virtio, cache=none as libvirt defines our VMs (aio threads), fio
                   on the guest's /dev/vda; QEMU TCG (slow CPU: its figures are a lower bound)
  --json FILE      write every figure as JSON to FILE (- for stdout)
`;
const { values } = scriptArgs(USAGE, {
  nodes: { type: 'string', default: '3' }, clients: { type: 'string' }, 'size-mb': { type: 'string', default: '512' },
  runtime: { type: 'string', default: '8' }, runs: { type: 'string', default: '3' }, engine: { type: 'string', default: 'io_uring' }, only: { type: 'string', default: 'ours,floor,howto' },
  profiles: { type: 'string' }, guest: { type: 'boolean', default: false }, try: { type: 'string', multiple: true, default: [] }, json: { type: 'string' },
});
const usage = (m: string): never => { process.stderr.write(`${m}\n\n${USAGE.trim()}\n`); process.exit(2); };
const NODES_N = Number(values.nodes);
if (NODES_N !== 3 && NODES_N !== 6) usage('--nodes takes 3 or 6');
const CLIENTS = Number(values.clients ?? (NODES_N === 6 ? 3 : 1));
if (!Number.isInteger(CLIENTS) || CLIENTS < 1 || CLIENTS > Math.ceil(NODES_N / 2)) usage(`--clients takes a whole number from 1 to ${Math.ceil(NODES_N / 2)}`);
const SIZE_MB = Number(values['size-mb']);
const RUNTIME = Number(values.runtime);
if (!Number.isInteger(SIZE_MB) || SIZE_MB < 16) usage('--size-mb takes a whole number ≥ 16');
if (!Number.isInteger(RUNTIME) || RUNTIME < 1 || RUNTIME > 600) usage('--runtime takes whole seconds from 1 to 600');
const RUNS = Number(values.runs);
if (!Number.isInteger(RUNS) || RUNS < 1 || RUNS > 50) usage('--runs takes a whole number from 1 to 50');
const ENGINE = values.engine!;
if (!['io_uring', 'libaio'].includes(ENGINE)) usage('--engine takes io_uring or libaio');
const ONLY = values.only!.split(',').filter(Boolean);
if (!ONLY.length || ONLY.some((x) => !['ours', 'floor', 'howto'].includes(x))) usage('--only takes a comma-separated subset of ours,floor,howto');

interface Profile { name: string; rw: string; bs: string; iodepth: number; mix?: number; write: boolean }
const ALL_PROFILES: Profile[] = [
  { name: 'seq-write-1M', rw: 'write', bs: '1M', iodepth: 8, write: true },
  { name: 'seq-read-1M', rw: 'read', bs: '1M', iodepth: 8, write: false },
  { name: 'rand-read-4k-qd1', rw: 'randread', bs: '4k', iodepth: 1, write: false },
  { name: 'rand-read-4k-qd32', rw: 'randread', bs: '4k', iodepth: 32, write: false },
  { name: 'rand-write-4k-qd1', rw: 'randwrite', bs: '4k', iodepth: 1, write: true },
  { name: 'rand-write-4k-qd32', rw: 'randwrite', bs: '4k', iodepth: 32, write: true },
  { name: 'mixed-70r30w-4k-qd32', rw: 'randrw', bs: '4k', iodepth: 32, mix: 70, write: true },
];
const PROFILES = values.profiles ? values.profiles.split(',').map((p) => ALL_PROFILES.find((x) => x.name === p) ?? usage(`unknown profile ${p}; profiles: ${ALL_PROFILES.map((x) => x.name).join(', ')}`)) : ALL_PROFILES;

interface Variant { name: string; options: [string, string][] }
const VARIANTS: Variant[] = values.try!.map((t) => {
  const m = /^([\w.+-]+):(.*)$/.exec(t) ?? usage(`--try takes NAME:KEY=VALUE,KEY=VALUE, got ${t}`);
  const options = m[2].split(',').filter(Boolean).map((kv) => { const [k, v] = kv.split('='); if (!k || v === undefined || !/^[\w.-]+$/.test(k)) usage(`--try ${t}: ${kv} is not KEY=VALUE`); return [k, v] as [string, string]; });
  return { name: m[1], options };
});
if (new Set(VARIANTS.map((v) => v.name)).size !== VARIANTS.length) usage('--try: each variant needs its own NAME');

const say = (m: string) => process.stderr.write(`[bench-storage] ${m}\n`);
const NAMES = Array.from({ length: NODES_N }, (_, i) => `node${i + 1}`);
const CLIENT_NODES = Array.from({ length: CLIENTS }, (_, i) => NAMES[i * 2]);
const BRICK_MNT = '/data/glusterfs/gv0/brick1';

interface Figures { mbps: number; iops: number; p99ms: number }
/** One target's figures of one profile: every run, and the median of each figure over the runs. */
interface Cell { median: Figures; runs: Figures[] }
type Results = Record<string, Cell>; // per profile

interface FioSide { bw_bytes: number; iops: number; clat_ns?: { percentile?: Record<string, number> } }

const fioArgs = (p: Profile) => ['--name=bench', `--size=${SIZE_MB}M`, `--rw=${p.rw}`, `--bs=${p.bs}`,
  `--iodepth=${p.iodepth}`, `--ioengine=${ENGINE}`, '--direct=1', '--time_based', `--runtime=${RUNTIME}`, '--ramp_time=1',
  ...(p.mix ? [`--rwmixread=${p.mix}`] : []), '--randrepeat=0'];

/** MB/s, IOPS and p99 of one fio JSON report (reads and writes together). */
function figures(doc: unknown, what: string): Figures {
  const job = (doc as { jobs: { read: FioSide; write: FioSide; error: number }[] }).jobs[0];
  if (job.error) throw new Error(`fio ${what}: error ${job.error}`);
  const sides = [job.read, job.write].filter((s) => s.iops > 0);
  return {
    mbps: sides.reduce((a, s) => a + s.bw_bytes, 0) / 1e6,
    iops: sides.reduce((a, s) => a + s.iops, 0),
    p99ms: Math.max(...sides.map((s) => (s.clat_ns?.percentile?.['99.000000'] ?? NaN) / 1e6)),
  };
}

const cell = (runs: Figures[]): Cell => ({ runs, median: { mbps: median(runs.map((r) => r.mbps)), iops: median(runs.map((r) => r.iops)), p99ms: median(runs.map((r) => r.p99ms)) } });

/** fio of one profile on `dir` of each client node at once; the sum of MB/s and IOPS, the worst p99. */
async function fio(h: Harness, dirs: [string, string][], p: Profile): Promise<Figures> {
  const runs = await Promise.all(dirs.map(async ([node, dir]) => {
    const args = [...fioArgs(p), `--filename=${dir}/fio-${node}.dat`, '--output-format=json'];
    const r = await h.on(node, 'fio', args, { timeoutMs: (RUNTIME + 300) * 1000, allowFail: true });
    if (r.code !== 0) throw new Error(`fio ${p.name} on ${node}:${dir} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`);
    return figures(JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))), `${p.name} on ${node}:${dir}`);
  }));
  return { mbps: runs.reduce((a, r) => a + r.mbps, 0), iops: runs.reduce((a, r) => a + r.iops, 0), p99ms: Math.max(...runs.map((r) => r.p99ms)) };
}

interface Target { name: string; dirs: [string, string][] }

/**
 * Every profile RUNS times on every target, interleaved: for each run and profile the targets take
 * turns, and the order rotates, so drift of the machine (others' load, the disk's write-back) hits
 * every target alike instead of the one measured last. The fio files stay between runs.
 */
async function interleaved(h: Harness, targets: Target[]): Promise<Record<string, Results>> {
  const got: Record<string, Record<string, Figures[]>> = Object.fromEntries(targets.map((t) => [t.name, {}]));
  for (const t of targets) for (const [node, dir] of t.dirs) await h.on(node, 'sh', ['-c', `rm -f ${dir}/fio-*.dat`]);
  for (let r = 0; r < RUNS; r++) {
    for (const [pi, p] of PROFILES.entries()) {
      const k = (r + pi) % targets.length;
      for (const t of [...targets.slice(k), ...targets.slice(0, k)]) {
        const f = await fio(h, t.dirs, p);
        (got[t.name][p.name] ??= []).push(f);
        say(`run ${r + 1}/${RUNS} ${t.name} ${p.name}: ${fmt(f)}`);
      }
    }
  }
  for (const t of targets) for (const [node, dir] of t.dirs) await h.on(node, 'sh', ['-c', `rm -f ${dir}/fio-*.dat`]);
  return Object.fromEntries(targets.map((t) => [t.name, Object.fromEntries(PROFILES.map((p) => [p.name, cell(got[t.name][p.name])]))]));
}

const fmt = (f: Figures) => `${f.mbps.toFixed(1)} MB/s ${Math.round(f.iops)} IOPS p99 ${f.p99ms.toFixed(2)} ms`;

/** The profiles from inside a guest on node1 whose disk is a qcow2 on gv0, as libvirt runs our VMs (one run: TCG is slow). */
async function guestSuite(h: Harness): Promise<{ results: Results; accel: string }> {
  const { kernel } = await ensureFioGuest();
  const initrd = await fioGuestInitrd(BASE, PROFILES.map((p) => ({ name: p.name, args: fioArgs(p) })));
  const disk = '/mnt/gv0/bench-guest.qcow2';
  const out = join(BASE, 'fio-guest-out.img');
  await sh('truncate', ['-s', '0', out]).catch(() => undefined);
  await sh('truncate', ['-s', '16M', out]);
  await h.on('node1', 'qemu-img', ['create', '-q', '-f', 'qcow2', disk, `${SIZE_MB + 64}M`]);
  // TCG, as the HA tests run their guests: this machine's KVM is nested and fails on some guests' MSRs
  const accel = 'tcg';
  const r = await h.on('node1', 'qemu-system-x86_64', ['-accel', accel, '-m', '1024', '-smp', '2', '-nographic', '-no-reboot', '-kernel', kernel, '-initrd', initrd,
    '-append', 'console=ttyS0 quiet panic=-1', '-drive', `file=${disk},format=qcow2,if=virtio,cache=none`, '-drive', `file=${out},format=raw,if=virtio`],
  { timeoutMs: (PROFILES.length * (RUNTIME + 20) + 300) * 1000, allowFail: true });
  await h.on('node1', 'rm', ['-f', disk]);
  const docs = parseFioConsole(readFileSync(out, 'latin1'));
  const results: Results = {};
  for (const p of PROFILES) {
    if (!docs[p.name]) throw new Error(`the guest gave no fio result for ${p.name} (qemu exit ${r.code}): ${r.stdout.replace(/\r/g, '').trim().split('\n').slice(-5).join(' / ')} ${r.stderr.trim()}`);
    results[p.name] = cell([figures(docs[p.name], `${p.name} in the guest`)]);
    say(`guest ${p.name}: ${fmt(results[p.name].median)}`);
  }
  return { results, accel };
}

async function remount(h: Harness, vol: string, mnt: string, nodes: string[]): Promise<void> {
  for (const n of nodes) {
    await h.on(n, 'sh', ['-c', `umount ${mnt} 2>/dev/null; mkdir -p ${mnt} && mount -t glusterfs ${n}:/${vol} ${mnt}`], { timeoutMs: 120_000 });
    await waitFor(`${vol} mounted on ${n}`, 60_000, async () => (await h.on(n, 'stat', ['-f', '-c', '%T', mnt], { allowFail: true })).stdout.includes('fuse'), 300);
  }
}

/** Every option of a volume as glusterd applies it (`volume get VOL all`: defaults included, their "(DEFAULT)" mark dropped). */
async function effectiveOptions(h: Harness, vol: string): Promise<Record<string, string>> {
  const out = (await h.gluster('node1', ['volume', 'get', vol, 'all'])).stdout;
  return Object.fromEntries(out.split('\n').slice(2).map((l) => /^(\S+)\s+(.*)$/.exec(l.trim())).filter((m) => m !== null).map((m) => [m[1], m[2].replace(/\s*\(DEFAULT\)$/, '').trim()]));
}

/** A volume made by hand on a subdirectory of every node's brick filesystem, in gv0's brick order, started and mounted. */
async function handVolume(h: Harness, vol: string, sub: string, layout: string[], options: [string, string][]): Promise<Target> {
  for (const n of NAMES) await h.on(n, 'mkdir', ['-p', `${BRICK_MNT}/${sub}`]);
  await h.gluster('node1', ['volume', 'create', vol, 'replica', '3', ...layout.map((n) => `${n}:${BRICK_MNT}/${sub}`)]);
  if (options.length) await h.gluster('node1', ['volume', 'set', vol, ...options.flat()]);
  await h.gluster('node1', ['volume', 'start', vol]);
  await remount(h, vol, `/mnt/${vol}`, CLIENT_NODES);
  return { name: '', dirs: CLIENT_NODES.map((n) => [n, `/mnt/${vol}`]) };
}

let results: Record<string, Results> = {};
const notes: string[] = [];
// per node, every target's files at once: the floor's, and each replicated volume's share (3 nodes: all of it)
const volShare = NODES_N === 3 ? CLIENTS : Math.ceil(CLIENTS / 2);
const diskMb = SIZE_MB * (1 + volShare * (2 + VARIANTS.length)) + (values.guest ? SIZE_MB + 64 : 0) + 1024;
const h = await Harness.create(NAMES.map((name) => ({ name, disks: [{ sizeMB: diskMb }] })), { id: 'pcs' });
try {
  // the loop disks with direct I/O: the bricks meet this machine's disk, not the host page cache
  for (const n of NAMES) for (const d of h.node(n).disks) {
    const r = await sh('losetup', ['--direct-io=on', d], { allowFail: true });
    if (r.code !== 0) notes.push(`losetup --direct-io=on ${d} failed (${r.stderr.trim()}): the floor includes the host page cache`);
  }
  const cfg = testConfig(NAMES.map((name, i) => ({ name, hostPart: 11 + i, gv0: [h.node(name).disks[0]] })));
  const { plan, joinKey } = planFor(cfg);
  for (const n of NAMES) h.writeAgentConfig(n, plan, joinKey);
  for (const n of NAMES) h.startAgent(n);
  await waitFor('gv0 formed and mounted everywhere', 600_000, async () => NAMES.every((n) => h.snapshot(n)?.converged), 1000);
  // the agents put their options back on a pass: stopped, so that the volumes made by hand stand as made
  for (const n of NAMES) await h.stopAgent(n);
  const gv0Info = (await h.gluster('node1', ['volume', 'info', 'gv0'])).stdout;
  const gv0Options = Object.fromEntries([...gv0Info.matchAll(/^(\S+\.\S+): (.*)$/gm)].map((m) => [m[1], m[2]]));
  // gv0's brick order (node names), so a copy has the same replica sets
  const gv0Layout = [...gv0Info.matchAll(/^Brick\d+: ([^:]+):/gm)].map((m) => m[1]);
  say(`gv0: ${/Number of Bricks: (.*)/.exec(gv0Info)?.[1]}; options set: ${Object.entries(gv0Options).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const fioVer = (await sh('fio', ['--version'])).stdout.trim();
  // a --try key the volume does not know fails now, not after minutes of measuring
  for (const v of VARIANTS) {
    for (const [k] of v.options) {
      const r = await h.gluster('node1', ['volume', 'get', 'gv0', k], true);
      if (r.code !== 0) throw new Error(`--try ${v.name}: gv0 has no option ${k} (gluster: ${(r.stderr || r.stdout).trim()}); \`gluster volume set help\` lists them`);
    }
  }

  const targets: Target[] = [];
  if (ONLY.includes('ours')) targets.push({ name: 'ours', dirs: CLIENT_NODES.map((n) => [n, '/mnt/gv0']) });
  if (ONLY.includes('howto')) {
    // the how-to's volume, on the same pool and TLS material: its commands and options only
    const t = await handVolume(h, 'hv0', 'howto', gv0Layout, [['client.ssl', 'on'], ['server.ssl', 'on'], ['auth.ssl-allow', NAMES.join(',')],
      ['storage.owner-uid', '64055'], ['storage.owner-gid', '64055'], ['features.shard', 'enable']]);
    targets.push({ ...t, name: 'howto' });
    // what the two volumes really run with, defaults included: the candidates for any gap between them
    const [ours, howto] = [await effectiveOptions(h, 'gv0'), await effectiveOptions(h, 'hv0')];
    const differ = [...new Set([...Object.keys(ours), ...Object.keys(howto)])].sort().filter((k) => ours[k] !== howto[k]);
    notes.push(`options gv0 and the how-to volume run with differently (gluster volume get VOL all; ours/how-to): ${differ.map((k) => `${k}=${ours[k] ?? '-'}/${howto[k] ?? '-'}`).join(' ')}`);
  }
  // each --try variant: a copy of gv0 (its bricks' order, every option it has) with the variant's options on top
  for (const [i, v] of VARIANTS.entries()) {
    const t = await handVolume(h, `tv${i}`, `try${i}`, gv0Layout, [...Object.entries(gv0Options), ...v.options]);
    targets.push({ ...t, name: `ours+${v.name}` });
  }
  if (ONLY.includes('floor')) {
    for (const n of CLIENT_NODES) await h.on(n, 'mkdir', ['-p', `${BRICK_MNT}/floor`]);
    targets.push({ name: 'floor', dirs: CLIENT_NODES.map((n) => [n, `${BRICK_MNT}/floor`]) });
  }
  results = await interleaved(h, targets);
  if (values.guest) {
    // a guest that fails is reported, the other figures still printed
    try {
      const g = await guestSuite(h);
      results.guest = g.results;
      notes.push(`guest: QEMU ${g.accel.toUpperCase()}, 1 GiB RAM, 2 vCPUs, fio on /dev/vda (virtio-blk, qcow2 on /mnt/gv0 of node1, cache=none, aio threads), one run`);
    } catch (e) {
      notes.push(`guest run failed: ${(e as Error).message}`);
      process.exitCode = 1;
    }
  }

  // the table: medians, the spread of MB/s over the runs, ratios of medians
  const cols = ['ours', 'howto', 'floor', ...Object.keys(results).filter((c) => !['ours', 'howto', 'floor'].includes(c))].filter((c) => results[c]);
  const rows: string[][] = [];
  for (const p of PROFILES) {
    for (const c of cols) {
      const { median: f, runs } = results[c][p.name];
      const floor = results.floor?.[p.name].median;
      const howto = results.howto?.[p.name].median;
      const vsFloor = floor && c !== 'floor' ? `${(f.mbps / floor.mbps).toFixed(2)}${p.write ? ` (${(f.mbps / (floor.mbps / 3)).toFixed(2)} of /3)` : ''}` : '';
      const vsHowto = howto && c !== 'howto' && c !== 'floor' ? (f.mbps / howto.mbps).toFixed(2) : '';
      const ours = results.ours?.[p.name].median;
      const vsOurs = ours && c !== 'ours' && c !== 'floor' && c !== 'howto' ? (f.mbps / ours.mbps).toFixed(2) : '';
      const mb = runs.map((r) => r.mbps);
      const spread = runs.length > 1 ? `${Math.min(...mb).toFixed(1)}–${Math.max(...mb).toFixed(1)}` : '';
      rows.push([p.name, c, f.mbps.toFixed(1), spread, Math.round(f.iops).toString(), f.p99ms.toFixed(2), vsFloor, vsHowto, vsOurs]);
      if (c === 'floor' && p.write) rows.push([p.name, 'floor/3', (f.mbps / 3).toFixed(1), '', Math.round(f.iops / 3).toString(), '', '', '', '']);
    }
  }
  const head = ['profile', 'target', 'MB/s', 'min–max', 'IOPS', 'p99 ms', 'x floor', 'x how-to', 'x ours'];
  const w = head.map((x, i) => Math.max(x.length, ...rows.map((r) => r[i].length)));
  const table = [head.map((x, i) => x.padEnd(w[i])).join(' | '), w.map((n) => '-'.repeat(n)).join('-|-'), ...rows.map((r) => r.map((x, i) => x.padEnd(w[i])).join(' | '))].join('\n');
  const setup = `${NODES_N} nodes (gv0 ${/Number of Bricks: (.*)/.exec(gv0Info)?.[1]}), ${CLIENTS} client(s) at once (${CLIENT_NODES.join(', ')}), ${SIZE_MB} MiB file per client, ${RUNTIME} s per profile, ${RUNS} run(s) per profile and target (interleaved), ${fioVer} ioengine=${ENGINE} direct=1`;
  if (values.json !== '-') {
    process.stdout.write(`\n${setup}\n\n${table}\n\n`);
    process.stdout.write(`MB/s, IOPS, p99: medians over the ${RUNS} run(s); min–max: the spread of MB/s over them; every ratio is of medians\n`);
    process.stdout.write('x floor: MB/s (mixed: read+write) over the floor\'s; for writes also over floor/3, because replica 3 writes every byte 3 times to this machine\'s one disk\n');
    process.stdout.write('x how-to: MB/s over the how-to volume\'s (volume create replica 3 + TLS + owner uid/gid + features.shard, nothing else)\n');
    process.stdout.write('x ours: a variant\'s or the guest\'s MB/s over ours (gv0 on the FUSE mount); a variant is a copy of gv0 with its options on top\n');
    if (CLIENTS > 1) process.stdout.write('several clients: MB/s and IOPS summed over the clients, p99 the worst client\'s\n');
    for (const n of notes) process.stdout.write(`note: ${n}\n`);
  }
  if (values.json) {
    const doc = JSON.stringify({ setup: { nodes: NODES_N, clients: CLIENT_NODES, sizeMb: SIZE_MB, runtimeS: RUNTIME, runs: RUNS, engine: ENGINE, fio: fioVer, variants: VARIANTS, gv0Options }, results, notes }, null, 2);
    if (values.json === '-') process.stdout.write(`${doc}\n`); else writeFileSync(values.json, `${doc}\n`);
  }
} catch (e) {
  process.stderr.write(`bench-storage: ${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await h.teardown();
}
