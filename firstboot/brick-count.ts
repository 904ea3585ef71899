// Entries of a brick directory, for the replica completeness check (health.ts): the bricks of one
// replica set hold the same files and directories — shards under `.shard` included, arbiter
// bricks as empty files — so their counts agree when nothing is missing. `.glusterfs` (gfid
// links, indices) is Gluster's own bookkeeping and differs between bricks: left out.
import { opendir } from 'node:fs/promises';
import { join } from 'node:path';

/** Far above a home cluster's files; the walk stops there and the count is not compared. */
export const COUNT_BOUND = 2_000_000;

export async function countEntries(root: string, bound = COUNT_BOUND): Promise<{ entries: number; capped: boolean }> {
  let entries = 0;
  const dirs = [root];
  while (dirs.length) {
    const dir = dirs.pop()!;
    let handle;
    try {
      handle = await opendir(dir, { bufferSize: 512 });
    } catch (e) {
      // a directory removed while we walk is not missing from the brick
      if (dir !== root && (e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    for await (const e of handle) {
      if (dir === root && e.name === '.glusterfs') continue;
      if (++entries >= bound) return { entries, capped: true };
      if (e.isDirectory()) dirs.push(join(dir, e.name));
    }
  }
  return { entries, capped: false };
}
