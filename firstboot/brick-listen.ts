// Whether a brick's process really serves. glusterd, restarted next to a brick process, takes the
// process its pidfile names for the brick ("discovered already-running brick") — also one that hung
// before it loaded its graph and never listens — and starts no other while it lives, whether it
// then calls the brick online or offline; clients get "Transport endpoint is not connected" for as
// long as it lives, and `volume start force` leaves it be.
import { readdir, readFile } from 'node:fs/promises';
import { connect } from 'node:net';

/** The port a brick process was started to listen on, when `pid` is the process of brick `ref` (`host:path`) of `volume`. */
export async function brickPort(pid: number, volume: string, ref: string): Promise<number | undefined> {
  const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8').then((t) => t.split('\0'), () => null);
  if (!argv || !/glusterfsd$/.test(argv[0] ?? '')) return undefined;
  const arg = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
  const [host, path] = [ref.slice(0, ref.indexOf(':')), ref.slice(ref.indexOf(':') + 1)];
  if (arg('--brick-name') !== path || !arg('--volfile-id')?.startsWith(`${volume}.${host}.`)) return undefined;
  const port = Number(arg('--brick-port'));
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

/** The live processes of brick `ref` of `volume`, with the port each was started to listen on. */
export async function brickProcesses(volume: string, ref: string): Promise<{ pid: number; port: number }[]> {
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((e) => /^\d+$/.test(e)).map(Number);
  const found: { pid: number; port: number }[] = [];
  for (const pid of pids) {
    const port = await brickPort(pid, volume, ref);
    if (port) found.push({ pid, port });
  }
  return found;
}

/**
 * Whether `host:port` refuses a TCP connection: nobody listens there. A timeout or a name that
 * does not resolve says nothing about the brick, so it is no refusal (a TLS brick is not spoken to).
 */
export function portRefuses(host: string, port: number, timeoutMs = 3_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs });
    const end = (refused: boolean) => { s.destroy(); resolve(refused); };
    s.once('connect', () => end(false));
    s.once('timeout', () => end(false));
    s.once('error', (e: NodeJS.ErrnoException) => end(e.code === 'ECONNREFUSED'));
  });
}

/** Whether `pid` is gone (a killed brick process, reaped by init) within `timeoutMs`. */
export async function processGone(pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try { process.kill(pid, 0); } catch { return true; }
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}
