// What a survivor's users feel of a lost node on gv0: one writer per node appends a small record
// to its own file on /mnt/gv0 and fsyncs it, ~20 times a second, and reports when each fsync
// returned. The longest gap between two returns is the longest write stall.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Harness } from './cluster.js';

// Runs in the node's namespaces (node -e); blocking calls on purpose: a stalled fsync stalls the loop.
const WRITER = `
const fs = require('fs');
fs.mkdirSync(require('path').dirname(process.argv[1]), { recursive: true });
const fd = fs.openSync(process.argv[1], 'a');
const rec = Buffer.alloc(64, 'x');
const nap = new Int32Array(new SharedArrayBuffer(4));
process.stdout.write('ready\\n');
for (;;) { fs.writeSync(fd, rec); fs.fsyncSync(fd); process.stdout.write(Date.now() + '\\n'); Atomics.wait(nap, 0, 0, 50); }
`;

export interface Stall { node: string; ms: number; at: number; writes: number }

/**
 * The longest time in [from, to] without a completed write, given when writes completed
 * (ascending): a gap that began before `from` counts from its start, a write still pending at
 * `to` counts up to `to`.
 */
export function longestGap(times: number[], from: number, to: number): { ms: number; at: number; writes: number } {
  const inWin = times.filter((x) => x >= from && x <= to);
  const pts = [times.filter((x) => x < from).at(-1) ?? from, ...inWin, to];
  let ms = 0;
  let at = from;
  for (let i = 1; i < pts.length; i++) if (pts[i] - pts[i - 1] > ms) { ms = pts[i] - pts[i - 1]; at = pts[i - 1]; }
  return { ms, at, writes: inWin.length };
}

export class Gv0Writers {
  private procs = new Map<string, { child: ChildProcess; times: number[] }>();

  /** Starts a writer on each node and returns once every one has completed a write. */
  static async start(h: Harness, nodes: string[], dir = '/mnt/gv0/bench-stall'): Promise<Gv0Writers> {
    const w = new Gv0Writers();
    for (const n of nodes) {
      const child = spawn('nsenter', [...h.nsenterArgs(n), process.execPath, '-e', WRITER, `${dir}/${n}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      const times: number[] = [];
      let rest = '';
      child.stdout!.on('data', (d: Buffer) => {
        const parts = (rest + d).split('\n');
        rest = parts.pop()!;
        for (const p of parts) if (/^\d+$/.test(p)) times.push(Number(p));
      });
      w.procs.set(n, { child, times });
    }
    const end = Date.now() + 60_000;
    while ([...w.procs.values()].some((p) => p.times.length < 3)) {
      const dead = [...w.procs.entries()].find(([, p]) => p.child.exitCode !== null);
      if (dead || Date.now() > end) { w.stop(); throw new Error(`gv0 writer on ${dead?.[0] ?? 'a node'} did not start writing to ${dir}`); }
      await new Promise((r) => setTimeout(r, 100));
    }
    return w;
  }

  /**
   * Per node, the longest time in [from, to] without a completed write: gaps between returns,
   * and a write still pending at `to` counts up to `to`.
   */
  longestStall(from: number, to: number): Stall[] {
    return [...this.procs.entries()].map(([node, { times }]) => ({ node, ...longestGap(times, from, to) }));
  }

  stop(): void {
    for (const { child } of this.procs.values()) child.kill('SIGKILL');
  }
}
