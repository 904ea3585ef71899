import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** The download and base-tree cache of every command: PERSONAL_CLOUD_CACHE, else the XDG cache. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PERSONAL_CLOUD_CACHE) return resolve(env.PERSONAL_CLOUD_CACHE);
  if (env.XDG_CACHE_HOME) return resolve(env.XDG_CACHE_HOME, 'personal-cloud');
  return join(homedir(), '.cache', 'personal-cloud');
}
