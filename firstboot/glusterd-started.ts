// What the glusterd we started last was started with (in /run: gone after a reboot, as is
// glusterd): the glusterd step tells from it whether glusterd must be restarted for management TLS.
import { readText, writeDurable } from './fsx.js';
import { glusterdPid, mtimeMs } from './service.js';
import { SECURE_ACCESS } from './tls.js';

const STARTED_WITH = '/run/personal-cloud/glusterd-started.json';

/** Remembers what the glusterd now starting was started with (every start of ours goes through this). */
export async function recordGlusterdStart(): Promise<void> {
  const pid = await glusterdPid();
  await writeDurable(STARTED_WITH, JSON.stringify({ pid, secure: (await mtimeMs(SECURE_ACCESS)) !== null }), 0o600);
}

export async function glusterdStartedWith(): Promise<{ pid?: number; secure?: boolean }> {
  return JSON.parse((await readText(STARTED_WITH)) ?? '{}') as { pid?: number; secure?: boolean };
}
