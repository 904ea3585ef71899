// Size and free space of a mounted volume, for status and the web console. `df` in a child
// process rather than statfs() in ours: a Gluster mount that lost its bricks can block a statfs
// for the whole ping-timeout, and a child can be killed where a stuck thread-pool call cannot.
import type { VolumeSpace } from '../core/status-types.js';
import { run } from './exec.js';

/** `df -B1 --output=size,avail` → bytes; null when its output is not that. */
export function parseDf(out: string): { size: number; free: number } | null {
  const m = /^\s*(\d+)\s+(\d+)\s*$/m.exec(out.split('\n').slice(1).join('\n'));
  return m ? { size: Number(m[1]), free: Number(m[2]) } : null;
}

export async function volumeSpace(mountPoint: string): Promise<VolumeSpace | null> {
  const r = await run('df', ['-B1', '--output=size,avail', mountPoint], { allowFail: true, timeoutMs: 5000 });
  const s = r.code === 0 ? parseDf(r.stdout) : null;
  return s ? { ...s, at: new Date().toISOString() } : null;
}
