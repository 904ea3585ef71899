// Boots a preinstalled node disk (from `personal-cloud build disk`) in QEMU (TCG), on a tap
// device inside a network namespace, with extra virtio disks that carry serials (so they show
// up as /dev/disk/by-id/virtio-SERIAL in the guest), a serial console log and a QMP socket.
import { execa, type ResultPromise } from 'execa';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { plain } from './qemu.js';

export interface DiskVmOptions {
  name: string;
  /** The built image (qcow2 or raw): the VM writes to an overlay, the image stays untouched. Absent: a blank OS disk. */
  image?: string;
  osSizeGiB?: number;
  /** Boot an installer ISO first (the OS disk is then the install target). */
  cdrom?: string;
  /** QEMU exits instead of rebooting (an installer's final reboot ends the run). */
  noReboot?: boolean;
  /** user-mode network options instead of a tap, e.g. 'net=10.79.0.0/24,host=10.79.0.1'. */
  userNet?: string;
  workDir: string;
  firmware: 'bios' | 'uefi';
  mac: string;
  /** Run QEMU inside this network namespace, on tap device `tap` (already created there). */
  netns?: string;
  tap?: string;
  osSerial?: string;
  disks?: { serial: string; sizeGiB: number }[];
  memoryMiB?: number;
  smp?: number;
}

export interface DiskVm {
  name: string;
  consoleLog: string;
  /** The VM's OS disk (an overlay over the image, or the installer's target). */
  osDisk: string;
  read(log?: 'console' | 'syslog'): string;
  waitFor(pattern: RegExp, timeoutMs: number, log?: 'console' | 'syslog'): Promise<RegExpMatchArray>;
  /** Resolves with QEMU's exit code. */
  done: Promise<number>;
  /** One QMP command (e.g. system_reset); returns its `return` value. */
  qmp(command: string, args?: Record<string, unknown>): Promise<unknown>;
  readonly exited: boolean;
  stop(): Promise<void>;
}

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';

export async function bootDiskVm(o: DiskVmOptions): Promise<DiskVm> {
  const consoleLog = join(o.workDir, `${o.name}-console.log`);
  const qmpSock = join(o.workDir, `${o.name}-qmp.sock`);
  const overlay = join(o.workDir, `${o.name}-os.qcow2`);
  if (o.image) {
    const fmt = o.image.endsWith('.raw') ? 'raw' : 'qcow2';
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', fmt, '-b', o.image, overlay]);
  } else if (!existsSync(overlay)) {
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', overlay, `${o.osSizeGiB ?? 20}G`]);
  }
  const args = ['-name', o.name, '-accel', 'tcg', '-smp', String(o.smp ?? 1), '-m', String(o.memoryMiB ?? 1536),
    '-display', 'none', '-serial', `file:${consoleLog}`, '-serial', `file:${join(o.workDir, `${o.name}-syslog.log`)}`,
    '-qmp', `unix:${qmpSock},server=on,wait=off`,
    '-drive', `file=${overlay},if=none,id=os,format=qcow2`, '-device', `virtio-blk-pci,drive=os,serial=${o.osSerial ?? 'pc-os'},bootindex=${o.cdrom ? 1 : 0}`];
  if (o.cdrom) args.push('-drive', `file=${o.cdrom},media=cdrom,if=none,id=cd,readonly=on`, '-device', 'ide-cd,drive=cd,bootindex=0');
  if (o.noReboot) args.push('-no-reboot');
  if (o.firmware === 'uefi') {
    const vars = join(o.workDir, `${o.name}-OVMF_VARS.fd`);
    copyFileSync(OVMF_VARS, vars);
    args.push('-machine', 'q35', '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`);
  } else {
    args.push('-machine', 'pc');
  }
  for (const [i, d] of (o.disks ?? []).entries()) {
    const f = join(o.workDir, `${o.name}-${d.serial}.qcow2`);
    if (!existsSync(f)) await execa('qemu-img', ['create', '-q', '-f', 'qcow2', f, `${d.sizeGiB}G`]);
    args.push('-drive', `file=${f},if=none,id=d${i},format=qcow2`, '-device', `virtio-blk-pci,drive=d${i},serial=${d.serial}`);
  }
  args.push('-netdev', o.tap ? `tap,id=n0,ifname=${o.tap},script=no,downscript=no` : `user,id=n0${o.userNet ? `,${o.userNet}` : ',restrict=on'}`, '-device', `virtio-net-pci,netdev=n0,mac=${o.mac}`);
  const cmd = o.netns ? ['ip', ['netns', 'exec', o.netns, 'qemu-system-x86_64', ...args]] as const : ['qemu-system-x86_64', args] as const;
  const proc: ResultPromise = execa(cmd[0], [...cmd[1]], { reject: false });
  let exited = false;
  void proc.then(() => { exited = true; });
  const syslog = join(o.workDir, `${o.name}-syslog.log`);
  const read = (log: 'console' | 'syslog' = 'console') => {
    const f = log === 'console' ? consoleLog : syslog;
    return existsSync(f) ? plain(readFileSync(f, 'latin1')) : '';
  };

  return {
    name: o.name,
    consoleLog,
    osDisk: overlay,
    read,
    done: proc.then((r) => r.exitCode ?? -1),
    get exited() { return exited; },
    async waitFor(pattern, timeoutMs, log = 'console') {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const m = read(log).match(pattern);
        if (m) return m;
        if (exited) { const r = await proc; throw new Error(`${o.name}: QEMU exited (${r.exitCode}) before ${pattern}: ${String(r.stderr).slice(-500)}`); }
        if (Date.now() > end) throw new Error(`${o.name}: timed out after ${timeoutMs} ms waiting for ${pattern} in ${log}\n--- tail ---\n${read(log).slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 1000));
      }
    },
    qmp(command, cmdArgs) {
      return new Promise((resolvePromise, reject) => {
        const s = createConnection(qmpSock);
        let buf = '';
        let sent = 0;
        const timer = setTimeout(() => { s.destroy(); reject(new Error(`${o.name}: QMP ${command} timed out`)); }, 15_000);
        s.on('data', (d) => {
          buf += d.toString();
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            const msg = JSON.parse(buf.slice(0, i));
            buf = buf.slice(i + 1);
            if (msg.QMP && sent === 0) { sent = 1; s.write(`${JSON.stringify({ execute: 'qmp_capabilities' })}\n`); continue; }
            if (sent === 1 && 'return' in msg) { sent = 2; s.write(`${JSON.stringify({ execute: command, ...(cmdArgs ? { arguments: cmdArgs } : {}) })}\n`); continue; }
            if (sent === 2 && ('return' in msg || 'error' in msg)) {
              clearTimeout(timer); s.end();
              if (msg.error) reject(new Error(`${o.name}: QMP ${command}: ${msg.error.desc}`)); else resolvePromise(msg.return);
            }
          }
        });
        s.on('error', (e) => { clearTimeout(timer); reject(e); });
      });
    },
    async stop() {
      if (!exited) proc.kill('SIGKILL');
      await proc;
    },
  };
}
