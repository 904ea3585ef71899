// First-boot agent benchmark (namespace harness, real glusterd): for 3 and 6 nodes, the time
// from the last node's agent start until gv0 is started and mounted on every node, next to
// the "hand floor" — the same TLS-enabled formation typed by hand in the same harness
// (glusterd start, peer probe, volume create, TLS options, start, mount everywhere; once more
// with all the options the agent sets) — and the agents' peak RSS (VmHWM). Needs root.
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Harness } from '../test/harness/cluster.js';
import { planFor, testConfig } from '../test/harness/plan.js';
import { waitFor } from '../test/harness/sh.js';
import { scriptArgs } from './args.js';
import { median } from './stats.js';

const USAGE = `
usage: node scripts/run-ts.mjs scripts/bench-agent.ts [--runs N] [NODES ...]   (make bench-agent)

For each cluster size NODES (default: 3 6; 2 to 9), forms a cluster with the agents in the
namespace harness, then the same formation by hand, and prints both times, their ratio and the
agents' peak RSS. --runs N repeats each size N times (default 1) and adds the medians: on a
shared machine single runs vary by a quarter. Needs root.
`;
const { values, positionals } = scriptArgs(USAGE, { runs: { type: 'string', default: '1' } });
const RUNS = Number(values.runs);
const SIZES = positionals.length ? positionals.map(Number) : [3, 6];
if (!Number.isInteger(RUNS) || RUNS < 1 || SIZES.some((n) => !Number.isInteger(n) || n < 2 || n > 9)) {
  process.stderr.write(`--runs takes a whole number ≥ 1 and NODES whole numbers from 2 to 9\n${USAGE}`);
  process.exit(2);
}
const names = (n: number) => Array.from({ length: n }, (_, i) => `node${i + 1}`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function vmHwmKb(pid: number | undefined): number {
  if (!pid) return NaN;
  try { return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]); } catch { return NaN; }
}

/** CPU seconds of a process itself and of the children it waited for (CLI calls, mkfs, …), from /proc. */
function cpuSecs(pid: number | undefined): { own: number; children: number } {
  if (!pid) return { own: NaN, children: NaN };
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ').map(Number);
    return { own: (f[11] + f[12]) / 100, children: (f[13] + f[14]) / 100 };
  } catch { return { own: NaN, children: NaN }; }
}

/** When (ms after t0) a node's agent log first shows a line matching `re`. */
function logAt(h: Harness, name: string, re: RegExp, t0: number): number {
  for (const line of readFileSync(h.node(name).log, 'utf8').split('\n')) {
    if (re.test(line)) { const t = Date.parse(line.slice(0, 24)); if (Number.isFinite(t)) return t - t0; }
  }
  return NaN;
}

const PHASES: [string, RegExp][] = [
  ['bricks', /step disks: done/], ['all certs', /step tls: done/], ['glusterd', /step glusterd: done/],
  ['pool', /step peers: done/], ['volume', /step volumes: done/], ['mounted', /step mounts: done/],
];

interface AgentResult { ms: number; rssMb: number[]; cpu: { own: number; children: number }; restarts: number; phases: string; leaders: string[]; cliCalls: number }

async function agentRun(n: number): Promise<AgentResult> {
  const h = await Harness.create(names(n).map((name) => ({ name, disks: [{}] })), { id: 'pcf' });
  try {
    const { plan, joinKey } = planFor(testConfig(names(n).map((name, i) => ({ name, hostPart: 11 + i, gv0: [h.node(name).disks[0]] }))));
    for (const name of names(n)) h.writeAgentConfig(name, plan, joinKey);
    for (const name of names(n)) h.startAgent(name);
    const t0 = Date.now(); // the last agent started just now
    await waitFor('gv0 started and mounted everywhere', 900_000, async () => names(n).every((name) => {
      const s = h.snapshot(name);
      return s && s.volumes.every((v) => v.started && v.mounted);
    }), 200);
    const ms = Date.now() - t0;
    const rssMb = names(n).map((name) => vmHwmKb(h.node(name).agent?.pid) / 1024);
    const cpu = names(n).map((name) => cpuSecs(h.node(name).agent?.pid)).reduce((a, c) => ({ own: a.own + c.own, children: a.children + c.children }), { own: 0, children: 0 });
    // one pool with every node and one gv0 (the same volume everywhere), not two formations
    const ids = new Set<string>();
    for (const name of names(n)) {
      const pool = (await h.gluster(name, ['pool', 'list'])).stdout.split('\n').filter((l) => /\tConnected/.test(l)).length;
      if (pool !== n) throw new Error(`${name}: gluster pool list shows ${pool} connected nodes, expected ${n}`);
      const info = (await h.gluster(name, ['volume', 'info', 'gv0'])).stdout;
      ids.add(/Volume ID: (\S+)/.exec(info)?.[1] ?? '?');
      if (!new RegExp(`Number of Bricks: .*= ${n}\\b`).test(info)) throw new Error(`${name}: gv0 does not have ${n} bricks:\n${info}`);
    }
    if (ids.size !== 1) throw new Error(`gv0 differs between nodes: volume ids ${[...ids].join(', ')}`);
    const leaders = [...new Set(names(n).flatMap((name) => [...readFileSync(h.node(name).log, 'utf8').matchAll(/ leader: (\S+) \(this node\)/g)].map((m) => m[1])))];
    const leader = leaders[0] ?? 'node1';
    const phases = PHASES.map(([label, re]) => `${label} ${secs(Math.max(...names(n).map((name) => logAt(h, name, re, t0))))}`).join(', ');
    const cliCalls = names(n).reduce((a, name) => a + (readFileSync(h.node(name).log, 'utf8').match(/ \$ gluster /g)?.length ?? 0), 0);
    return { ms, rssMb, cpu, restarts: names(n).reduce((a, name) => a + h.node(name).restarts, 0), phases: `${phases} (leader ${leader})`, leaders, cliCalls };
  } finally {
    // the hand run's teardown replaces the harness log copy: keep the agents' logs apart
    mkdirSync(`/tmp/pc-agent-bench-logs-${n}`, { recursive: true });
    for (const name of names(n)) { try { copyFileSync(h.node(name).log, `/tmp/pc-agent-bench-logs-${n}/${name}.log`); } catch { /* no log */ } }
    await h.teardown();
  }
}

/** The same formation by hand: bricks and TLS material prepared untimed, then the gluster part timed. */
async function handRun(n: number, howto = false): Promise<{ ms: number; phases: string }> {
  const nodes = names(n);
  const h = await Harness.create(nodes.map((name) => ({ name, disks: [{}] })), { id: 'pcf' });
  try {
    const hosts = nodes.map((name, i) => `10.77.5.${11 + i} ${name}`).join('\n');
    const certs: string[] = [];
    for (const name of nodes) {
      const dev = h.node(name).disks[0];
      await h.on(name, 'sh', ['-ec', `mkfs.xfs -q -f -i size=512 ${dev}; mkdir -p /data/glusterfs/gv0/brick1; mount ${dev} /data/glusterfs/gv0/brick1; mkdir -p /data/glusterfs/gv0/brick1/brick /mnt/gv0
printf '%s\\n' "$0" >> /etc/hosts
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj /CN=${name} -keyout /etc/ssl/glusterfs.key -out /etc/ssl/glusterfs.pem 2>/dev/null
for f in glusterfs.key glusterfs.pem glusterfs.ca; do ln -sf /etc/ssl/$f /usr/lib/ssl/$f; done
touch /var/lib/glusterd/secure-access`, hosts]);
      certs.push((await h.on(name, 'cat', ['/etc/ssl/glusterfs.pem'])).stdout);
    }
    for (const name of nodes) await h.on(name, 'sh', ['-c', 'cat > /etc/ssl/glusterfs.ca'], { input: certs.join('') });
    const t0 = Date.now();
    const marks: string[] = [];
    const mark = (label: string) => marks.push(`${label} ${secs(Date.now() - t0)}`);
    await Promise.all(nodes.map((name) => h.on(name, 'glusterd', ['-p', '/run/glusterd.pid'])));
    for (const name of nodes) await waitFor(`glusterd on ${name}`, 120_000, async () => (await h.gluster(name, ['pool', 'list'], true)).code === 0, 200);
    mark('glusterd');
    for (const name of nodes.slice(1)) await h.gluster('node1', ['peer', 'probe', name]);
    // every node must see every other one: glusterd checks each brick's host on every peer when
    // staging the create ("Staging failed on node5. Error: Host node6 not connected")
    for (const name of nodes) await waitFor(`peers in cluster on ${name}`, 120_000, async () => ((await h.gluster(name, ['pool', 'list'])).stdout.match(/\tConnected/g) ?? []).length === n, 200);
    mark('pool');
    const bricks = nodes.map((name) => `${name}:/data/glusterfs/gv0/brick1/brick`);
    await h.gluster('node1', ['volume', 'create', 'gv0', 'replica', '3', ...bricks]);
    mark('created');
    if (howto) {
      // the how-to's options, as the agent sets them: the virt group, libvirt-qemu ownership, sharding, quorum
      await h.gluster('node1', ['volume', 'set', 'gv0', 'group', 'virt']);
      await h.gluster('node1', ['volume', 'set', 'gv0', 'storage.owner-uid', '64055', 'storage.owner-gid', '64055', 'features.shard', 'on',
        'cluster.quorum-type', 'auto', 'cluster.server-quorum-type', 'server', 'client.ssl', 'on', 'server.ssl', 'on', 'auth.ssl-allow', nodes.join(',')]);
    } else {
      await h.gluster('node1', ['volume', 'set', 'gv0', 'client.ssl', 'on', 'server.ssl', 'on', 'auth.ssl-allow', nodes.join(',')]);
    }
    mark('options');
    await h.gluster('node1', ['volume', 'start', 'gv0']);
    mark('started');
    await Promise.all(nodes.map((name) => h.on(name, 'mount', ['-t', 'glusterfs', `${name}:/gv0`, '/mnt/gv0'], { timeoutMs: 120_000 })));
    await Promise.all(nodes.map((name) => waitFor(`mount on ${name}`, 120_000, async () => (await h.on(name, 'stat', ['-t', '/mnt/gv0'], { allowFail: true })).code === 0, 200)));
    mark('mounted');
    return { ms: Date.now() - t0, phases: marks.join(', ') };
  } finally {
    await h.teardown();
  }
}

const pad = (x: string, w: number) => x.padEnd(w);
const rows: string[][] = [];
const notes: string[] = [];
for (const n of SIZES) {
  const runs: { agent: number; hand: number; howto: number }[] = [];
  for (let r = 1; r <= RUNS; r++) {
    const load0 = loadavg()[0];
    const agent = await agentRun(n);
    const hand = await handRun(n);
    const howto = await handRun(n, true);
    runs.push({ agent: agent.ms, hand: hand.ms, howto: howto.ms });
    rows.push([`${n}`, RUNS > 1 ? `${r}` : '-', secs(agent.ms), secs(hand.ms), `${(agent.ms / hand.ms).toFixed(2)}x`, secs(howto.ms), `${(agent.ms / howto.ms).toFixed(2)}x`, `${Math.max(...agent.rssMb).toFixed(1)} MB`,
      `${agent.cliCalls}`, `${agent.restarts}`, agent.leaders.join(',') || '-', `${load0.toFixed(1)} → ${loadavg()[0].toFixed(1)}`]);
    notes.push(`${n} nodes${RUNS > 1 ? `, run ${r}` : ''}: phases done on every node, s after the last agent start: ${agent.phases}; per-node peak RSS ${agent.rssMb.map((x) => x.toFixed(1)).join(', ')} MB; CPU of all agents ${agent.cpu.own.toFixed(1)} s, of the commands they ran ${agent.cpu.children.toFixed(1)} s`);
    notes.push(`${n} nodes${RUNS > 1 ? `, run ${r}` : ''}: hand floor phases: ${hand.phases}; with the how-to's options: ${howto.phases}`);
    console.log(`${n} nodes${RUNS > 1 ? `, run ${r}/${RUNS}` : ''}: agent ${secs(agent.ms)}, hand floor ${secs(hand.ms)}, hand with the how-to's options ${secs(howto.ms)}`);
  }
  if (RUNS > 1) {
    const [a, h, o] = [median(runs.map((x) => x.agent)), median(runs.map((x) => x.hand)), median(runs.map((x) => x.howto))];
    rows.push([`${n}`, 'median', secs(a), secs(h), `${(median(runs.map((x) => x.agent / x.hand))).toFixed(2)}x`, secs(o), `${(median(runs.map((x) => x.agent / x.howto))).toFixed(2)}x`, '', '', '', '', '']);
  }
}
const head = ['nodes', 'run', 'agent', 'hand floor', 'ratio', 'hand + how-to options', 'ratio', 'peak RSS', 'gluster CLI calls', 'restarts', 'self-elected leaders', 'load avg'];
const widths = head.map((x, i) => Math.max(x.length, ...rows.map((r) => r[i].length)));
console.log(`\n${head.map((x, i) => pad(x, widths[i])).join(' | ')}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}`);
for (const r of rows) console.log(r.map((x, i) => pad(x, widths[i])).join(' | '));
console.log(`\n${notes.join('\n')}`);
console.log('\nagent: from the last agent start until gv0 is started and mounted on every node (one pool, one gv0 checked)');
console.log('hand floor: glusterd start, peer probe (until every node sees all the others), volume create + TLS options, start, mount, typed in the same harness');
console.log('hand + how-to options: the same with the options the agent sets (group virt, owner uid/gid, shard, quorum, TLS)');
console.log('both use the gluster CLI as the agent does (no geo-replication probe per call); the median ratio is the median of the runs\' ratios');
console.log('targets: 3 nodes ≤ 30 s and within 2x of the hand floor; peak RSS ≤ 60 MB');
