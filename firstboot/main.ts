// personal-cloud-agent: the first-boot agent (run by personal-cloud-agent.service).
//   run            reconcile until stopped (systemd)
//   once           one reconcile pass, then print status (tests, debugging); exit 0 if converged
//   status [--json] ask the running agent (authenticated, local) for its status
import { join } from 'node:path';
import { Agent } from './agent.js';
import { call } from './channel.js';
import { ConfigError, loadAgentConfig } from './config.js';
import { agentEnv } from './env.js';
import { readText } from './fsx.js';
import { log } from './log.js';
import { formatStatus } from './status-format.js';
import type { NodeStatus } from './status-types.js';

const HELP = `Usage: personal-cloud-agent <command>

Commands:
  run              reconcile this node until stopped (what personal-cloud-agent.service runs)
  once             run one reconcile pass and print the status; exit 0 when converged
  status [--json]  show this node's status (members, steps, volumes, last error)

Configuration: /etc/personal-cloud/{cluster.json,node.json,join.key}; state: /var/lib/personal-cloud/.
Environment: PERSONAL_CLOUD_CONFIG_DIR, PERSONAL_CLOUD_STATE_DIR, PERSONAL_CLOUD_PORT, PERSONAL_CLOUD_DEBUG=1.
`;

async function status(json: boolean): Promise<number> {
  const env = agentEnv();
  const cfg = await loadAgentConfig(env.configDir);
  let s: NodeStatus;
  let note = '';
  try {
    s = (await call<NodeStatus>(cfg.key, cfg.node.name, '127.0.0.1', env.port, 'status', { heal: true }, 60_000)).data;
  } catch (e) {
    const snap = await readText(join(env.stateDir, 'status.json'));
    if (!snap) { process.stderr.write(`personal-cloud-agent status: the agent is not answering (${(e as Error).message}) and has left no status yet\n`); return 1; }
    s = JSON.parse(snap);
    note = `(agent not answering: ${(e as Error).message}; last saved status)\n`;
  }
  if (json) process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
  else process.stdout.write(note + formatStatus(s));
  return s.converged ? 0 : 3;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') { process.stdout.write(HELP); return cmd ? 0 : 2; }
  if (cmd === 'status') return status(rest.includes('--json'));
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
  const stop = (sig: string) => { log.info(`${sig}: stopping`); agent.stop(); };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await agent.runForever();
  return 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
  if (e instanceof ConfigError) log.error(e.message);
  else log.error(`fatal: ${(e as Error).stack ?? e}`);
  process.exit(e instanceof ConfigError ? 78 : 1); // 78 = EX_CONFIG: systemd's RestartPreventExitStatus
});
