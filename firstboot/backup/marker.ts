// The one-runner rule: a marker file on gv0 (the VM volume every node mounts) created with
// O_EXCL names the runner (node, pid) and, while a VM sits on a backup overlay, that overlay.
// The runner refreshes a heartbeat in it; a marker whose runner is gone (dead pid on this node,
// or no heartbeat for STALE_MS from another) is taken over by renaming it — one node wins — and
// whatever it recorded is cleaned up by the next run, which says so.
import { readFile, rename, unlink, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentPlan } from '../../core/plan-types.js';
import { writeDurable } from '../fsx.js';

export const STALE_MS = 30_000;
const BEAT_MS = 5_000;

export interface Overlay { vm: string; target: string; base: string; file: string }
/** A gluster snapshot of the run (gv0) and where it is mounted. */
export interface SnapshotRef { name: string; node: string; mount: string }
/** A guest whose filesystems the run froze (qemu-guest-agent) for the snapshot. */
export interface Frozen { vm: string; node: string }

export interface RunMarker {
  node: string; pid: number; startedAt: string; heartbeatAt: string; what: string;
  /** Set while a VM writes to a backup overlay (before the snapshot is taken, cleared after the commit). */
  overlays: Overlay[];
  /** Set from before `gluster snapshot create` until the snapshot is deleted. */
  snapshot?: SnapshotRef;
  /** Set from before a guest is frozen until it is thawed. */
  frozen?: Frozen[];
  progress?: { vm?: string; phase: string; bytes?: number; total?: number; done?: number; of?: number };
}

export class BackupBusy extends Error {}

export const stateDir = (plan: AgentPlan) => join(plan.ha!.vmDir, '.backup');
const markerPath = (plan: AgentPlan) => join(stateDir(plan), 'run.json');

export async function readMarker(plan: AgentPlan): Promise<RunMarker | undefined> {
  try { return JSON.parse(await readFile(markerPath(plan), 'utf8')); } catch { return undefined; }
}

function alive(m: RunMarker, self: string, now: number): boolean {
  if (m.node === self) {
    try { process.kill(m.pid, 0); return true; } catch { return false; }
  }
  return now - Date.parse(m.heartbeatAt) < STALE_MS;
}

export class RunLock {
  private timer?: NodeJS.Timeout;
  /** Saves run one after another; release waits for them: a save landing after the unlink would leave a marker naming a live process (the agent's, for restore and verify) that blocks every later run. */
  private saving: Promise<void> = Promise.resolve();
  private released = false;
  constructor(readonly plan: AgentPlan, public m: RunMarker) {}

  /** Takes the lock; a stale marker is returned (for cleanup) after it has been moved aside. */
  static async acquire(plan: AgentPlan, self: string, what: string): Promise<{ lock: RunLock; stale?: RunMarker }> {
    await mkdir(stateDir(plan), { recursive: true });
    let stale: RunMarker | undefined;
    for (let i = 0; i < 5; i++) {
      const now = new Date().toISOString();
      const m: RunMarker = { node: self, pid: process.pid, startedAt: now, heartbeatAt: now, what, overlays: stale?.overlays ?? [], ...(stale?.snapshot ? { snapshot: stale.snapshot } : {}), ...(stale?.frozen?.length ? { frozen: stale.frozen } : {}) };
      try {
        await writeFile(markerPath(plan), JSON.stringify(m), { flag: 'wx', mode: 0o600 });
        const lock = new RunLock(plan, m);
        lock.timer = setInterval(() => { void lock.save(); }, BEAT_MS);
        lock.timer.unref();
        return { lock, ...(stale ? { stale } : {}) };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const cur = await readMarker(plan);
      if (!cur) continue;
      if (alive(cur, self, Date.now())) throw new BackupBusy(`a backup is already running on ${cur.node} (${cur.what}, since ${cur.startedAt})`);
      const aside = `${markerPath(plan)}.stale-${self}-${process.pid}`;
      try { await rename(markerPath(plan), aside); } catch { continue; } // another node took it over first
      stale = JSON.parse(await readFile(aside, 'utf8')) as RunMarker;
      await unlink(aside).catch(() => undefined);
    }
    throw new BackupBusy('could not take the backup lock (another node keeps taking it)');
  }

  save(): Promise<void> {
    const next = this.saving.then(async () => {
      if (this.released) return;
      this.m.heartbeatAt = new Date().toISOString();
      await writeDurable(markerPath(this.plan), JSON.stringify(this.m), 0o600);
    });
    this.saving = next.catch(() => undefined);
    return next;
  }

  async release(): Promise<void> {
    this.released = true;
    clearInterval(this.timer);
    await this.saving;
    await unlink(markerPath(this.plan)).catch(() => undefined);
  }
}
