// The test guest: Debian's own kernel (from the archive's linux-image .deb) and a busybox
// initramfs whose init prints a boot id and a tick counter on the serial console and writes
// the latest tick to its virtio disk every second — so a live migration shows the same boot
// continuing, and a failover shows the new boot reading what the old one wrote.
import { existsSync, mkdirSync, readdirSync, writeFileSync, chmodSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { sh } from './sh.js';

export const GUEST_CACHE = process.env.PC_HA_GUEST_DIR || '/var/cache/personal-cloud-test/ha-guest-v3';
const MODULES = ['virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'virtio_blk'];

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in ${MODULES.join(' ')}; do insmod /lib/$m.ko 2>/dev/null; done
boot=$(cut -c1-8 /proc/sys/kernel/random/boot_id)
n=0; while [ ! -b /dev/vda ] && [ $n -lt 25 ]; do sleep 0.2; n=$((n+1)); done
prev=$(dd if=/dev/vda bs=512 count=1 2>/dev/null | head -n1 | tr -cd 'A-Za-z0-9=. -')
echo "HAVM-BOOT boot=$boot vda=$([ -b /dev/vda ] && echo yes || echo no) prev=[$prev]"
# a variant's additions (agent-guest.ts): sourced here, may set TICK_FILE
[ -f /guest-setup ] && . /guest-setup
i=0
while :; do
  i=$((i+1))
  echo "HAVM-TICK boot=$boot tick=$i"
  [ -n "$TICK_FILE" ] && echo "tick=$i" > "$TICK_FILE"
  [ -b /dev/vda ] && { printf 'HAVM boot=%s tick=%s\\n' "$boot" "$i" | dd of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null || echo "HAVM-WERR boot=$boot tick=$i"; }
  sleep 1
done
`;

export interface Guest { kernel: string; initrd: string }

export async function ensureGuest(): Promise<Guest> {
  const g = { kernel: join(GUEST_CACHE, 'vmlinuz'), initrd: join(GUEST_CACHE, 'initrd.gz') };
  if (existsSync(g.kernel) && existsSync(g.initrd)) return g;
  const ldd = await sh('sh', ['-c', 'ldd /bin/busybox 2>&1'], { allowFail: true });
  if (!/not a dynamic/.test(ldd.stdout)) throw new Error('the test guest needs a static /bin/busybox (apt package busybox-static)');
  const pkg = (await sh('sh', ['-c', "apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}'"])).stdout.trim();
  if (!pkg) throw new Error('cannot resolve linux-image-amd64 in the apt indexes');
  const work = join(GUEST_CACHE, 'work');
  mkdirSync(join(work, 'initrd/bin'), { recursive: true });
  for (const d of ['lib', 'proc', 'sys', 'dev']) mkdirSync(join(work, 'initrd', d), { recursive: true });
  if (!readdirSync(work).some((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'))) {
    const r = await sh('sh', ['-c', `cd '${work}' && apt-get download ${pkg}`], { allowFail: true, timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`apt-get download ${pkg}: ${r.stderr.trim()}`);
  }
  const deb = join(work, readdirSync(work).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'))!);
  const kv = pkg.replace(/^linux-image-/, '');
  await sh('sh', ['-c', `dpkg-deb --fsys-tarfile '${deb}' | tar -x -C '${work}' ./boot/vmlinuz-${kv} ./lib/modules/${kv}/kernel/drivers/virtio/ ./lib/modules/${kv}/kernel/drivers/block/virtio_blk.ko`], { timeoutMs: 300_000 });
  for (const m of MODULES) await sh('sh', ['-c', `find '${work}/lib/modules' -name '${m}.ko' -exec cp {} '${work}/initrd/lib/' \\;`]);
  copyFileSync('/bin/busybox', join(work, 'initrd/bin/busybox'));
  chmodSync(join(work, 'initrd/bin/busybox'), 0o755);
  writeFileSync(join(work, 'initrd/init'), INIT, { mode: 0o755 });
  await sh('sh', ['-c', `cd '${work}/initrd' && find . | cpio -o -H newc 2>/dev/null | gzip -1 > '${g.initrd}.tmp' && mv '${g.initrd}.tmp' '${g.initrd}'`]);
  copyFileSync(join(work, `boot/vmlinuz-${kv}`), g.kernel);
  await sh('rm', ['-rf', join(work, 'boot'), join(work, 'lib'), join(work, 'initrd')]);
  return g;
}

export interface ConsoleLine { kind: 'BOOT' | 'TICK'; boot: string; tick?: number; prev?: string; raw: string }

export function parseConsole(text: string): ConsoleLine[] {
  const out: ConsoleLine[] = [];
  for (const raw of text.split('\n')) {
    const b = /HAVM-BOOT boot=([0-9a-f]+) vda=\w+ prev=\[([^\]]*)\]/.exec(raw);
    if (b) { out.push({ kind: 'BOOT', boot: b[1], prev: b[2], raw }); continue; }
    const t = /HAVM-TICK boot=([0-9a-f]+) tick=(\d+)/.exec(raw);
    if (t) out.push({ kind: 'TICK', boot: t[1], tick: Number(t[2]), raw });
  }
  return out;
}

/** Unpacks the test guest's initramfs into `root` (a new, empty folder) for a variant to add to. */
export async function unpackGuestTree(g: Guest, root: string): Promise<void> {
  await sh('rm', ['-rf', root]);
  mkdirSync(root, { recursive: true });
  await sh('sh', ['-ec', `cd '${root}' && zcat '${g.initrd}' | cpio -id --quiet`]);
}

/** Copies every library ldd says `binary` links into `root`, each at its own path. */
export async function copyLibrariesOf(root: string, binary: string, libraryHint: string): Promise<void> {
  const ldd = (await sh('ldd', [binary])).stdout;
  const missing = ldd.split('\n').filter((l) => /not found/.test(l)).map((l) => l.trim().split(' ')[0]);
  if (missing.length) throw new Error(`${binary} needs libraries this machine lacks: ${missing.join(', ')} (${libraryHint})`);
  const libs = ldd.split('\n').map((l) => /(\/\S+) \(0x/.exec(l)?.[1]).filter((p): p is string => Boolean(p));
  for (const p of libs) await copyInto(root, p);
}

/** Copies a host file into `root` at its own path. */
export async function copyInto(root: string, path: string): Promise<void> {
  await sh('sh', ['-ec', `mkdir -p '${root}'"$(dirname '${path}')" && cp -L '${path}' '${root}${path}'`]);
}

/** Packs `root` into the gzip'd newc archive `out` (written whole, then renamed) and removes `root`. */
export async function packGuestTree(root: string, out: string): Promise<void> {
  await sh('sh', ['-ec', `cd '${root}' && find . | cpio -o -H newc --quiet | gzip -1 > '${out}.tmp' && mv '${out}.tmp' '${out}'`], { timeoutMs: 300_000 });
  await sh('rm', ['-rf', root]);
}
