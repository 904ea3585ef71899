// `personal-cloud status --config cluster.yaml [--json]`: asks every node's agent for its
// status over the authenticated channel (HMAC with the join key derived from the secret in
// cluster.yaml; the secret itself is never sent).
import type { Command } from './command.js';
import { parseCommandArgs, writeJson } from './command.js';
import { loadConfig } from '../config/load.js';
import { deriveJoinKey } from '../plan/keys.js';
import { plan as makePlan } from '../plan/plan.js';
import { EXIT, UserError } from '../../core/errors.js';
import { requireNode } from '../../core/plan-nodes.js';
import { call, CallError } from '../../core/channel.js';
import { AGENT_PORT } from '../../core/paths.js';
import { formatStatus } from '../../core/status-format.js';
import type { NodeStatus } from '../../core/status-types.js';
import type { HaStatus } from '../../core/ha-status.js';
import { formatHa } from '../../core/ha-format.js';
import { formatBackupStatus, type BackupStatus } from '../../core/backup-cli.js';

const HELP = `Usage: personal-cloud status --config cluster.yaml [--json] [--node NAME] [--port N] [--timeout SECONDS]

Asks each node's agent (HTTP on port ${AGENT_PORT}, every request and answer authenticated with
the join key derived from the cluster secret) for its members, steps, volumes (heal counts),
degradations (offline bricks, rejected or disconnected peers, pending heals, bricks holding
fewer entries than their replicas) and last error. Nodes with DHCP addresses are reached by name (NAME.DOMAIN).

Options:
  -c, --config FILE   the cluster description (needs its secret)
      --json          print [{node, address, ok, status | error}] as JSON
      --node NAME     ask only this node
      --port N        agent port (default ${AGENT_PORT})
      --timeout S     per-node timeout in seconds (default 20)

Exit status: 0 when every node answered, is converged and reports nothing degraded, 1 otherwise.
`;

export interface NodeAnswer { node: string; address: string; ok: boolean; status?: NodeStatus; ha?: HaStatus; error?: string }

export async function askNodes(configPath: string, opts: { node?: string; port?: number; timeoutMs?: number } = {}): Promise<NodeAnswer[]> {
  const { config } = await loadConfig(configPath);
  const p = makePlan(config);
  const key = deriveJoinKey(config.secret, config.name);
  const nodes = opts.node ? [requireNode(p, opts.node, 'status', configPath)] : p.nodes;
  return Promise.all(nodes.map(async (n): Promise<NodeAnswer> => {
    const address = n.network.dhcp ? n.fqdn : n.network.address;
    try {
      const r = await call<NodeStatus>(key, 'admin', address, opts.port ?? AGENT_PORT, 'status', { heal: true }, opts.timeoutMs ?? 20_000);
      if (r.node !== n.name) return { node: n.name, address, ok: false, error: `answered as ${r.node}` };
      // corosync quorum, Pacemaker resources, where each VM runs (agents without HA lack the operation)
      const ha = p.ha?.enabled ? await call<HaStatus>(key, 'admin', address, opts.port ?? AGENT_PORT, 'ha-status', null, opts.timeoutMs ?? 20_000).then((x) => x.data, () => undefined) : undefined;
      return { node: n.name, address, ok: true, status: r.data, ...(ha ? { ha } : {}) };
    } catch (e) {
      return { node: n.name, address, ok: false, error: e instanceof CallError ? e.message : String(e) };
    }
  }));
}

export { formatHa };

/** The cluster's backups (one record on gv0), asked of the first node that answered. */
async function backupOfCluster(configPath: string, answers: NodeAnswer[], port: number | undefined, timeoutMs: number): Promise<BackupStatus | Error | undefined> {
  const { config } = await loadConfig(configPath);
  if (!config.backup || !config.ha?.enabled) return undefined;
  const a = answers.find((x) => x.ok);
  if (!a) return new Error('no node answered');
  return call<BackupStatus>(deriveJoinKey(config.secret, config.name), 'admin', a.address, port ?? AGENT_PORT, 'backup', { action: 'status' }, timeoutMs).then((x) => x.data, (e: Error) => e);
}

export const statusCommand: Command = {
  name: 'status',
  summary: 'ask the nodes\' agents how the cluster is doing',
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs(statusCommand, argv, {
      config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, node: { type: 'string' }, port: { type: 'string' }, timeout: { type: 'string' },
    }, false);
    if (!args) return EXIT.ok;
    const v = args.values;
    if (!v.config) throw new UserError('status: --config FILE is required\nRun `personal-cloud status --help` for usage.', EXIT.usage);
    const port = v.port === undefined ? undefined : Number(v.port);
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new UserError(`status: --port must be 1-65535, got "${v.port}"`, EXIT.usage);
    const timeout = v.timeout === undefined ? 20 : Number(v.timeout);
    if (!(timeout > 0)) throw new UserError(`status: --timeout must be a positive number of seconds, got "${v.timeout}"`, EXIT.usage);
    const answers = await askNodes(v.config, { ...(v.node ? { node: v.node } : {}), ...(port ? { port } : {}), timeoutMs: timeout * 1000 });
    const backup = await backupOfCluster(v.config, answers, port, timeout * 1000);
    if (v.json) writeJson(backup ? [...answers, { backup: backup instanceof Error ? { error: backup.message } : backup }] : answers);
    else {
      for (const a of answers) process.stdout.write(a.ok ? formatStatus(a.status!) + (a.ha ? formatHa(a.ha) : '') : `${a.node} (${a.address}): NOT ANSWERING — ${a.error}\n`);
      if (backup) process.stdout.write(backup instanceof Error ? `backups: no answer (${backup.message})\n` : formatBackupStatus(backup));
    }
    // a failed or missed backup is a problem of the cluster like a degraded volume
    const backupOk = !backup || (!(backup instanceof Error) && backup.vms.every((x) => x.state === 'ok'));
    return backupOk && answers.every((a) => a.ok && a.status!.converged && !a.status!.health?.degraded.length) ? EXIT.ok : EXIT.failure;
  },
};
