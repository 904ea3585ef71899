import { execa } from 'execa';
import { REPO_ROOT } from './installer-cache.js';

/** Runs the built CLI the way a user does; never throws on a non-zero exit. */
export async function cli(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}) {
  const r = await execa('node', [`${REPO_ROOT}/bin/personal-cloud.js`, ...args], { reject: false, env: opts.env, cwd: opts.cwd ?? REPO_ROOT });
  return { code: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}
