// `personal-cloud node drain|resume NAME`: maintenance. Drain puts the node in Pacemaker
// standby, which live-migrates every VM off it; resume lets it run VMs again (they stay put).
import type { Command } from './command.js';
import { parseCommandArgs } from './command.js';
import { EXIT } from '../../core/errors.js';
import { nodeHelp, nodeRequest, runNode } from '../../core/vm-cli.js';
import { resolveTarget, TARGET_HELP, TARGET_OPTIONS } from './vm.js';

export const nodeCommand: Command = {
  name: 'node',
  summary: 'drain a node for maintenance (live-migrates its VMs away) and resume it',
  help: nodeHelp('personal-cloud', TARGET_HELP),
  async run(argv) {
    const args = parseCommandArgs(nodeCommand, argv, { ...TARGET_OPTIONS });
    if (!args) return EXIT.ok;
    nodeRequest('personal-cloud', args.positionals);
    const t = await resolveTarget(args.values);
    await runNode(t, nodeRequest('personal-cloud', args.positionals, t.plan), args.values);
    return EXIT.ok;
  },
};
