// personal-cloud-agent: the first-boot agent (run by personal-cloud-agent.service).
//   run            reconcile until stopped (systemd)
//   once           one reconcile pass, then print status (tests, debugging); exit 0 if converged
//   status [--json] ask the running agent (authenticated, local) for its status
//   vm …, node drain|resume   the HA cluster's VMs, as `personal-cloud vm|node` on the admin machine
import { join } from 'node:path';
import { AGENT_SCRIPT_PATH, CLI_WRAPPER } from '../core/paths.js';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UserError } from '../core/errors.js';
import { Agent } from './agent.js';
import { call } from '../core/channel.js';
import { ConfigError, loadAgentConfig } from '../core/agent-config.js';
import { agentEnv } from './env.js';
import { readText, writeDurable } from './fsx.js';
import { log } from './log.js';
import { formatStatus } from '../core/status-format.js';
import type { HaStatus } from '../core/ha-status.js';
import { formatHa } from '../core/ha-format.js';
import type { NodeStatus, StatusReport } from '../core/status-types.js';
import { backupPassphrase } from '../core/backup.js';
import { BACKUP_OPTIONS, formatBackupStatus, type BackupStatus, backupHelp, backupRequest, restoreHelp, restoreRequest, runBackup } from '../core/backup-cli.js';
import { backupRunCli } from './backup/run-cli.js';
import { cliWrapper, nodeHelp, nodeRequest, runNode, runVm, TARGET_HELP, TARGET_OPTIONS, VM_OPTIONS, vmHelp, vmRequest, type AgentTarget } from '../core/vm-cli.js';

const HELP = `Usage: personal-cloud-agent <command>

Commands:
  run              reconcile this node until stopped (what personal-cloud-agent.service runs)
  once             run one reconcile pass and print the status; exit 0 when converged
  status [--json] [--recent]
                   show this node's status (members, steps, volumes, degradations, last error);
                   exit 0 only when converged and nothing is degraded; --recent: heal counts of
                   the agent's last background check instead of fresh ones (what the web console polls)
  vm ACTION ...    create, list, start, stop, migrate, remove VMs of the HA cluster (vm --help)
  node drain|resume NAME   move every VM off a node for maintenance, and back (node --help)
  backup ACTION ...        back up VMs now, list archives, verify, status (backup --help)
  restore VM [--at A] [--as NEW]   restore a VM from a backup (restore --help)
  backup-run [--scheduled] [--json] [VM...]
                   the backup runner (the agent and the systemd timer start it); --scheduled:
                   only on the node chosen to run the schedule (the first online Pacemaker node)

Configuration: /etc/personal-cloud/{cluster.json,node.json,join.key}; state: /var/lib/personal-cloud/.
Environment: PERSONAL_CLOUD_CONFIG_DIR, PERSONAL_CLOUD_STATE_DIR, PERSONAL_CLOUD_PORT, PERSONAL_CLOUD_DEBUG=1.
`;

/** `recent`: the last pass's status with the background heal counts (no fresh heal info: cheap enough to poll). */
async function status(json: boolean, recent: boolean): Promise<number> {
  const env = agentEnv();
  const cfg = await loadAgentConfig(env.configDir);
  let s: NodeStatus;
  let unanswered: string | undefined;
  try {
    s = (await call<NodeStatus>(cfg.key, cfg.node.name, '127.0.0.1', env.port, 'status', { heal: !recent }, 60_000)).data;
  } catch (e) {
    const snap = await readText(join(env.stateDir, 'status.json'));
    if (!snap) { process.stderr.write(`personal-cloud-agent status: the agent is not answering (${(e as Error).message}) and has left no status yet\n`); return 1; }
    s = JSON.parse(snap);
    unanswered = (e as Error).message;
  }
  // corosync quorum, Pacemaker resources and where each VM runs, as this node's agent sees them
  const ha = cfg.plan.ha?.enabled && !unanswered
    ? await call<HaStatus>(cfg.key, cfg.node.name, '127.0.0.1', env.port, 'ha-status', null, 30_000).then((r) => r.data, (e: Error) => e)
    : undefined;
  // the last backup of each VM: a failed or missed one is a problem like a degraded volume
  const backup = cfg.plan.backup && cfg.plan.ha?.enabled && !unanswered
    ? await call<BackupStatus>(cfg.key, cfg.node.name, '127.0.0.1', env.port, 'backup', { action: 'status' }, 30_000).then((r) => r.data, (e: Error) => e)
    : undefined;
  const backupBad = backup instanceof Error || Boolean(backup?.vms.some((v) => v.state !== 'ok'));
  if (json) {
    const report: StatusReport = { ...s, ...(unanswered ? { unanswered } : {}), ...(ha ? { ha: ha instanceof Error ? { error: ha.message } : ha } : {}) };
    process.stdout.write(`${JSON.stringify(backup ? { ...report, backup: backup instanceof Error ? { error: backup.message } : backup } : report, null, 2)}\n`);
  } else {
    process.stdout.write((unanswered ? `(agent not answering: ${unanswered}; last saved status)\n` : '') + formatStatus(s));
    if (ha) process.stdout.write(ha instanceof Error ? `  HA: no answer (${ha.message})\n` : formatHa(ha));
    if (backup) process.stdout.write(backup instanceof Error ? `  backups: no answer (${backup.message})\n` : formatBackupStatus(backup).replace(/^/gm, '  '));
  }
  // converged is not healthy: a degraded cluster (brick offline, heal pending, a brick coming back) is not a success
  return s.converged && !s.health?.degraded.length && !backupBad ? 0 : 3;
}

const PROG = 'personal-cloud';
const REACHING = `${TARGET_HELP}
The key is this node's join key (${'$'}PERSONAL_CLOUD_CONFIG_DIR, default /etc/personal-cloud); run as root.`;

type NodeValues = Record<string, string | boolean | string[] | undefined>;

/** A cluster command's options on a node, parsed as the admin machine's CLI parses them (null once --help is printed). */
function nodeArgs(cmd: string, argv: string[], options: NonNullable<ParseArgsConfig['options']>, help: string) {
  let args;
  try {
    args = parseArgs({ args: argv, options: { ...TARGET_OPTIONS, ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UserError(`${cmd}: ${(e as Error).message.replace(/^.*?: /, '')}\nRun \`${PROG} ${cmd} --help\` for usage.`, 2);
  }
  const v = args.values as NodeValues;
  if (v.help) { process.stdout.write(help); return null; }
  const run = { via: v.via as string | undefined, port: (v.port as string | undefined) ?? String(agentEnv().port), json: Boolean(v.json) };
  return { positionals: args.positionals, v, run };
}

/** This node's configuration, and the requests it sends signed with its join key (after the request itself checked out). */
async function nodeTarget() {
  const cfg = await loadAgentConfig(agentEnv().configDir);
  const target: AgentTarget = { key: cfg.key, from: cfg.node.name, plan: cfg.plan, local: cfg.node.name };
  return { cfg, target };
}

/** `vm` and `node` on a node: the same requests as the admin machine's CLI. */
async function cluster(cmd: 'vm' | 'node', argv: string[]): Promise<number> {
  const a = nodeArgs(cmd, argv, cmd === 'vm' ? VM_OPTIONS : {}, cmd === 'vm' ? vmHelp(PROG, REACHING) : nodeHelp(PROG, REACHING));
  if (!a) return 0;
  const vmReq = cmd === 'vm' ? vmRequest(PROG, a.positionals, a.v) : null;
  if (!vmReq) nodeRequest(PROG, a.positionals);
  const { cfg, target } = await nodeTarget();
  if (vmReq) await runVm(target, vmReq, a.run);
  else await runNode(target, nodeRequest(PROG, a.positionals, cfg.plan), a.run);
  return 0;
}

/** `backup` and `restore` on a node: the same requests as the admin machine's CLI. */
async function backups(cmd: 'backup' | 'restore', argv: string[]): Promise<number> {
  const a = nodeArgs(cmd, argv, cmd === 'restore' ? BACKUP_OPTIONS : {}, cmd === 'backup' ? backupHelp(PROG, REACHING) : restoreHelp(PROG, REACHING));
  if (!a) return 0;
  const req = cmd === 'backup' ? backupRequest(PROG, a.positionals) : restoreRequest(PROG, a.positionals, a.v as { at?: string; as?: string; 'op-timeout'?: string });
  const { cfg, target } = await nodeTarget();
  if (req === 'passphrase') {
    if (!cfg.plan.backup) throw new UserError('backups are not configured (no backup: section in cluster.yaml)', 2);
    process.stdout.write(`${backupPassphrase(cfg.key, cfg.plan.cluster.name)}\n`);
    return 0;
  }
  return runBackup(target, req, a.run);
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'vm' || cmd === 'node') return cluster(cmd, rest);
  if (cmd === 'backup' || cmd === 'restore') return backups(cmd, rest);
  if (cmd === 'backup-run') return backupRunCli(rest);
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') { process.stdout.write(HELP); return cmd ? 0 : 2; }
  if (cmd === 'status') return status(rest.includes('--json'), rest.includes('--recent'));
  if (cmd !== 'run' && cmd !== 'once') { process.stderr.write(`personal-cloud-agent: unknown command "${cmd}"\n${HELP}`); return 2; }
  const agent = new Agent(agentEnv());
  await agent.init();
  await agent.startNetwork();
  if (cmd === 'once') {
    const ok = await agent.once();
    process.stdout.write(formatStatus(await agent.status()));
    agent.stop();
    return ok ? 0 : 3;
  }
  if (process.argv[1] === AGENT_SCRIPT_PATH && (await readText(CLI_WRAPPER)) !== cliWrapper(AGENT_SCRIPT_PATH)) {
    await writeDurable(CLI_WRAPPER, cliWrapper(AGENT_SCRIPT_PATH), 0o755).catch((e) => log.warn(`${CLI_WRAPPER}: ${(e as Error).message}`));
  }
  const stop = (sig: string) => { log.info(`${sig}: stopping`); agent.stop(); };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await agent.runForever();
  return 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
  if (e instanceof UserError) { process.stderr.write(`${PROG}: ${e.message}\n`); process.exit(e.exitCode); }
  if (e instanceof ConfigError) log.error(e.message);
  else log.error(`fatal: ${(e as Error).stack ?? e}`);
  process.exit(e instanceof ConfigError ? 78 : 1); // 78 = EX_CONFIG: systemd's RestartPreventExitStatus
});
