import { execa, type ResultPromise } from 'execa';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';

// Boots an image in QEMU (TCG: no KVM here) with two serial ports logged to files: ttyS0 is
// the console (also a socket, to type into), ttyS1 receives the installer's syslog when the
// image was built with --serial-log.

export interface BootOptions {
  image: string;
  /** 'uefi-secureboot': OVMF with Secure Boot on and Microsoft's keys enrolled (what PCs ship with). */
  firmware: 'bios' | 'uefi' | 'uefi-secureboot';
  workDir: string;
  mac?: string;
  /** Extra virtio disks (qcow2, sparse) in GiB; the first is the OS disk. */
  disksGiB?: number[];
  memoryMiB?: number;
}

export interface Vm {
  consoleLog: string;
  syslog: string;
  /** The qcow2 files of the VM's disks, in the order of `disksGiB`. */
  disks: string[];
  /** Resolves when `pattern` shows up in the log, rejects after `timeoutMs` with the log tail. */
  waitFor(log: 'console' | 'syslog', pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  read(log: 'console' | 'syslog'): string;
  /** Types `text` on the serial console (ttyS0). */
  type(text: string): Promise<void>;
  /** Resolves with QEMU's exit code once the guest powered off; rejects after `timeoutMs`. */
  exited(timeoutMs: number): Promise<number | undefined>;
  stop(): Promise<void>;
}

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
export const OVMF_SECBOOT_CODE = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';
const OVMF_MS_VARS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';

// Terminal escapes and carriage returns make console logs hard to match.
export function plain(text: string): string {
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[()][0-9A-B]/g, '').replace(/\r/g, '');
}

export async function bootVm(opts: BootOptions): Promise<Vm> {
  const consoleLog = join(opts.workDir, 'console.log');
  const syslog = join(opts.workDir, 'syslog.log');
  const consoleSocket = join(opts.workDir, 'console.sock');
  const args = ['-accel', 'tcg', '-smp', '1', '-m', String(opts.memoryMiB ?? 1536), '-display', 'none', '-no-reboot',
    '-chardev', `socket,id=con,path=${consoleSocket},server=on,wait=off,logfile=${consoleLog}`,
    '-serial', 'chardev:con', '-serial', `file:${syslog}`,
    '-netdev', 'user,id=n0', '-device', `virtio-net-pci,netdev=n0${opts.mac ? `,mac=${opts.mac}` : ''}`];
  if (opts.firmware === 'bios') {
    args.push('-machine', 'pc', '-cdrom', opts.image, '-boot', 'd');
  } else {
    const secure = opts.firmware === 'uefi-secureboot';
    const vars = join(opts.workDir, 'OVMF_VARS.fd');
    copyFileSync(secure ? OVMF_MS_VARS : OVMF_VARS, vars);
    // The Secure Boot build of OVMF keeps its variables in SMM-protected flash.
    if (secure) args.push('-machine', 'q35,smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on');
    else args.push('-machine', 'q35');
    args.push(
      '-drive', `if=pflash,format=raw,readonly=on,file=${secure ? OVMF_SECBOOT_CODE : OVMF_CODE}`,
      '-drive', `if=pflash,format=raw,file=${vars}`,
      // as a USB-stick-like disk: proves the hybrid GPT/ESP path, not only El Torito
      '-drive', `file=${opts.image},format=raw,if=none,id=stick,readonly=on`,
      '-device', 'usb-ehci,id=ehci', '-device', 'usb-storage,bus=ehci.0,drive=stick,removable=on,bootindex=0');
  }
  const disks: string[] = [];
  for (const size of opts.disksGiB ?? [20]) {
    const disk = join(opts.workDir, `disk${disks.length}.qcow2`);
    disks.push(disk);
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', disk, `${size}G`]);
    args.push('-drive', `file=${disk},if=virtio,format=qcow2`);
  }
  const proc: ResultPromise = execa('qemu-system-x86_64', args, { reject: false });
  let exited = false;
  void proc.then(() => { exited = true; });

  const read = (log: 'console' | 'syslog') => {
    const f = log === 'console' ? consoleLog : syslog;
    return existsSync(f) ? plain(readFileSync(f, 'latin1')) : '';
  };
  return {
    consoleLog,
    syslog,
    disks,
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
    async type(text) {
      await new Promise<void>((resolve, reject) => {
        const c = createConnection(consoleSocket, () => c.end(text, () => resolve()));
        c.on('error', reject);
      });
    },
    async exited(timeoutMs) {
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`QEMU still running after ${timeoutMs} ms`)), timeoutMs).unref());
      return (await Promise.race([proc, timeout])).exitCode;
    },
    async stop() {
      if (!exited) proc.kill('SIGKILL');
      await proc;
    },
  };
}

/** Byte ranges of a (stopped) VM's qcow2 disk that the guest ever wrote: none for an untouched disk. */
export async function writtenRanges(disk: string): Promise<{ start: number; length: number }[]> {
  const r = await execa('qemu-img', ['map', '--output=json', disk]);
  return (JSON.parse(r.stdout) as { start: number; length: number; data: boolean }[])
    .filter((e) => e.data)
    .map(({ start, length }) => ({ start, length }));
}
