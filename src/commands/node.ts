// `personal-cloud node drain|resume NAME`: maintenance. Drain puts the node in Pacemaker
// standby, which live-migrates every VM off it; resume lets it run VMs again (they stay put).
import type { Command } from './command.js';
import { parseCommandArgs, writeJson } from './command.js';
import { EXIT, UserError } from '../util/errors.js';
import { callCluster, parsePort, resolveTarget, TARGET_HELP, TARGET_OPTIONS } from './vm.js';

const HELP = `Usage: personal-cloud node <drain|resume> NAME [OPTIONS]

  node drain NAME    live-migrate every VM off NAME and keep new ones away (maintenance)
  node resume NAME   NAME may run VMs again (running VMs are not moved back)

${TARGET_HELP}
`;

export const nodeCommand: Command = {
  name: 'node',
  summary: 'drain a node for maintenance (live-migrates its VMs away) and resume it',
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs(nodeCommand, argv, { ...TARGET_OPTIONS });
    if (!args) return EXIT.ok;
    const [action, name] = args.positionals;
    if ((action !== 'drain' && action !== 'resume') || args.positionals.length !== 2) {
      throw new UserError('node: usage: personal-cloud node <drain|resume> NAME\nRun `personal-cloud node --help` for usage.', EXIT.usage);
    }
    const v = args.values;
    const t = await resolveTarget(v);
    if (!t.plan.nodes.some((n) => n.name === name)) throw new UserError(`node ${action}: no node named ${name} (nodes: ${t.plan.nodes.map((n) => n.name).join(', ')})`, EXIT.usage);
    const r = await callCluster<{ node: string; standby: boolean; vmsOnNode: string[] }>(t, 'node', { action, node: name }, {
      ...(v.via ? { via: v.via } : {}), ...(v.port ? { port: parsePort(v.port) } : {}), timeoutMs: 330_000,
    });
    if (v.json) writeJson(r.data);
    else process.stdout.write(action === 'drain' ? `${name} drained: no VM runs there (standby)\n` : `${name} resumed: it may run VMs again\n`);
    return EXIT.ok;
  },
};
