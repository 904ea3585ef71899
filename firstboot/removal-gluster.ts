// The Gluster side of retiring nodes: what the safety check reads (brick status, running tasks)
// and the commands a removal issues (remove-brick start/status/commit, peer detach). Kept apart
// from steps/peers.ts and volumes.ts: only a recorded `node remove` runs these.
import { run } from './exec.js';
import { gluster, parseVolumeStatus as brickProcesses, type BrickProcess } from './gluster.js';
import { blocks, text } from './xml.js';

/** `volume status VOL --xml`: each brick online or not, and the tasks in progress (rebalance, remove-brick). */
export function parseVolumeStatus(xml: string, volume: string): { bricks: BrickProcess[]; tasks: string[] } {
  const tasks = blocks(xml, 'task').filter((t) => /in progress/i.test(text(t, 'statusStr') ?? '') || text(t, 'status') === '1')
    .map((t) => `${(text(t, 'type') ?? 'task').toLowerCase()} in progress`);
  return { bricks: brickProcesses(xml)[volume] ?? [], tasks };
}

export async function volumeStatus(volume: string): Promise<{ bricks: BrickProcess[]; tasks: string[] }> {
  const r = await gluster(['volume', 'status', volume, '--xml'], true, 60_000);
  if (r.code !== 0 || text(r.stdout, 'opRet') !== '0') throw new Error(`gluster volume status ${volume}: ${text(r.stdout, 'opErrstr') || r.stderr.trim() || `exit ${r.code}`}`);
  return parseVolumeStatus(r.stdout, volume);
}

export interface MigrationStatus { state: string; files: number; bytes: number; failures: number; skipped: number }

/** `volume remove-brick VOL BRICKS status --xml`: the aggregate over the nodes; null when none was started. */
export function parseRemoveBrickStatus(xml: string): MigrationStatus | null {
  const agg = blocks(xml, 'aggregate')[0];
  if (!agg) return null;
  const num = (k: string) => Number(text(agg, k) ?? 0) || 0;
  return { state: text(agg, 'statusStr') ?? '?', files: num('files'), bytes: num('size'), failures: num('failures'), skipped: num('skipped') };
}

export async function removeBrickStatus(volume: string, bricks: string[]): Promise<MigrationStatus | null> {
  const r = await gluster(['volume', 'remove-brick', volume, ...bricks, 'status', '--xml'], true, 60_000);
  if (r.code !== 0 || text(r.stdout, 'opRet') !== '0') return null;
  return parseRemoveBrickStatus(r.stdout);
}

export async function removeBrick(volume: string, bricks: string[], what: 'start' | 'stop' | 'commit'): Promise<void> {
  const r = await gluster(['volume', 'remove-brick', volume, ...bricks, what], true, 120_000);
  const out = (r.stderr || r.stdout).trim();
  if (r.code !== 0 && !(what === 'start' && /in progress/i.test(out))) throw new Error(`gluster volume remove-brick ${volume} ${bricks.join(' ')} ${what}: ${out}`);
}

export async function peerDetach(name: string): Promise<void> {
  const r = await gluster(['peer', 'detach', name], true, 120_000);
  const out = (r.stderr || r.stdout).trim();
  if (r.code !== 0 && !/not .*(friend|part of the cluster|in the cluster)|does not exist/i.test(out)) throw new Error(`gluster peer detach ${name}: ${out}`);
}

/** The bricks a file of a mounted volume lies on (`trusted.glusterfs.pathinfo`), as `host:brick-path`. */
export function parsePathinfo(info: string, bricks: string[]): string[] {
  return bricks.filter((b) => info.includes(`:${b}/`));
}

export async function fileBricks(file: string, bricks: string[]): Promise<string[]> {
  const r = await run('getfattr', ['-n', 'trusted.glusterfs.pathinfo', '--only-values', '--absolute-names', file], { allowFail: true, timeoutMs: 30_000 });
  return r.code === 0 ? parsePathinfo(r.stdout, bricks) : [];
}
