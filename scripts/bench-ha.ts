// HA benchmark on the namespace harness (3 simulated nodes, real libvirtd/QEMU TCG, corosync,
// Pacemaker with the harness fence device): prints live migration time and guest downtime,
// and failover time (node killed → guest booted on a survivor). Run as root:
//   node scripts/run-ts.mjs scripts/bench-ha.ts [--migrations N]
// Target: failover ≤ 30 s with fencing on (Proxmox ~120 s, Harvester 300 s by default).
import { HaCluster } from '../test/harness/ha-cluster.js';
import { ensureGuest, parseConsole } from '../test/harness/ha-guest.js';
import { sleep, waitFor } from '../test/harness/sh.js';
import { scriptArgs } from './args.js';

const NODES = ['node1', 'node2', 'node3'];
const VM = 'benchvm';
const USAGE = `
usage: node scripts/run-ts.mjs scripts/bench-ha.ts [--migrations N]   (make bench-ha)

Forms a 3-node HA cluster in the namespace harness (real libvirtd/QEMU TCG, corosync, Pacemaker
with the harness fence device), live-migrates a guest N times (default 2) and kills its node
once; prints migration time and guest downtime, and failover time. Needs root.
`;
const { values } = scriptArgs(USAGE, { migrations: { type: 'string', default: '2' } });
const migrations = Number(values.migrations);
if (!Number.isInteger(migrations) || migrations < 1) {
  process.stderr.write(`--migrations takes a whole number ≥ 1\n${USAGE}`);
  process.exit(2);
}
const t0 = Date.now();
const log = (m: string) => process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${m}\n`);

const guest = await ensureGuest();
const c = await HaCluster.create(NODES);
const pc = async (node: string, args: string[]) => {
  // the node's own CLI (the agent bundle), as an operator on a node runs it
  const r = await c.on(node, process.execPath, [c.h.agentPath, ...args], { allowFail: true, timeoutMs: 360_000 });
  if (r.code !== 0) throw new Error(`personal-cloud ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
};
const results: string[] = [];
try {
  await c.start();
  await waitFor('agents converged', 600_000, async () => NODES.every((n) => c.h.snapshot(n)?.converged), 2000);
  log('cluster formed (gluster, libvirt TLS, corosync/pacemaker with fencing)');
  await c.on('node1', 'mkdir', ['-p', '/mnt/gv0/vm/boot']);
  await c.on('node1', 'cp', [guest.kernel, guest.initrd, '/mnt/gv0/vm/boot/']);
  let info = JSON.parse(await pc('node1', ['vm', 'create', VM, '--memory', '128', '--disk-size', '16M', '--tcg', '--kernel', '/mnt/gv0/vm/boot/vmlinuz', '--initrd', '/mnt/gv0/vm/boot/initrd.gz', '--cmdline', 'console=ttyS0 quiet panic=-1', '--json']));
  let where: string = info.nodes[0];
  await waitFor('guest ticking', 120_000, async () => parseConsole(c.serialLog(where, VM)).filter((l) => l.kind === 'TICK').length >= 3);
  for (let i = 0; i < migrations; i++) {
    const to = NODES.find((n) => n !== where)!;
    info = JSON.parse(await pc('node1', ['vm', 'migrate', VM, to, '--json']));
    const job = (await c.on(to, 'virsh', ['-c', 'qemu:///system', 'domjobinfo', VM, '--completed'])).stdout;
    const ms = /Time elapsed:\s+(\d+)/.exec(job)?.[1];
    const down = /Total downtime:\s+(\d+)/.exec(job)?.[1];
    results.push(`live migration ${where} → ${to}: ${info.seconds.toFixed(1)} s via Pacemaker (qemu migration ${ms} ms, guest downtime ${down} ms)`);
    log(results.at(-1)!);
    where = to;
    await sleep(3000);
  }
  const offsets = Object.fromEntries(NODES.map((n) => [n, c.serialLog(n, VM).length]));
  const t = Date.now();
  await c.killNode(where);
  const victim = where;
  const survivor = NODES.find((n) => n !== victim)!;
  let startedAt = NaN;
  const pollStarted = (async () => { // when Pacemaker reports the VM Started on a survivor
    while (Date.now() - t < 180_000 && Number.isNaN(startedAt)) {
      const r = await c.on(survivor, 'crm_resource', ['--locate', '--resource', `vm-${VM}`], { allowFail: true });
      const on = /running on: (\S+)/.exec(r.stdout)?.[1];
      if (on && on !== victim) startedAt = Date.now() - t; else await sleep(1000);
    }
  })();
  const r = await waitFor('guest boot on a survivor', 180_000, async () => {
    for (const n of NODES.filter((x) => x !== victim)) if (parseConsole(c.serialLog(n, VM).slice(offsets[n])).some((l) => l.kind === 'BOOT')) return n;
    return null;
  }, 200);
  const booted = (Date.now() - t) / 1000;
  await pollStarted;
  // the first fencing of the victim after the kill (the log also holds earlier actions, e.g. at start-up)
  const fence = c.fenceLog().split('\n').find((l) => l.includes(` ${victim} by `) && Number(l.split(' ')[0]) * 1000 >= t);
  const fencedAt = fence ? Number(fence.split(' ')[0]) * 1000 - t : NaN;
  results.push(`failover: ${victim} killed → fenced after ${(fencedAt / 1000).toFixed(1)} s → VM Started (Pacemaker) on ${r} after ${(startedAt / 1000).toFixed(1)} s → guest running (console boot line) after ${booted.toFixed(1)} s (target ≤ 30 s)`);
  log(results.at(-1)!);
} finally {
  await c.teardown();
}
process.stdout.write(`\nHA benchmark (${NODES.length} nodes, QEMU TCG, load ${(await import('node:os')).loadavg()[0].toFixed(1)}):\n${results.map((x) => `  ${x}`).join('\n')}\n`);
