// Starting and restarting glusterd. On a real node systemd owns it; the namespace harness
// has no systemd, so there the agent runs the daemon itself, exactly as the unit would.
import { existsSync } from 'node:fs';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
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

/**
 * A glusterd we (re)started that does not answer yet. glusterd initialises (seconds of CPU)
 * before it forks and writes its pid file, so meanwhile it is known only by its process or by
 * systemd's "activating"; the agent goes on with other steps (brick preparation).
 */
export interface GlusterdStart { sinceMs: number; failed?: string }

let start: GlusterdStart | null = null;

/** The start in progress, or the last one if it failed; null once it answered. */
export const glusterdStart = (): GlusterdStart | null => start;

/**
 * A glusterd process of this node without a pid file yet (initialising). By mount namespace: the
 * test harness runs several nodes' glusterds side by side, each in its own.
 */
async function initialisingGlusterd(): Promise<boolean> {
  const ns = await readlink('/proc/self/ns/mnt').catch(() => '');
  for (const pid of (await readdir('/proc')).filter((x) => /^\d+$/.test(x))) {
    if (!(await alive(Number(pid), 'glusterd'))) continue;
    if ((await readlink(`/proc/${pid}/ns/mnt`).catch(() => null)) === ns) return true;
  }
  return false;
}

async function stillStarting(sinceMs: number): Promise<boolean> {
  // systemd may not have picked up the --no-block job yet
  if (Date.now() - sinceMs < 5_000 || (await glusterdPid())) return true;
  if (!underSystemd()) return initialisingGlusterd();
  const r = await run('systemctl', ['show', '-p', 'ActiveState', '--value', 'glusterd'], { allowFail: true });
  return /^(activating|active|reloading)$/.test(r.stdout.trim());
}

async function untilAnswering(sinceMs: number): Promise<string | undefined> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  // the CLI itself waits ~10 s for a daemon that is not listening yet: probe the socket first
  while (!(await socketListening('/run/glusterd.socket'))) {
    if (!(await stillStarting(sinceMs))) return 'glusterd exited while starting (see /var/log/glusterfs/glusterd.log)';
    await sleep(200);
  }
  for (;;) {
    const r = await gluster(['pool', 'list'], true, 10_000);
    if (r.code === 0) return undefined;
    if (!(await stillStarting(sinceMs))) return `glusterd exited while starting: ${(r.stderr || r.stdout).trim()}`;
    await sleep(200);
  }
}

function watch(onAnswer: () => Promise<void>): void {
  const s: GlusterdStart = { sinceMs: Date.now() };
  start = s;
  void untilAnswering(s.sinceMs).then(async (failed) => {
    if (failed) { s.failed = failed; return; }
    await onAnswer().catch(() => undefined);
    if (start === s) start = null;
  });
}

/** Starts glusterd and returns at once: glusterdStart() tells whether it answers yet; onAnswer runs when it does. */
export async function startGlusterd(onAnswer: () => Promise<void>): Promise<void> {
  if (underSystemd()) await run('systemctl', ['enable', '--now', '--no-block', 'glusterd']);
  // one may be initialising already, started by an agent killed since
  else if (!(await glusterdPid()) && !(await initialisingGlusterd())) spawnDetached('glusterd', ['-p', PID_FILE, '--log-level', 'INFO']);
  watch(onAnswer);
}

/** Stops glusterd, runs `whileStopped` (files glusterd reads only when it starts), starts it again. */
export async function restartGlusterd(onAnswer: () => Promise<void>, whileStopped?: () => Promise<void>): Promise<void> {
  if (underSystemd()) {
    if (whileStopped) { await run('systemctl', ['stop', 'glusterd'], { timeoutMs: 60_000 }); await whileStopped(); await run('systemctl', ['start', '--no-block', 'glusterd']); }
    else await run('systemctl', ['restart', '--no-block', 'glusterd']);
    watch(onAnswer);
    return;
  }
  const pid = await glusterdPid();
  if (pid) {
    process.kill(pid, 'SIGTERM');
    const end = Date.now() + 15_000;
    while (await alive(pid, 'glusterd')) {
      if (Date.now() > end) { process.kill(pid, 'SIGKILL'); }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await whileStopped?.();
  spawnDetached('glusterd', ['-p', PID_FILE, '--log-level', 'INFO']);
  watch(onAnswer);
}

export async function mtimeMs(path: string): Promise<number | null> {
  try { return (await stat(path)).mtimeMs; } catch { return null; }
}
