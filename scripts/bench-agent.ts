// First-boot agent benchmark (namespace harness, real glusterd): for 3 and 6 nodes, the time
// from the last node's agent start until gv0 is started and mounted on every node, next to
// the "hand floor" — the same TLS-enabled formation typed by hand in the same harness
// (glusterd start, peer probe, volume create, options, start, mount everywhere) — and the
// agents' peak RSS (VmHWM). Needs root. Usage: node scripts/run-ts.mjs scripts/bench-agent.ts [3 6]
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Harness } from '../test/harness/cluster.js';
import { planFor, testConfig } from '../test/harness/plan.js';
import { waitFor } from '../test/harness/sh.js';

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const SIZES = sizes.length ? sizes : [3, 6];
const names = (n: number) => Array.from({ length: n }, (_, i) => `node${i + 1}`);
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function vmHwmKb(pid: number | undefined): number {
  if (!pid) return NaN;
  try { return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]); } catch { return NaN; }
}

async function agentRun(n: number): Promise<{ ms: number; rssMb: number[]; restarts: number }> {
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
    return { ms, rssMb, restarts: names(n).reduce((a, name) => a + h.node(name).restarts, 0) };
  } finally {
    await h.teardown();
  }
}

/** The same formation by hand: bricks and TLS material prepared untimed, then the gluster part timed. */
async function handRun(n: number): Promise<{ ms: number }> {
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
    await Promise.all(nodes.map((name) => h.on(name, 'glusterd', ['-p', '/run/glusterd.pid'])));
    for (const name of nodes) await waitFor(`glusterd on ${name}`, 120_000, async () => (await h.gluster(name, ['pool', 'list'], true)).code === 0, 200);
    for (const name of nodes.slice(1)) await h.gluster('node1', ['peer', 'probe', name]);
    await waitFor('peers in cluster', 120_000, async () => ((await h.gluster('node1', ['pool', 'list'])).stdout.match(/\tConnected/g) ?? []).length === n, 200);
    const bricks = nodes.map((name) => `${name}:/data/glusterfs/gv0/brick1/brick`);
    await h.gluster('node1', ['volume', 'create', 'gv0', 'replica', '3', ...bricks]);
    await h.gluster('node1', ['volume', 'set', 'gv0', 'client.ssl', 'on', 'server.ssl', 'on', 'auth.ssl-allow', nodes.join(',')]);
    await h.gluster('node1', ['volume', 'start', 'gv0']);
    await Promise.all(nodes.map((name) => h.on(name, 'mount', ['-t', 'glusterfs', `${name}:/gv0`, '/mnt/gv0'], { timeoutMs: 120_000 })));
    await Promise.all(nodes.map((name) => waitFor(`mount on ${name}`, 120_000, async () => (await h.on(name, 'stat', ['-t', '/mnt/gv0'], { allowFail: true })).code === 0, 200)));
    return { ms: Date.now() - t0 };
  } finally {
    await h.teardown();
  }
}

const rows: string[] = [];
for (const n of SIZES) {
  const load0 = loadavg()[0];
  const agent = await agentRun(n);
  const hand = await handRun(n);
  const maxRss = Math.max(...agent.rssMb);
  rows.push(`${n} nodes: agent ${secs(agent.ms)} (restarts ${agent.restarts}), hand floor ${secs(hand.ms)}, ratio ${(agent.ms / hand.ms).toFixed(2)}x; `
    + `agent peak RSS max ${maxRss.toFixed(1)} MB (per node: ${agent.rssMb.map((x) => x.toFixed(1)).join(', ')}); load average ${load0.toFixed(1)} → ${loadavg()[0].toFixed(1)}`);
  console.log(rows[rows.length - 1]);
}
console.log('\ntargets: 3 nodes ≤ 30 s and within 2x of the hand floor; peak RSS ≤ 60 MB');
