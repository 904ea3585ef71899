// Image build benchmark: our image stage next to a bare xorriso run over the same inputs, and
// N per-node images next to one. Prints figures; the targets are in the README.
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAgentBundle } from '../src/build/context.js';
import { buildMedia, type MediaTarget } from '../src/build/media.js';
import { loadConfig } from '../src/config/load.js';
import { resolveInstaller, DEFAULT_MIRROR } from '../src/installer/resolve.js';
import { deriveJoinKey } from '../src/plan/keys.js';
import { plan as makePlan } from '../src/plan/plan.js';
import { silentProgress } from '../src/util/progress.js';
import { bootFile } from '../src/write/boot-files.js';
import { scriptArgs } from './args.js';
import { median } from './stats.js';

const USAGE = `
usage: node scripts/run-ts.mjs scripts/bench-iso.ts [--runs N] [CONFIG]   (make bench)

Builds the images of CONFIG (default examples/cluster.yaml) N times (default 7, or $BENCH_RUNS)
and prints the median image stage next to a bare xorriso run over the same inputs, and all
per-node images next to one. The Debian installer is cached in $PERSONAL_CLOUD_CACHE
(default .cache/test-installer).
`;
const { values, positionals } = scriptArgs(USAGE, { runs: { type: 'string', default: process.env.BENCH_RUNS ?? '7' } });
const RUNS = Number(values.runs);
if (!Number.isInteger(RUNS) || RUNS < 1 || positionals.length > 1) {
  process.stderr.write(`--runs takes a whole number ≥ 1, and at most one CONFIG\n${USAGE}`);
  process.exit(2);
}
const config = positionals[0] ?? 'examples/cluster.yaml';
const cacheDir = process.env.PERSONAL_CLOUD_CACHE ?? join(process.cwd(), '.cache', 'test-installer');

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const { config: cfg } = await loadConfig(config);
const plan = makePlan(cfg);
const installer = await resolveInstaller({ release: plan.cluster.release, mirror: DEFAULT_MIRROR, cacheDir, loaders: 'iso', progress: silentProgress });
const agent = loadAgentBundle();
const work = await mkdtemp(join(tmpdir(), 'pc-bench-'));
const base = { plan, joinKey: deriveJoinKey(cfg.secret, cfg.name), agent, installer, console: 'screen' as const, epoch: 1750000000, progress: silentProgress };
const one: MediaTarget[] = [{ kind: 'node', node: plan.nodes[0].name }];
const all: MediaTarget[] = plan.nodes.map((n) => ({ kind: 'node', node: n.name }));

try {
  // The same inputs for bare xorriso: the tree of the image we build, extracted once.
  const [ref] = await buildMedia({ ...base, targets: one, outDir: join(work, 'ref') });
  const tree = join(work, 'tree');
  await execa('xorriso', ['-osirrox', 'on', '-indev', ref.file, '-extract', '/', tree]);
  await execa('chmod', ['-R', 'u+w', tree]);
  const bare = () => execa('xorriso', ['-as', 'mkisofs', '-o', join(work, 'bare.iso'), '-V', 'BENCH', '-r', '-J', '-joliet-long',
    '-isohybrid-mbr', bootFile(installer.loaders!, 'isohybridMbr'), '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat',
    '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '-eltorito-alt-boot', '-e', 'boot/grub/efi.img',
    '-no-emul-boot', '-isohybrid-gpt-basdat', tree]);

  const bareMs: number[] = [];
  const oneMs: number[] = [];
  const allMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    bareMs.push(await timed(bare));
    oneMs.push(await timed(() => buildMedia({ ...base, targets: one, outDir: join(work, `one${i}`) })));
    allMs.push(await timed(() => buildMedia({ ...base, targets: all, outDir: join(work, `all${i}`) })));
    await rm(join(work, `one${i}`), { recursive: true, force: true });
    await rm(join(work, `all${i}`), { recursive: true, force: true });
  }
  const cliMs: number[] = [];
  const cliAllMs: number[] = [];
  const cliBuild = (nodes: string[], out: string) => execa('node', ['bin/personal-cloud.js', 'build', '--config', config, ...nodes.flatMap((n) => ['--node', n]), '--offline', '--cache', cacheDir, '--out', out]);
  for (let i = 0; i < 3; i++) {
    cliMs.push(await timed(() => cliBuild([plan.nodes[0].name], join(work, `cli${i}`))));
    cliAllMs.push(await timed(() => cliBuild(plan.nodes.map((n) => n.name), join(work, `cliall${i}`))));
    await rm(join(work, `cli${i}`), { recursive: true, force: true });
    await rm(join(work, `cliall${i}`), { recursive: true, force: true });
  }
  const b = median(bareMs);
  const o = median(oneMs);
  const a = median(allMs);
  const rows = [
    ['bare xorriso, same inputs (median)', `${b.toFixed(0)} ms`],
    ['personal-cloud image stage, one node', `${o.toFixed(0)} ms`, `${(o / b).toFixed(2)}× bare (target ≤ 1.15×)`],
    [`all ${all.length} per-node images`, `${a.toFixed(0)} ms`, `${(a / o).toFixed(2)}× one (target ≤ 1.3×)`],
    ['whole CLI run, one node, offline (median of 3)', `${median(cliMs).toFixed(0)} ms`, 'config + installer cache check + image + manifest'],
    [`whole CLI run, all ${all.length} nodes, offline`, `${median(cliAllMs).toFixed(0)} ms`, `${(median(cliAllMs) / median(cliMs)).toFixed(2)}× one`],
  ];
  const load = (await import('node:os')).loadavg()[0].toFixed(1);
  console.log(`image build benchmark (load average ${load} on ${(await import('node:os')).cpus().length} cores) — ${config}, Debian ${plan.cluster.release}, ${RUNS} runs, ${(ref.size / 2 ** 20).toFixed(1)} MiB image`);
  for (const r of rows) console.log(`  ${r[0].padEnd(48)} ${r[1].padStart(9)}  ${r[2] ?? ''}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
