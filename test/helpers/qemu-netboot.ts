import { execa, type ResultPromise } from 'execa';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { plain } from './qemu.js';

// Boots a QEMU guest (TCG) from the network: through QEMU's own DHCP+TFTP (user networking,
// tftp=TREE) or through a tap device in a network namespace where our dnsmasq serves. Two serial
// ports as in qemu.ts: ttyS0 console, ttyS1 the installer's syslog (--serial-log builds).

export type NetbootNet =
  | { kind: 'user'; tftp: string; bootfile: string }
  | { kind: 'tap'; netns: string; ifname: string };

export interface NetbootOptions {
  firmware: 'bios' | 'uefi';
  workDir: string;
  mac: string;
  net: NetbootNet;
  /** Raw first disk content (e.g. a boot sector), else an empty 20 GiB qcow2. */
  bootSector?: Buffer;
  memoryMiB?: number;
  /**
   * Without the NIC's option ROM (QEMU's iPXE), so that UEFI firmware does the network boot with
   * its own PXE client — as a PC's firmware does — instead of iPXE (which says so in option 175).
   */
  firmwarePxe?: boolean;
}

export interface NetbootVm {
  read(log: 'console' | 'syslog'): string;
  waitFor(log: 'console' | 'syslog', pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

/** A 512-byte MBR that writes `message` to COM1 and halts: proof that the machine booted its disk. */
export function serialBootSector(message: string): Buffer {
  const code = Buffer.from([
    0xfa, 0x31, 0xc0, 0x8e, 0xd8, // cli; xor ax,ax; mov ds,ax
    0xbe, 0x16, 0x7c, // mov si, 0x7c16 (the message)
    0xba, 0xf8, 0x03, // mov dx, 0x3f8
    0xac, 0x08, 0xc0, 0x74, 0x03, // lodsb; or al,al; jz +3
    0xee, 0xeb, 0xf8, // out dx,al; jmp lodsb
    0xf4, 0xeb, 0xfd, // hlt; jmp hlt
  ]);
  const mbr = Buffer.alloc(512);
  code.copy(mbr, 0);
  Buffer.from(`${message}\r\n\0`, 'latin1').copy(mbr, 0x16);
  mbr.writeUInt16LE(0xaa55, 510);
  return mbr;
}

export async function netbootVm(o: NetbootOptions): Promise<NetbootVm> {
  const consoleLog = join(o.workDir, 'console.log');
  const syslog = join(o.workDir, 'syslog.log');
  const netdev = o.net.kind === 'user'
    ? `user,id=n0,tftp=${o.net.tftp},bootfile=${o.net.bootfile}`
    : `tap,id=n0,ifname=${o.net.ifname},script=no,downscript=no`;
  const args = ['-accel', 'tcg', '-smp', '1', '-m', String(o.memoryMiB ?? 1024), '-display', 'none', '-no-reboot',
    '-serial', `file:${consoleLog}`, '-serial', `file:${syslog}`,
    '-netdev', netdev, '-device', `virtio-net-pci,netdev=n0,mac=${o.mac},bootindex=0${o.firmwarePxe ? ',romfile=' : ''}`];
  if (o.firmware === 'bios') {
    args.push('-machine', 'pc');
  } else {
    const vars = join(o.workDir, 'OVMF_VARS.fd');
    copyFileSync(OVMF_VARS, vars);
    args.push('-machine', 'q35', '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`);
  }
  if (o.bootSector) {
    const disk = join(o.workDir, 'disk.raw');
    writeFileSync(disk, Buffer.concat([o.bootSector, Buffer.alloc(1024 * 1024 - o.bootSector.length)]));
    args.push('-drive', `file=${disk},if=none,id=d0,format=raw`, '-device', 'virtio-blk-pci,drive=d0,bootindex=1');
  } else {
    const disk = join(o.workDir, 'disk.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '20G']);
    args.push('-drive', `file=${disk},if=virtio,format=qcow2`);
  }
  const proc: ResultPromise = o.net.kind === 'tap'
    ? execa('ip', ['netns', 'exec', o.net.netns, 'qemu-system-x86_64', ...args], { reject: false })
    : execa('qemu-system-x86_64', args, { reject: false });
  let exited = false;
  void proc.then(() => { exited = true; });
  const read = (log: 'console' | 'syslog') => {
    const f = log === 'console' ? consoleLog : syslog;
    return existsSync(f) ? plain(readFileSync(f, 'latin1')) : '';
  };
  return {
    read,
    async waitFor(log, pattern, timeoutMs) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const m = read(log).match(pattern);
        if (m) return m;
        if (exited) {
          const r = await proc;
          throw new Error(`QEMU exited (${r.exitCode}) before ${pattern} appeared in ${log}: ${String(r.stderr).slice(-500)}\n--- tail ---\n${read(log).slice(-1500)}`);
        }
        if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} in ${log}\n--- tail ---\n${read(log).slice(-2500)}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    },
    async stop() {
      if (!exited) proc.kill('SIGKILL');
      await proc;
    },
  };
}
