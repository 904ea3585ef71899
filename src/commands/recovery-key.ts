// `personal-cloud recovery-key --config cluster.yaml --node N [--disk D]`: a brick's recovery
// passphrase, for opening it by hand with cryptsetup. The node keeps only the passphrase sealed
// to the cluster's recovery public key (core/recovery-key.ts); this command fetches the sealed
// blobs over the authenticated channel and opens them here, with the private key derived from
// the secret in cluster.yaml. Nothing secret crosses the wire or is stored on the node in clear.
import type { Command } from './command.js';
import { parseCommandArgs, writeJson } from './command.js';
import { loadConfig } from '../config/load.js';
import { deriveJoinKey } from '../plan/keys.js';
import { plan as makePlan } from '../plan/plan.js';
import { EXIT, UserError } from '../../core/errors.js';
import { requireNode } from '../../core/plan-nodes.js';
import { call, CallError } from '../../core/channel.js';
import { AGENT_PORT } from '../../core/paths.js';
import { openRecoveryKey, recoveryKeyPair, type SealedRecoveryKey } from '../../core/recovery-key.js';

const HELP = `Usage: personal-cloud recovery-key --config cluster.yaml --node NAME [--disk BRICK] [--json] [--port N] [--timeout SECONDS]

Prints the recovery passphrase of each encrypted brick of NODE (or of one brick: its mount point,
e.g. /data/glusterfs/gv0/brick1, or its short name, e.g. gv0b1). Open a brick with it by hand:
  cryptsetup open /dev/disk/by-id/… gv0b1     (type the passphrase)

The node holds each passphrase only sealed to a public key derived from the cluster secret; the
sealed blobs come over the agent channel and are opened here. Keep the output private.

Options:
  -c, --config FILE   the cluster description (needs its secret)
      --node NAME     the node whose bricks to unlock
      --disk BRICK    only this brick
      --json          print [{brick, passphrase}] as JSON
      --port N        agent port (default ${AGENT_PORT})
      --timeout S     timeout in seconds (default 20)
`;

export interface RecoveryAnswer { brick: string; passphrase: string }

const shortName = (brick: string) => /\/glusterfs\/(\w+)\/brick(\d+)$/.exec(brick)?.slice(1).join('b') ?? brick;

/** Fetches NODE's sealed recovery keys and opens them with the pair derived from the secret. */
export async function fetchRecoveryKeys(o: { secret: string; cluster: string; node: string; address: string; port: number; timeoutMs: number; disk?: string }): Promise<RecoveryAnswer[]> {
  const key = deriveJoinKey(o.secret, o.cluster);
  let r;
  try {
    r = await call<Record<string, SealedRecoveryKey>>(key, 'admin', o.address, o.port, 'recovery-keys', null, o.timeoutMs);
  } catch (e) {
    throw new UserError(`recovery-key: ${o.node} (${o.address}) did not answer: ${e instanceof CallError ? e.message : String(e)}`, EXIT.failure);
  }
  if (r.node !== o.node) throw new UserError(`recovery-key: ${o.address} answered as ${r.node}, not ${o.node}`, EXIT.failure);
  const pair = recoveryKeyPair(o.secret, o.cluster);
  const sealed = Object.values(r.data ?? {}).filter((s) => s.node === o.node && (!o.disk || s.brick === o.disk || shortName(s.brick) === o.disk));
  if (!sealed.length) {
    const have = Object.values(r.data ?? {}).map((s) => shortName(s.brick));
    throw new UserError(o.disk
      ? `recovery-key: ${o.node} has no encrypted brick ${o.disk} (it has: ${have.join(', ') || 'none'})`
      : `recovery-key: ${o.node} has no encrypted brick with a recovery key`, EXIT.failure);
  }
  return sealed.map((s) => {
    try { return { brick: s.brick, passphrase: openRecoveryKey(pair, s) }; } catch (e) { throw new UserError(`recovery-key: ${(e as Error).message}`, EXIT.failure); }
  });
}

export const recoveryKeyCommand: Command = {
  name: 'recovery-key',
  summary: 'print the recovery passphrase of a node\'s encrypted bricks',
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs(recoveryKeyCommand, argv, {
      config: { type: 'string', short: 'c' }, node: { type: 'string' }, disk: { type: 'string' }, json: { type: 'boolean' }, port: { type: 'string' }, timeout: { type: 'string' },
    }, false);
    if (!args) return EXIT.ok;
    const v = args.values;
    if (!v.config || !v.node) throw new UserError('recovery-key: --config FILE and --node NAME are required\nRun `personal-cloud recovery-key --help` for usage.', EXIT.usage);
    const port = v.port === undefined ? AGENT_PORT : Number(v.port);
    if (!(Number.isInteger(port) && port > 0 && port < 65536)) throw new UserError(`recovery-key: --port must be 1-65535, got "${v.port}"`, EXIT.usage);
    const timeout = v.timeout === undefined ? 20 : Number(v.timeout);
    if (!(timeout > 0)) throw new UserError(`recovery-key: --timeout must be a positive number of seconds, got "${v.timeout}"`, EXIT.usage);
    const { config } = await loadConfig(v.config);
    if (!config.encryption) throw new UserError(`recovery-key: ${v.config} has no encryption: section; its bricks are not encrypted`, EXIT.usage);
    const n = requireNode(makePlan(config), v.node, 'recovery-key', v.config);
    const keys = await fetchRecoveryKeys({
      secret: config.secret, cluster: config.name, node: n.name, address: n.network.dhcp ? n.fqdn : n.network.address, port, timeoutMs: timeout * 1000, ...(v.disk ? { disk: v.disk } : {}),
    });
    if (v.json) writeJson(keys);
    else for (const k of keys) process.stdout.write(`${n.name} ${k.brick} (${shortName(k.brick)}): ${k.passphrase}\n`);
    return EXIT.ok;
  },
};
