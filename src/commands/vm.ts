// `personal-cloud vm …`: VMs of the HA cluster, through any node's agent (authenticated
// channel). From the admin machine the key is derived from cluster.yaml's secret; on a node
// the agent's own files (/etc/personal-cloud: cluster.json + join.key) are used. The agent's
// own CLI (firstboot/main.ts) shares the requests and output (firstboot/virt/cli.ts).
import type { Command } from './command.js';
import { parseCommandArgs } from './command.js';
import { loadConfig } from '../config/load.js';
import { deriveJoinKey } from '../plan/keys.js';
import { plan as makePlan } from '../plan/plan.js';
import { EXIT, UserError } from '../../core/errors.js';
import { loadAgentConfig } from '../../core/agent-config.js';
import { AGENT_CONFIG_DIR } from '../../core/paths.js';
import { runVm, TARGET_HELP as CHANNEL_HELP, TARGET_OPTIONS as CHANNEL_OPTIONS, VM_OPTIONS, vmHelp, vmRequest, type AgentTarget } from '../../core/vm-cli.js';

export const TARGET_OPTIONS = { config: { type: 'string', short: 'c' }, 'agent-dir': { type: 'string' }, ...CHANNEL_OPTIONS } as const;

export const TARGET_HELP = `  -c, --config FILE    cluster.yaml (admin machine; the key is derived from its secret)
      --agent-dir DIR  on a node: the agent's files (default ${AGENT_CONFIG_DIR} when --config is absent)
${CHANNEL_HELP}`;

export async function resolveTarget(v: { config?: string; 'agent-dir'?: string }): Promise<AgentTarget> {
  if (v.config) {
    const { config } = await loadConfig(v.config);
    return { key: deriveJoinKey(config.secret, config.name), from: 'admin', plan: makePlan(config) };
  }
  const dir = v['agent-dir'] ?? AGENT_CONFIG_DIR;
  try {
    const c = await loadAgentConfig(dir);
    return { key: c.key, from: c.node.name, plan: c.plan, local: c.node.name };
  } catch (e) {
    throw new UserError(`no --config given and this is not a configured node (${(e as Error).message})`, EXIT.usage);
  }
}

export const vmCommand: Command = {
  name: 'vm',
  summary: 'create, list, start, stop, migrate and remove VMs of the HA cluster',
  help: vmHelp('personal-cloud', TARGET_HELP),
  async run(argv) {
    const args = parseCommandArgs(vmCommand, argv, { ...TARGET_OPTIONS, ...VM_OPTIONS });
    if (!args) return EXIT.ok;
    const req = vmRequest('personal-cloud', args.positionals, args.values);
    await runVm(await resolveTarget(args.values), req, args.values);
    return EXIT.ok;
  },
};
