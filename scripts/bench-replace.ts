// Replacement benchmark (namespace harness, real glusterd): gv0 (replica 3) holding DATA MB, then
//   1. the floor: node3's brick disk made blank and brought back by hand, the way Gluster's
//      documentation does it (brick killed, mkfs, mount, reset-brick start / commit force, heal full),
//      with node3's glusterd and identity untouched;
//   2. ours: node3 powered off and reinstalled (state, identity, TLS and disks wiped), its agent
//      started — it adopts its old place and brings its brick back by itself.
// Each prints the time until node3's brick holds every file of node1's (sizes equal, then md5 checked)
// and the heal rate. Needs root.
import { Harness } from '../test/harness/cluster.js';
import { planFor, testConfig } from '../test/harness/plan.js';
import { sleep, waitFor } from '../test/harness/sh.js';
import { scriptArgs } from './args.js';

const USAGE = `
usage: node scripts/run-ts.mjs scripts/bench-replace.ts [--mb N] [--file-mb N]   (make bench-replace)

Writes N MB (default 400) to gv0 in files of --file-mb MB (default 8), then times bringing a blank
node3 brick back: by hand with reset-brick + heal full (the floor), and as the agents do it when
node3 is reinstalled. Prints both, the MB/s of each and the ratio. Needs root.
`;
const { values } = scriptArgs(USAGE, { mb: { type: 'string', default: '400' }, 'file-mb': { type: 'string', default: '8' } });
const MB = Number(values.mb);
const FILE_MB = Number(values['file-mb']);
if (!(MB > 0) || !(FILE_MB > 0) || FILE_MB > MB) { process.stderr.write(`--mb and --file-mb take positive numbers, --file-mb ≤ --mb\n${USAGE}`); process.exit(2); }

const NODES = ['node1', 'node2', 'node3'];
const BRICK = '/data/glusterfs/gv0/brick1/brick';
const MOUNT = '/data/glusterfs/gv0/brick1';
const say = (m: string) => process.stdout.write(`[bench-replace] ${m}\n`);

const h = await Harness.create(NODES.map((name) => ({ name, disks: [{ sizeMB: Math.ceil(MB * 1.3) + 300 }] })), { id: 'pcb' });
try {
  const cfg = testConfig(NODES.map((name, i) => ({ name, hostPart: 11 + i, gv0: [h.node(name).disks[0]] })));
  const { plan, joinKey } = planFor(cfg);
  for (const n of NODES) h.writeAgentConfig(n, plan, joinKey);
  for (const n of NODES) h.startAgent(n);
  await waitFor('gv0 formed', 300_000, async () => NODES.every((n) => h.snapshot(n)?.converged), 1000);
  const files = Math.ceil(MB / FILE_MB);
  say(`writing ${files} files of ${FILE_MB} MB to gv0`);
  await h.on('node1', 'sh', ['-c', `mkdir -p /mnt/gv0/bench && for i in $(seq 1 ${files}); do head -c ${FILE_MB}M /dev/urandom > /mnt/gv0/bench/f$i; done; sync`], { timeoutMs: 3_600_000 });

  const listing = (node: string) => h.on(node, 'sh', ['-c', `cd ${BRICK} && find . -path ./.glusterfs -prune -o -type f -printf '%p %s\\n' | sort`]).then((r) => r.stdout);
  const sums = (node: string) => h.on(node, 'sh', ['-c', `cd ${BRICK} && find . -path ./.glusterfs -prune -o -type f -print0 | sort -z | xargs -0 md5sum`], { timeoutMs: 600_000 }).then((r) => r.stdout);
  const healed = async (what: string, t0: number): Promise<number> => {
    // sizes first (cheap), then md5 until equal: a file being healed has its full size before its data
    const ref = await listing('node1');
    await waitFor(`${what}: node3's brick holds node1's files`, 3_600_000, async () => (await listing('node3')) === ref, 2000);
    const want = await sums('node1');
    await waitFor(`${what}: node3's brick has node1's md5s`, 3_600_000, async () => (await sums('node3')) === want, 2000);
    return (Date.now() - t0) / 1000;
  };

  // 1. the floor, by hand on a live node3 (its agent stopped so it does not step in)
  await h.stopAgent('node3');
  const dev = h.node('node3').disks[0];
  await h.on('node3', 'sh', ['-ec', `pkill -KILL -f '[g]v0.node3.data-glusterfs-gv0-brick1-brick' || true; umount -l ${MOUNT}`]);
  await sleep(1000);
  await h.blankDisk(dev);
  // (.glusterfs made by hand: the brick's index translator starts before the one that would make it)
  await h.on('node3', 'sh', ['-ec', `mkfs.xfs -q -f -i size=512 ${dev} && mount ${dev} ${MOUNT} && mkdir -p ${BRICK}/.glusterfs && chmod 600 ${BRICK}/.glusterfs`]);
  const tf = Date.now();
  await h.gluster('node3', ['volume', 'reset-brick', 'gv0', `node3:${BRICK}`, 'start'], true);
  await h.gluster('node3', ['volume', 'reset-brick', 'gv0', `node3:${BRICK}`, `node3:${BRICK}`, 'commit', 'force']);
  await h.gluster('node3', ['volume', 'start', 'gv0', 'force'], true);
  await h.gluster('node3', ['volume', 'heal', 'gv0', 'full'], true);
  const floor = await healed('by hand', tf);
  say(`floor (reset-brick + heal full by hand): ${floor.toFixed(1)} s, ${(MB / floor).toFixed(1)} MB/s`);
  // the by-hand disk is not the one the agent recorded: put node3 back as the agent left it
  await h.on('node3', 'sh', ['-c', `umount -l ${MOUNT}`]);

  // 2. ours: node3 reinstalled, its agent started
  await h.killNode('node3');
  await h.wipeNode('node3');
  await sleep(2000);
  const ta = Date.now();
  h.startAgent('node3');
  const ours = await healed('agent', ta);
  say(`agent (reinstalled node3 takes its place, resets its brick, heals): ${ours.toFixed(1)} s, ${(MB / ours).toFixed(1)} MB/s`);
  process.stdout.write(`\nreplace ${MB} MB (${files} files): floor ${floor.toFixed(1)} s (${(MB / floor).toFixed(1)} MB/s); agent ${ours.toFixed(1)} s (${(MB / ours).toFixed(1)} MB/s); agent/floor ${(ours / floor).toFixed(2)}\n`);
} finally {
  await h.teardown();
}
