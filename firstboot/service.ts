// Starting and restarting glusterd. On a real node systemd owns it; the namespace harness
// has no systemd, so there the agent runs the daemon itself, exactly as the unit would.
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { run, spawnDetached } from './exec.js';
import { gluster } from './gluster.js';
import { readProc } from './fsx.js';

const PID_FILE = '/run/glusterd.pid';

const underSystemd = () => existsSync('/run/systemd/system');

async function alive(pid: number, comm: string): Promise<boolean> {
  try { return (await readFile(`/proc/${pid}/comm`, 'utf8')).trim() === comm; } catch { return false; }
}

export async function glusterdPid(): Promise<number | null> {
  // glusterd writes its pid file under systemd too (the unit's `-p /var/run/glusterd.pid`):
  // reading it costs no process, where `systemctl show` on a loaded node can take seconds
  try {
    const pid = Number((await readFile(PID_FILE, 'utf8')).trim());
    if (pid > 0 && (await alive(pid, 'glusterd'))) return pid;
  } catch { /* no pid file: not started, or started without -p */ }
  if (!underSystemd()) return null;
  const r = await run('systemctl', ['show', '-p', 'MainPID', '--value', 'glusterd'], { allowFail: true });
  const pid = Number(r.stdout.trim());
  return pid > 0 ? pid : null;
}

/** Start time of a process in ms since the epoch (from /proc, no clock-tick guesswork beyond USER_HZ=100). */
export async function processStartMs(pid: number): Promise<number> {
  const st = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = st.slice(st.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[19]);
  const btime = Number(/^btime (\d+)$/m.exec(await readProc('/proc/stat'))![1]);
  return btime * 1000 + ticks * 10;
}

function socketListening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

async function waitAnswering(timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  // the CLI itself waits ~10 s for a daemon that is not listening yet: probe the socket first
  while (!(await socketListening('/run/glusterd.socket')) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  for (;;) {
    const r = await gluster(['pool', 'list'], true, 10_000);
    if (r.code === 0) return;
    if (Date.now() > end) throw new Error(`glusterd does not answer: ${(r.stderr || r.stdout).trim()}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

export async function startGlusterd(): Promise<void> {
  if (underSystemd()) await run('systemctl', ['enable', '--now', 'glusterd']);
  else if (!(await glusterdPid())) spawnDetached('glusterd', ['-p', PID_FILE, '--log-level', 'INFO']);
  await waitAnswering();
}

export async function restartGlusterd(): Promise<void> {
  if (underSystemd()) { await run('systemctl', ['restart', 'glusterd']); await waitAnswering(); return; }
  const pid = await glusterdPid();
  if (pid) {
    process.kill(pid, 'SIGTERM');
    const end = Date.now() + 15_000;
    while (await alive(pid, 'glusterd')) {
      if (Date.now() > end) { process.kill(pid, 'SIGKILL'); }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  spawnDetached('glusterd', ['-p', PID_FILE, '--log-level', 'INFO']);
  await waitAnswering();
}

export async function mtimeMs(path: string): Promise<number | null> {
  try { return (await stat(path)).mtimeMs; } catch { return null; }
}
