// How fast corosync notices a lost member with the agent's totem settings, measured for 3 to 9
// nodes (issue 17: "corosync token/consensus for 3–9 nodes"). Real corosync (knet, crypto on)
// in the namespace harness, its config written by the agent's own corosyncConf(); no Pacemaker,
// no guests: this is the first stage of every failover, the one that grows with the node count.
// Run as root:  node scripts/run-ts.mjs scripts/bench-corosync.ts [--runs N] [--faults kill,partition] [NODES ...]
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { agentPlan } from '../core/agent-plan.js';
import { corosyncConf, lossDetectionMs } from '../firstboot/ha/corosync-conf.js';
import { Harness } from '../test/harness/cluster.js';
import { haTestConfig } from '../test/harness/ha-cluster.js';
import { planFor } from '../test/harness/plan.js';
import { sh, sleep, waitFor } from '../test/harness/sh.js';
import { scriptArgs } from './args.js';
import { median, spreadSecs } from './stats.js';

const USAGE = `
usage: node scripts/run-ts.mjs scripts/bench-corosync.ts [--runs N] [--faults kill,partition] [--json] [NODES ...]   (make bench-corosync)

For each cluster size NODES (default: 3 5 9; 3 to 9) starts real corosync on that many simulated
nodes with the configuration the agent writes (token 1000 ms, token_coefficient 250), then loses
the last node N times per fault: 'kill' SIGKILLs its corosync (a power loss, as the network sees
it), 'partition' takes its switch port down while it runs. Prints, per size and fault, the time
from the fault until the survivors' membership no longer counts it (median and min–max), next to
what corosync.conf(5)'s formula gives (token + consensus). Before the faults, --load S keeps
every CPU busy for S seconds (default 30, 0 for none) and counts the members every second: a
busy machine must not lose one (a false failover). --json prints every run as JSON.
Needs root.
`;
const { values, positionals } = scriptArgs(USAGE, {
  runs: { type: 'string', default: '5' }, load: { type: 'string', default: '30' }, faults: { type: 'string', default: 'kill,partition' }, json: { type: 'boolean', default: false },
});
const RUNS = Number(values.runs);
const LOAD_S = Number(values.load);
const SIZES = positionals.length ? positionals.map(Number) : [3, 5, 9];
type Fault = 'kill' | 'partition';
const FAULTS = values.faults.split(',').map((f) => f.trim()) as Fault[];
if (!Number.isInteger(RUNS) || RUNS < 1 || !Number.isInteger(LOAD_S) || LOAD_S < 0 || SIZES.some((n) => !Number.isInteger(n) || n < 3 || n > 9)
  || !FAULTS.length || FAULTS.some((f) => f !== 'kill' && f !== 'partition')) {
  process.stderr.write(`--runs takes a whole number ≥ 1, --load whole seconds ≥ 0, --faults kill and/or partition, NODES whole numbers from 3 to 9\n${USAGE}`);
  process.exit(2);
}
const t0 = Date.now();
const say = (m: string) => { if (!values.json) process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${m}\n`); };
const names = (n: number) => Array.from({ length: n }, (_, i) => `node${i + 1}`);

/** Members node counts as it sees them (NaN while corosync does not answer). */
async function members(h: Harness, node: string): Promise<number> {
  const r = await h.on(node, 'corosync-quorumtool', ['-s'], { allowFail: true, timeoutMs: 5_000 });
  return Number(/Total votes:\s+(\d+)/.exec(r.stdout)?.[1] ?? NaN);
}

async function corosyncPids(h: Harness, node: string): Promise<string[]> {
  const inNs = new Set((await sh('ip', ['netns', 'pids', h.node(node).netns])).stdout.split('\n').filter(Boolean));
  const all = (await sh('pgrep', ['-x', 'corosync'], { allowFail: true })).stdout.split('\n').filter(Boolean);
  return all.filter((p) => inNs.has(p));
}

async function startCorosync(h: Harness, node: string): Promise<void> {
  const r = await h.on(node, 'corosync', [], { allowFail: true });
  if (r.code !== 0) throw new Error(`corosync on ${node}: ${r.stderr.trim() || r.stdout.trim()}`);
}

/** Polls `watcher` every 50 ms until it counts `want` members: the ms since `from`. */
async function untilMembers(h: Harness, watcher: string, want: number, from: number, limitMs = 60_000): Promise<number> {
  for (;;) {
    if ((await members(h, watcher)) === want) return Date.now() - from;
    if (Date.now() - from > limitMs) return NaN;
    await sleep(50);
  }
}

interface Run { nodes: number; fault: Fault; ms: number; loadavg: number }
const runs: Run[] = [];
/** Per size: the fewest members node1 counted while every CPU was busy (the size itself when none was lost). */
const underLoad: Record<number, number> = {};

/** Every CPU busy for `seconds` (busy loops at normal priority, as a runaway guest or a compile would be); the fewest members seen. */
async function fewestUnderLoad(h: Harness, n: number, seconds: number): Promise<number> {
  const hogs = Array.from({ length: cpus().length }, () => spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
  let fewest = n;
  try {
    const end = Date.now() + seconds * 1000;
    while (Date.now() < end) {
      const m = await members(h, 'node1');
      if (!Number.isNaN(m)) fewest = Math.min(fewest, m);
      await sleep(1000);
    }
  } finally { for (const p of hogs) p.kill('SIGKILL'); }
  return fewest;
}

for (const n of SIZES) {
  const nodes = names(n);
  say(`${n} nodes: starting corosync on each (load ${loadavg()[0].toFixed(2)})`);
  const h = await Harness.create(nodes.map((name) => ({ name, disks: [] })), {
    id: 'pcc', extras: { privateDirs: ['/etc/corosync', '/var/lib/corosync', '/var/log/corosync'] },
  });
  try {
    // a brick each only because a plan needs one: corosync never looks at it
    const cfg = haTestConfig(nodes);
    cfg.nodes = cfg.nodes.map((c) => ({ ...c, disks: { ...c.disks, gv0: [{ id: `/dev/null-${c.name}`, wipe: false }] } }));
    const plan = agentPlan(planFor(cfg).plan);
    const conf = corosyncConf(plan, nodes);
    const authkey = randomBytes(256).toString('base64');
    for (const node of nodes) {
      await h.on(node, 'sh', ['-ec', 'umask 077; cat > /etc/corosync/corosync.conf'], { input: conf });
      await h.on(node, 'sh', ['-ec', 'umask 077; base64 -d > /etc/corosync/authkey'], { input: authkey });
      await startCorosync(h, node);
    }
    await waitFor(`${n} corosync members`, 120_000, async () => (await members(h, 'node1')) === n, 500);
    if (LOAD_S) {
      say(`${n} nodes: every CPU busy for ${LOAD_S} s`);
      underLoad[n] = await fewestUnderLoad(h, n, LOAD_S);
      say(`${n} nodes under load: fewest members seen ${underLoad[n]} of ${n}`);
      await waitFor(`${n} corosync members after the load`, 120_000, async () => (await members(h, 'node1')) === n, 500);
    }
    const lost = nodes[n - 1];
    for (const fault of FAULTS) {
      for (let i = 0; i < RUNS; i++) {
        await sleep(3_000); // a settled ring: the fault does not fall into a membership change
        const load = loadavg()[0];
        const pids = fault === 'kill' ? await corosyncPids(h, lost) : [];
        const at = Date.now();
        if (fault === 'kill') await sh('kill', ['-KILL', ...pids]);
        else await h.cutNetwork(lost);
        const ms = await untilMembers(h, 'node1', n - 1, at);
        runs.push({ nodes: n, fault, ms, loadavg: load });
        say(`${n} nodes, ${fault} ${i + 1}/${RUNS}: ${Number.isNaN(ms) ? 'not noticed in 60 s' : `${(ms / 1000).toFixed(2)} s`} (load ${load.toFixed(2)})`);
        if (fault === 'kill') await startCorosync(h, lost); else await h.restoreNetwork(lost);
        await waitFor(`${lost} back in the membership`, 120_000, async () => (await members(h, 'node1')) === n, 250);
      }
    }
  } finally {
    await h.teardown();
  }
}

if (values.json) {
  process.stdout.write(`${JSON.stringify({ runs, underLoad, computedMs: Object.fromEntries(SIZES.map((n) => [n, lossDetectionMs(n)])) }, null, 2)}\n`);
} else {
  const rows = [['nodes', 'computed (token + consensus)', ...FAULTS.map((f) => `${f}: noticed, median (min–max)`), ...(LOAD_S ? [`members, ${LOAD_S} s of busy CPUs`] : [])]];
  for (const n of SIZES) {
    rows.push([`${n}`, `${(lossDetectionMs(n) / 1000).toFixed(1)} s`, ...FAULTS.map((f) => spreadSecs(runs.filter((r) => r.nodes === n && r.fault === f).map((r) => r.ms))),
      ...(LOAD_S ? [`${underLoad[n]} of ${n} at the fewest`] : [])]);
  }
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  process.stdout.write(`\n${rows.map((r) => r.map((x, c) => x.padEnd(w[c])).join('  ')).join('\n')}\n`);
  process.stdout.write(`${RUNS} run(s) per cell; polled every 50 ms on node1; load average at the faults: ${median(runs.map((r) => r.loadavg)).toFixed(2)} (median)\n`);
}
if (runs.some((r) => Number.isNaN(r.ms)) || SIZES.some((n) => LOAD_S && underLoad[n] !== n)) process.exit(1);
