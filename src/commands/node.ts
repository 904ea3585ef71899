// `personal-cloud node drain|resume NAME`: maintenance. Drain puts the node in Pacemaker
// standby, which live-migrates every VM off it; resume lets it run VMs again (they stay put).
// `node remove NAME…` retires nodes for good (node-remove.ts).
import type { Command } from './command.js';
import { parseCommandArgs } from './command.js';
import { EXIT } from '../../core/errors.js';
import { nodeHelp, nodeRequest, runNode } from '../../core/vm-cli.js';
import { resolveTarget, TARGET_HELP, TARGET_OPTIONS } from './vm.js';
import { NODE_REMOVE_HELP, NODE_REMOVE_OPTIONS, runNodeRemove } from './node-remove.js';

export const nodeCommand: Command = {
  name: 'node',
  summary: 'drain a node for maintenance (live-migrates its VMs away) and resume it; remove nodes for good',
  help: nodeHelp('personal-cloud', TARGET_HELP).replace('node <drain|resume> NAME', 'node <drain|resume> NAME | node remove NAME...').replace('\nReaching the cluster:', `${NODE_REMOVE_HELP}\nReaching the cluster:`),
  async run(argv) {
    const args = parseCommandArgs(nodeCommand, argv, { ...TARGET_OPTIONS, ...NODE_REMOVE_OPTIONS });
    if (!args) return EXIT.ok;
    if (args.positionals[0] === 'remove') return runNodeRemove(args.positionals.slice(1), args.values);
    nodeRequest('personal-cloud', args.positionals);
    const t = await resolveTarget(args.values);
    await runNode(t, nodeRequest('personal-cloud', args.positionals, t.plan), args.values);
    return EXIT.ok;
  },
};
