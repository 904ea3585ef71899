// A guest that runs fio on its virtio disk: the test guest's kernel and virtio modules
// (ha-guest.ts) with the host's fio and the libraries it links added to the initramfs. The init
// of one run is a second cpio archive appended to the cached one (the kernel unpacks both), so
// only the fio command lines change between runs.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyInto, copyLibrariesOf, ensureGuest, GUEST_CACHE, packGuestTree, unpackGuestTree } from './ha-guest.js';
import { sh } from './sh.js';

const FIO_CACHE = `${GUEST_CACHE}-fio`;

/** The kernel and the cached initramfs (busybox, virtio modules, fio with its libraries). */
export async function ensureFioGuest(): Promise<{ kernel: string; base: string }> {
  const g = await ensureGuest();
  const base = join(FIO_CACHE, 'base.cpio.gz');
  if (existsSync(base)) return { kernel: g.kernel, base };
  const fio = (await sh('sh', ['-c', 'command -v fio'], { allowFail: true })).stdout.trim();
  if (!fio) throw new Error('fio not found (apt package fio)');
  const root = join(FIO_CACHE, 'root');
  // the test guest's tree (busybox, modules, its init: replaced by ours below)
  await unpackGuestTree(g, root);
  await sh('rm', ['-f', join(root, 'init')]);
  await copyLibrariesOf(root, fio, 'apt package fio');
  await copyInto(root, fio);
  await packGuestTree(root, base);
  return { kernel: g.kernel, base };
}

/**
 * The initramfs of one run: the cached one and an init that runs each fio command line on
 * /dev/vda, writes their JSON between FIO-BEGIN/FIO-END lines to /dev/vdb (a raw disk the caller
 * attaches second), then powers off.
 */
export async function fioGuestInitrd(dir: string, runs: { name: string; args: string[] }[]): Promise<string> {
  const { base } = await ensureFioGuest();
  const work = join(dir, 'fio-init');
  mkdirSync(work, { recursive: true });
  const init = [
    '#!/bin/busybox sh',
    '/bin/busybox --install -s /bin',
    'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev',
    'for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do insmod /lib/$m.ko 2>/dev/null; done',
    'n=0; while [ ! -b /dev/vda ] && [ $n -lt 50 ]; do sleep 0.2; n=$((n+1)); done',
    'export LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu/ceph',
    // the reports go to the second disk: the serial console drops bytes of long outputs
    ...runs.flatMap((r) => [`echo FIO-BEGIN ${r.name} | tee -a /out`, `/usr/bin/fio ${r.args.map((a) => `'${a}'`).join(' ')} --filename=/dev/vda --output-format=json >> /out 2>&1`, `echo FIO-END ${r.name} | tee -a /out`]),
    'dd if=/out of=/dev/vdb conv=fsync 2>/dev/null; echo FIO-DONE',
    'poweroff -f',
  ].join('\n');
  writeFileSync(join(work, 'init'), `${init}\n`, { mode: 0o755 });
  const out = join(dir, 'fio-initrd.gz');
  await sh('sh', ['-ec', `cd '${work}' && { cat '${base}'; find . | cpio -o -H newc --quiet | gzip -1; } > '${out}'`]);
  return out;
}

/** The JSON documents of fioGuestInitrd's runs, from what the guest wrote to its second disk. */
export function parseFioConsole(text: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of text.replace(/\r|\0/g, '').matchAll(/^FIO-BEGIN (\S+)\n([\s\S]*?)^FIO-END \1$/gm)) {
    const body = m[2];
    const start = body.indexOf('{');
    if (start < 0) throw new Error(`fio ${m[1]} in the guest printed no JSON: ${body.trim().slice(0, 300)}`);
    out[m[1]] = JSON.parse(body.slice(start, body.lastIndexOf('}') + 1));
  }
  return out;
}
