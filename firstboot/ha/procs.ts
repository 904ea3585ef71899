// Daemons of the HA stack. On a real node systemd owns them; the namespace harness has no
// systemd, so there the agent starts them itself as their units would. Processes are looked
// up in /proc but only within our own network namespace (harness nodes share one PID space).
import { existsSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { run, spawnDetached } from '../exec.js';

export const underSystemd = () => existsSync('/run/systemd/system');

export async function pidsOf(comm: string): Promise<number[]> {
  const self = await readlink('/proc/self/ns/net').catch(() => '');
  const out: number[] = [];
  for (const d of await readdir('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if ((await readFile(`/proc/${d}/comm`, 'utf8')).trim() !== comm) continue;
      const st = await readFile(`/proc/${d}/stat`, 'utf8');
      if (st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) === 'Z') continue;
      if ((await readlink(`/proc/${d}/ns/net`)) === self) out.push(Number(d));
    } catch { /* gone meanwhile */ }
  }
  return out;
}

export interface Daemon { unit: string; comm: string; start: [string, string[]] }

export const DAEMONS = {
  libvirtd: { unit: 'libvirtd', comm: 'libvirtd', start: ['libvirtd', ['-d', '--listen', '-p', '/run/libvirtd.pid']] },
  corosync: { unit: 'corosync', comm: 'corosync', start: ['corosync', []] },
  pacemaker: { unit: 'pacemaker', comm: 'pacemakerd', start: ['pacemakerd', []] },
  // the quorum device: qnetd on the node ha.qdevice names, qdevice (comm is cut to 15 bytes) on the members
  qnetd: { unit: 'corosync-qnetd', comm: 'corosync-qnetd', start: ['corosync-qnetd', []] },
  qdevice: { unit: 'corosync-qdevice', comm: 'corosync-qdevic', start: ['corosync-qdevice', []] },
} satisfies Record<string, Daemon>;

/** systemd's view of one unit (service or socket). */
export async function unitActive(unit: string): Promise<boolean> {
  return (await run('systemctl', ['is-active', '--quiet', unit], { allowFail: true })).code === 0;
}

export async function running(d: Daemon): Promise<boolean> {
  if (underSystemd()) return unitActive(d.unit);
  return (await pidsOf(d.comm)).length > 0;
}

export async function startDaemon(d: Daemon, extraUnits: string[] = []): Promise<void> {
  if (underSystemd()) { await run('systemctl', ['enable', '--now', ...extraUnits, d.unit]); return; }
  if (!(await running(d))) spawnDetached(d.start[0], d.start[1]);
}

export async function restartDaemon(d: Daemon): Promise<void> {
  if (underSystemd()) { await run('systemctl', ['restart', d.unit]); return; }
  for (const pid of await pidsOf(d.comm)) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
  const end = Date.now() + 15_000;
  while ((await pidsOf(d.comm)).length && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
  spawnDetached(d.start[0], d.start[1]);
}

/** Stops a daemon and waits for it to go (retiring a node: Pacemaker, then corosync). */
export async function stopDaemon(d: Daemon): Promise<void> {
  if (underSystemd()) { await run('systemctl', ['disable', '--now', d.unit]); return; }
  for (const pid of await pidsOf(d.comm)) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ } }
  await waitFor(`${d.unit} to stop`, 120_000, async () => (await pidsOf(d.comm)).length === 0);
}

export async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
