// The Gluster CLI, parsed from its --xml output.
import { readdir, readFile, stat } from 'node:fs/promises';
import { run, type RunResult } from './exec.js';
import { blocks, text } from './xml.js';

export interface Peer { uuid: string; hostname: string; names: string[]; connected: boolean; state: string }
export interface VolumeBrick { name: string; host: string; path: string; arbiter: boolean }
export interface VolumeInfo {
  name: string;
  /** The volume's UUID: every brick directory of it carries it as trusted.glusterfs.volume-id. */
  id: string;
  started: boolean;
  /** Created and never started (status 0; a stopped volume is 2): it holds no data yet. */
  neverStarted: boolean;
  type: string;
  replica: number;
  arbiterCount: number;
  bricks: VolumeBrick[];
  options: Record<string, string>;
}

/**
 * The environment of our CLI calls. Every `gluster` run first asks `gsyncd --version` whether
 * geo-replication is installed (to offer its commands), and gsyncd starts Python for that: about
 * 0.16 s of CPU per call, over two thirds of its cost. gsyncd runs $PYTHON instead when set; /bin/false
 * answers nothing, so the CLI just leaves out the geo-replication commands, which we never use.
 */
export const GLUSTER_CLI_ENV = { PYTHON: '/bin/false' };

export async function gluster(args: string[], allowFail = false, timeoutMs = 120_000): Promise<RunResult> {
  return run('gluster', ['--mode=script', ...args], { allowFail, timeoutMs, env: GLUSTER_CLI_ENV });
}

function checkXml(r: RunResult, what: string): string {
  const ret = text(r.stdout, 'opRet');
  if (r.code !== 0 || (ret !== undefined && ret !== '0')) {
    throw new Error(`gluster ${what}: ${text(r.stdout, 'opErrstr') || r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`}`);
  }
  return r.stdout;
}

export async function peers(): Promise<Peer[]> {
  const xml = checkXml(await gluster(['peer', 'status', '--xml'], true, 30_000), 'peer status');
  return blocks(xml, 'peer').map((p) => ({
    uuid: text(p, 'uuid') ?? '',
    hostname: text(p, 'hostname') ?? '',
    names: blocks(p, 'hostname').map((h) => h.trim()),
    connected: text(p, 'connected') === '1',
    state: text(p, 'stateStr') ?? '',
  }));
}

export function parseVolumeInfo(xml: string): VolumeInfo[] {
  return blocks(xml, 'volume').map((v) => {
    const head = v.split('<bricks>')[0];
    const options: Record<string, string> = {};
    for (const o of blocks(v, 'option')) options[text(o, 'name') ?? ''] = text(o, 'value') ?? '';
    return {
      name: text(head, 'name') ?? '',
      id: text(head, 'id') ?? '',
      started: text(head, 'status') === '1',
      neverStarted: text(head, 'status') === '0',
      type: text(head, 'typeStr') ?? '',
      replica: Number(text(head, 'replicaCount') ?? 1),
      arbiterCount: Number(text(head, 'arbiterCount') ?? 0),
      bricks: blocks(v, 'brick').map((b) => {
        const name = text(b, 'name') ?? '';
        const i = name.indexOf(':');
        return { name, host: name.slice(0, i), path: name.slice(i + 1), arbiter: text(b, 'isArbiter') === '1' };
      }),
      options,
    };
  });
}

const VOL_STORE = '/var/lib/glusterd/vols';

/**
 * A token that changes whenever glusterd stores a change to any volume: it rewrites a volume's
 * `info` file for every create, option, brick and start/stop. Null when the store cannot be read.
 */
async function volumeStoreToken(): Promise<string | null> {
  try {
    const names = (await readdir(VOL_STORE)).sort();
    const parts = await Promise.all(names.map(async (n) => { const st = await stat(`${VOL_STORE}/${n}/info`); return `${n}:${st.mtimeMs}:${st.size}`; }));
    return parts.join('|');
  } catch { return null; }
}

// every pass asks; the CLI costs a process and a TLS handshake with glusterd, the store a few stats
let lastVolumes: { token: string; vols: VolumeInfo[] } | null = null;

export async function volumes(): Promise<VolumeInfo[]> {
  const token = await volumeStoreToken();
  if (token !== null && lastVolumes?.token === token) return lastVolumes.vols;
  const r = await gluster(['volume', 'info', 'all', '--xml'], true, 30_000);
  // "No volumes present" is an error for --xml in some versions
  const vols = /No volumes present/i.test(r.stdout + r.stderr) ? [] : parseVolumeInfo(checkXml(r, 'volume info'));
  lastVolumes = token === null ? null : { token, vols };
  return vols;
}

/** One volume as `gluster volume info NAME` shows it, or undefined when it does not exist. */
const BOOL: Record<string, string> = { on: 'on', enable: 'on', yes: 'on', true: 'on', '1': 'on', off: 'off', disable: 'off', no: 'off', false: 'off', '0': 'off' };
/** An option value as glusterd compares it: its many spellings of on and off made one. */
export const normOption = (v: string) => BOOL[v.toLowerCase()] ?? v;

/**
 * What a volume's options are when nobody set them, from `volume get VOL all --xml`: every key it
 * reports except those set on the volume (`set`, its reconfigured options, read at the same time).
 */
export function parseVolumeDefaults(xml: string, set: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const o of blocks(xml, 'Opt')) {
    const key = text(o, 'Option');
    if (key && !(key in set)) out[key] = (text(o, 'Value') ?? '').replace(/\s*\(DEFAULT\)$/, '');
  }
  return out;
}

/** A volume's unset options as this glusterd says; setting a key to the value it has costs a volfile rebuild on every peer. */
export async function volumeDefaults(name: string, set: Record<string, string>): Promise<Record<string, string>> {
  return parseVolumeDefaults(checkXml(await gluster(['volume', 'get', name, 'all', '--xml'], true, 30_000), `volume get ${name}`), set);
}

export interface HealBrick { brick: string; connected: boolean; entries: number }

export async function healInfo(volume: string): Promise<HealBrick[]> {
  const r = await gluster(['volume', 'heal', volume, 'info', 'summary', '--xml'], true, 30_000);
  const xml = checkXml(r, `volume heal ${volume} info summary`);
  return blocks(xml, 'brick').map((b) => {
    const entries = Number(text(b, 'totalNumberOfEntries') ?? text(b, 'numberOfEntries') ?? 'NaN');
    return {
      brick: text(b, 'name') ?? '',
      connected: text(b, 'status') === 'Connected',
      entries: Number.isFinite(entries) ? entries : -1,
    };
  });
}

export async function localUuid(): Promise<string | undefined> {
  try {
    const t = await readFile('/var/lib/glusterd/glusterd.info', 'utf8');
    return /^UUID=(.+)$/m.exec(t)?.[1]?.trim();
  } catch { return undefined; }
}

/** A brick process as `volume status` lists it; its pid only while glusterd believes it runs. */
export interface BrickProcess { brick: string; online: boolean; pid?: number }

/** Whether each brick process runs, per volume, as `volume status … --xml` lists them (daemons left out). */
export function parseVolumeStatus(xml: string): Record<string, BrickProcess[]> {
  const out: Record<string, BrickProcess[]> = {};
  for (const v of blocks(xml, 'volume')) {
    const name = text(v, 'volName') ?? '';
    // self-heal daemons and the like are listed too, with a host name as their "path"
    out[name] = blocks(v, 'node').filter((n) => (text(n, 'path') ?? '').startsWith('/')).map((n) => {
      const online = text(n, 'status') === '1';
      const pid = Number(text(n, 'pid'));
      return { brick: `${text(n, 'hostname')}:${text(n, 'path')}`, online, ...(online && pid > 0 ? { pid } : {}) };
    });
  }
  return out;
}

/**
 * The brick processes of a started volume. glusterd lists the bricks of the peers it reaches; a
 * brick it leaves out is on a node it cannot reach. It takes the volume's lock in every glusterd
 * for a moment (a `volume set` at that instant fails with "Another transaction is in progress").
 */
export async function volumeStatus(volume: string): Promise<BrickProcess[]> {
  const xml = checkXml(await gluster(['volume', 'status', volume, '--xml'], true, 30_000), `volume status ${volume}`);
  return parseVolumeStatus(xml)[volume] ?? [];
}

/** The volume id a brick directory is marked with (dashed, as `volume info` shows it), null when unmarked. */
export async function brickVolumeId(path: string): Promise<string | null> {
  const r = await run('getfattr', ['--absolute-names', '-e', 'hex', '-n', 'trusted.glusterfs.volume-id', path], { allowFail: true });
  // unmarked is "No such attribute"; anything else (an I/O error of a dying disk) is no answer
  if (r.code !== 0 && !/No such attribute/i.test(r.stderr)) throw new Error(`reading the volume id of ${path}: ${r.stderr.trim() || `exit ${r.code}`}`);
  const hex = /^trusted\.glusterfs\.volume-id=0x([0-9a-f]{32})$/im.exec(r.stdout)?.[1];
  return hex ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`.toLowerCase() : null;
}
