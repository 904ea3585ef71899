// Backup benchmark: what `backup now` costs for one VM disk, against the floor of a plain `cp`
// of the same file. Uses the runner's own borg invocation (firstboot/backup: repokey encryption
// with the derived passphrase, lz4, the same create arguments) on a qcow2 disk made with
// qemu-img, with part of it random (incompressible, like a used guest disk) and the rest zeros.
// Prints: cp MB/s (floor), first backup MB/s and its ratio to cp, the second backup of the
// unchanged disk (time, MB added, dedup ratio), one after 5 % of the disk was rewritten, and the
// restore (borg extract) time and MB/s. The harness scenario (test/ha-backup.test.ts) prints
// the same first/second/restore figures for a running VM on gv0.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { borg, borgFor, ensureRepo } from '../firstboot/backup/borg.js';
import { borgCreateArgs } from '../firstboot/backup/vm-backup.js';
import { archiveName } from '../core/backup.js';
import { scriptArgs } from './args.js';

const USAGE = `
usage: node scripts/run-ts.mjs scripts/bench-backup.ts [--size-mb N] [--used PCT] [--dir DIR] [--keep]   (make bench-backup)

Makes DIR/vm/bench/disk.qcow2 (--size-mb, default 512; --used % random, default 60, the rest zeros),
copies it with cp (the floor), backs it up twice into DIR/repo with the backup runner's borg
invocation, rewrites 5 % and backs up again, then restores it with borg extract. DIR defaults to
/var/tmp/pc-bench-backup (put it on a Gluster mount to measure that). Needs borg (borgbackup) and qemu-img.
`;
const { values } = scriptArgs(USAGE, { 'size-mb': { type: 'string', default: '512' }, used: { type: 'string', default: '60' }, dir: { type: 'string', default: '/var/tmp/pc-bench-backup' }, keep: { type: 'boolean' } });
const sizeMb = Number(values['size-mb']);
const used = Number(values.used);
if (!Number.isInteger(sizeMb) || sizeMb < 16) { process.stderr.write(`--size-mb takes a whole number ≥ 16\n${USAGE}`); process.exit(2); }
if (!(used >= 0 && used <= 100)) { process.stderr.write(`--used takes a percentage 0-100\n${USAGE}`); process.exit(2); }
for (const tool of ['borg', 'qemu-img', 'qemu-io']) {
  try { execFileSync('sh', ['-c', `command -v ${tool}`]); } catch { process.stderr.write(`${tool} not found (apt packages borgbackup, qemu-utils)\n`); process.exit(2); }
}

const dir = values.dir!;
rmSync(dir, { recursive: true, force: true });
const vmRoot = join(dir, 'vm');
mkdirSync(join(vmRoot, 'bench'), { recursive: true });
const disk = join(vmRoot, 'bench', 'disk.qcow2');
const MB = 1e6;
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
const dropCaches = () => { try { sh('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']); } catch { /* not root: warm cache */ } };
const time = async (f: () => unknown) => { dropCaches(); const t = process.hrtime.bigint(); await f(); return Number(process.hrtime.bigint() - t) / 1e9; };

sh('qemu-img', ['create', '-q', '-f', 'qcow2', disk, `${sizeMb}M`]);
const usedMb = Math.floor(sizeMb * used / 100);
const raw = join(dir, 'random.raw');
sh('sh', ['-c', `head -c ${usedMb}M /dev/urandom > '${raw}'`]);
sh('qemu-img', ['dd', '-f', 'raw', '-O', 'qcow2', `if=${raw}`, `of=${disk}`, 'bs=1M', `count=${usedMb}`].filter(Boolean));
rmSync(raw);
sh('qemu-img', ['resize', '-q', disk, `${sizeMb}M`]);
sh('sh', ['-c', `echo '<domain><name>bench</name></domain>' > '${join(vmRoot, 'bench', 'bench.xml')}'`]);
const bytes = statSync(disk).size;

const cpS = await time(() => sh('sh', ['-c', `cp '${disk}' '${dir}/copy.qcow2' && sync '${dir}/copy.qcow2'`]));
rmSync(join(dir, 'copy.qcow2'));

const plan = { schemaVersion: 1, cluster: { name: 'bench', domain: 'x', release: 'trixie', keyId: 'x' }, nodes: [], volumes: [], ha: { vmDir: vmRoot } as never,
  backup: { repository: join(dir, 'repo'), schedule: 'daily', intervalS: 86_400, retention: { daily: 7, weekly: 4, monthly: 12 }, encryption: 'repokey' as const } };
const b = await borgFor(plan as never, 'ab'.repeat(32), join(dir, 'state'));
await ensureRepo(b, 'repokey');
const names: string[] = [];
const backup = async () => {
  let stats = { original_size: 0, deduplicated_size: 0 };
  // one second apart at least: the archive name has the time to the second
  const name = archiveName('bench', new Date(Date.now() + 1000 * names.length));
  names.push(name);
  const s = await time(async () => {
    const out = await borg(b, borgCreateArgs(b.repo, name, 'bench', ['bench/disk.qcow2', 'bench/bench.xml']), { cwd: vmRoot, strict: true });
    stats = JSON.parse(out.stdout).archive.stats;
  });
  return { s, ...stats };
};
const first = await backup();
const second = await backup();
sh('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x33 ${Math.floor(sizeMb * 0.4)}M ${Math.max(1, Math.floor(sizeMb * 0.05))}M`, disk]);
const third = await backup();
const last = names.at(-1)!;
mkdirSync(join(dir, 'restore'));
const restoreS = await time(() => borg(b, ['extract', '--sparse', `${b.repo}::${last}`], { cwd: join(dir, 'restore'), strict: true }));
const same = execFileSync('cmp', [disk, join(dir, 'restore', 'bench', 'disk.qcow2')]).length === 0;

const f = (x: number) => x.toFixed(1);
const load = readFileSync('/proc/loadavg', 'utf8').trim();
process.stdout.write(`bench-backup: disk ${f(bytes / MB)} MB (qcow2, ${used} % random), ${dir}; loadavg ${load}
  cp (floor)            ${f(cpS)} s  ${f(bytes / MB / cpS)} MB/s
  first backup          ${f(first.s)} s  ${f(bytes / MB / first.s)} MB/s  (${f(cpS / first.s * 100)} % of cp's rate), ${f(first.deduplicated_size / MB)} MB added
  second, unchanged     ${f(second.s)} s  (${f(second.s / first.s * 100)} % of the first), ${f(second.deduplicated_size / MB)} MB added, dedup ${f(second.original_size / Math.max(1, second.deduplicated_size))}:1
  third, 5 % rewritten  ${f(third.s)} s, ${f(third.deduplicated_size / MB)} MB added
  restore (extract)     ${f(restoreS)} s  ${f(bytes / MB / restoreS)} MB/s, identical: ${same}
`);
if (!values.keep) rmSync(dir, { recursive: true, force: true });
