// The test guest with qemu-guest-agent: ha-guest.ts's kernel, busybox and init, plus the
// agent of Debian's qemu-guest-agent package with the libraries it links, the modules it needs
// (virtio_console for its port; loop and ext4 for a filesystem it can freeze) and a setup the
// init sources: an ext2 filesystem on a loop device over the disk's last 16 MiB (past the
// payload the backup test checks) that the tick loop writes every second, and qemu-ga with a
// freeze hook printing `HAVM-FS freeze|thaw` on the console. A freeze therefore shows on the
// console and stops the ticks until the thaw, and a restored disk boots with the tick its
// filesystem held at the backup's point in time.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyLibrariesOf, ensureGuest, GUEST_CACHE, packGuestTree, unpackGuestTree, type Guest } from './ha-guest.js';
import { sh } from './sh.js';

const AGENT_CACHE = `${GUEST_CACHE}-agent`;
const MODULES = ['crc16', 'crc32c_generic', 'mbcache', 'jbd2', 'ext4', 'loop', 'virtio_console'];
const LIB_PATH = '/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu';

const SETUP = `for m in ${MODULES.join(' ')}; do insmod /lib/$m.ko 2>/dev/null; done
mkdir -p /mnt /run /var/run /tmp
echo "$boot" > /run/boot-id
sectors=$(cat /sys/block/vda/size 2>/dev/null || echo 0)
fsprev=none
if [ "$sectors" -ge 131072 ]; then
  n=0; while [ ! -b /dev/loop0 ] && [ $n -lt 25 ]; do sleep 0.2; n=$((n+1)); done
  losetup -o $(( (sectors - 32768) * 512 )) /dev/loop0 /dev/vda
  if mount -t ext4 /dev/loop0 /mnt 2>/dev/null || { mke2fs -q /dev/loop0 >/dev/null 2>&1 && mount -t ext4 /dev/loop0 /mnt; }; then
    TICK_FILE=/mnt/tick; fsprev=$(cat /mnt/tick 2>/dev/null || echo empty)
  fi
fi
port=
n=0; while [ -z "$port" ] && [ $n -lt 25 ]; do
  for p in /sys/class/virtio-ports/*; do [ "$(cat $p/name 2>/dev/null)" = org.qemu.guest_agent.0 ] && port=/dev/\${p##*/}; done
  [ -z "$port" ] && sleep 0.2; n=$((n+1))
done
if [ -n "$port" ]; then
  n=0; while [ ! -c "$port" ] && [ $n -lt 25 ]; do sleep 0.2; n=$((n+1)); done
  LD_LIBRARY_PATH=${LIB_PATH} /usr/sbin/qemu-ga -m virtio-serial -p "$port" -t /run --fsfreeze-hook=/etc/qemu/fsfreeze-hook -l /tmp/qemu-ga.log &
fi
echo "HAVM-AGENT boot=$boot port=\${port:-none} fs=\${TICK_FILE:-none} fsprev=[$fsprev]"
`;

const HOOK = `#!/bin/sh
echo "HAVM-FS $1 boot=$(cat /run/boot-id)" > /dev/console
`;

/** The kernel and an initramfs whose guest runs qemu-guest-agent (cached). */
export async function ensureAgentGuest(): Promise<Guest> {
  const g = await ensureGuest();
  const out = { kernel: g.kernel, initrd: join(AGENT_CACHE, 'initrd.gz') };
  if (existsSync(out.initrd)) return out;
  const work = join(AGENT_CACHE, 'work');
  const root = join(AGENT_CACHE, 'root');
  mkdirSync(work, { recursive: true });
  await unpackGuestTree(g, root);
  mkdirSync(join(root, 'etc/qemu'), { recursive: true });
  if (!readdirSync(work).some((f) => f.startsWith('qemu-guest-agent_') && f.endsWith('.deb'))) {
    const r = await sh('sh', ['-c', `cd '${work}' && apt-get download qemu-guest-agent`], { allowFail: true, timeoutMs: 600_000 });
    if (r.code !== 0) throw new Error(`apt-get download qemu-guest-agent: ${r.stderr.trim()}`);
  }
  const deb = join(work, readdirSync(work).find((f) => f.startsWith('qemu-guest-agent_') && f.endsWith('.deb'))!);
  await sh('sh', ['-ec', `rm -rf '${work}/x' && dpkg-deb -x '${deb}' '${work}/x' && mkdir -p '${root}/usr/sbin' && cp '${work}/x/usr/sbin/qemu-ga' '${root}/usr/sbin/'`]);
  await copyLibrariesOf(root, join(work, 'x/usr/sbin/qemu-ga'), "the apt packages of qemu-guest-agent's Depends");
  // the modules, from the guest kernel's package ensureGuest keeps
  const kdeb = readdirSync(join(GUEST_CACHE, 'work')).find((f) => f.startsWith('linux-image-') && f.endsWith('.deb'));
  if (!kdeb) throw new Error(`the guest kernel's package is not in ${GUEST_CACHE}/work`);
  await sh('sh', ['-ec', `rm -rf '${work}/k' && mkdir -p '${work}/k' && dpkg-deb --fsys-tarfile '${GUEST_CACHE}/work/${kdeb}' | tar -x -C '${work}/k' --wildcards './lib/modules/*/kernel/fs' './lib/modules/*/kernel/lib' './lib/modules/*/kernel/crypto' './lib/modules/*/kernel/drivers/block' './lib/modules/*/kernel/drivers/char'`], { timeoutMs: 300_000 });
  for (const m of MODULES) {
    const f = (await sh('sh', ['-c', `find '${work}/k' -name '${m}.ko' | head -n1`])).stdout.trim();
    if (!f) throw new Error(`module ${m}.ko is not in ${kdeb}`);
    await sh('cp', [f, join(root, 'lib', `${m}.ko`)]);
  }
  writeFileSync(join(root, 'guest-setup'), SETUP);
  writeFileSync(join(root, 'etc/qemu/fsfreeze-hook'), HOOK, { mode: 0o755 });
  await packGuestTree(root, out.initrd);
  await sh('rm', ['-rf', join(work, 'x'), join(work, 'k')]);
  return out;
}

export interface FsLine { kind: 'AGENT' | 'FS'; boot: string; raw: string; port?: string; fs?: string; fsprev?: string; event?: 'freeze' | 'thaw' }

/** The agent guest's own console lines (parseConsole has the ticks). */
export function parseAgentConsole(text: string): FsLine[] {
  const out: FsLine[] = [];
  for (const raw of text.split('\n')) {
    const a = /HAVM-AGENT boot=([0-9a-f]+) port=(\S+) fs=(\S+) fsprev=\[([^\]]*)\]/.exec(raw);
    if (a) { out.push({ kind: 'AGENT', boot: a[1], port: a[2], fs: a[3], fsprev: a[4], raw }); continue; }
    const f = /HAVM-FS (freeze|thaw) boot=([0-9a-f]+)/.exec(raw);
    if (f) out.push({ kind: 'FS', event: f[1] as 'freeze' | 'thaw', boot: f[2], raw });
  }
  return out;
}
