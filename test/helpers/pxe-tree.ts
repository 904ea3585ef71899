import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readCpio } from '../../src/assemble/cpio-read.js';
import { cli } from './cli.js';
import { REPO_ROOT, SHARED_INSTALLER_CACHE } from './installer-cache.js';
import { waitFor } from '../harness/sh.js';

// What both PXE test files share: the fixtures, building a tree with the CLI (serial console and
// the installer's syslog on the 2nd serial port, as the QEMU tests need) and reading an initrd.

export const PXE_CONFIG = join(REPO_ROOT, 'test/fixtures/iso/cluster.yaml');
export const PXE_NETNS_CONFIG = join(REPO_ROOT, 'test/fixtures/pxe/cluster-netns.yaml');
export const CLI_BIN = join(REPO_ROOT, 'bin/personal-cloud.js');
export const PXE_EPOCH = '1750000000';

export interface PxeBuild { outputs: { file: string; target: string; sha256: string }[]; manifest: string; stderr: string }

export async function buildPxeTree(config: string, out: string, extra: string[] = []): Promise<PxeBuild> {
  const r = await cli(['build', 'pxe', '--config', config, '--out', out, '--cache', SHARED_INSTALLER_CACHE, '--console', 'serial', '--serial-log', '--json', ...extra], { env: { SOURCE_DATE_EPOCH: PXE_EPOCH } });
  if (r.code !== 0) throw new Error(`build pxe failed (${r.code}):\n${r.stderr}`);
  return { ...(JSON.parse(r.stdout) as Omit<PxeBuild, 'stderr'>), stderr: r.stderr };
}

export const readText = (...p: string[]) => readFile(join(...p), 'utf8');

/** Writes the files of the n-th (0-based) concatenated cpio archive of a gzip'd initrd to dir; lists its names. */
export async function extractMember(initrd: string, n: number, dir: string): Promise<string> {
  const records = readCpio(gunzipSync(await readFile(initrd))).filter((r) => r.archive === n);
  for (const r of records) {
    if ((r.mode & 0o170000) !== 0o100000) continue;
    await mkdir(dirname(join(dir, r.name)), { recursive: true });
    await writeFile(join(dir, r.name), r.data, { mode: r.mode & 0o777 });
  }
  return records.map((r) => r.name).join('\n');
}

/** Polls a growing text (a process's output) until it matches. */
export async function waitForText(get: () => string, re: RegExp, ms: number, what: string): Promise<RegExpMatchArray> {
  return waitFor(`${what} to print ${re}`, ms, async () => get().match(re), 250)
    .catch((e: Error) => { throw new Error(`${e.message}:\n${get().slice(-3000)}`); });
}
