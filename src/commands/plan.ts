import type { Command } from './command.js';
import { parseCommandArgs, writeJson } from './command.js';
import { EXIT, UserError } from '../../core/errors.js';
import { loadConfig } from '../config/load.js';
import { formatIssue } from '../config/validate.js';
import { describeSelector } from '../config/size.js';
import { plan as makePlan } from '../plan/plan.js';
import type { NodePlan, Plan } from '../../core/plan-types.js';
import { requireNode } from '../../core/plan-nodes.js';

const help = `Usage: personal-cloud plan [FILE] [--node NAME] [--json]

Shows what FILE (default ./cluster.yaml) will make: every node with its address, OS disk and
bricks, and every volume with its replica sets. Nothing is built or written.

Options:
  --node NAME  only this node
  --json       the normalized plan as JSON (with --node, that node's entry); it never
               contains the cluster secret. Nodes get only its agent part as cluster.json
               (no users, password hashes, packages or install settings)
  -h, --help   show this help
`;

function address(n: NodePlan): string {
  if (n.network.dhcp) return 'dhcp';
  const gw = n.network.gateway ? ` via ${n.network.gateway}` : '';
  const dns = n.network.dns.length ? `, dns ${n.network.dns.join(' ')}` : '';
  return `${n.network.address}/${n.network.prefix}${gw}${dns}`;
}

function describeNode(n: NodePlan): string[] {
  const lines = [`  ${n.fqdn}${n.arbiter ? ' (arbiter)' : ''}`, `    address  ${address(n)}${n.mac ? `, mac ${n.mac}` : ''}`, `    os disk  ${describeSelector(n.osDisk)}`];
  for (const b of n.bricks) {
    const disk = b.arbiter ? 'folder on the OS disk (arbiter: metadata only)' : `${describeSelector(b.disk)}, ${b.layout}${b.layout === 'lvm-thin' ? ` (vg ${b.vg})` : ''}`;
    lines.push(`    ${b.volume} brick${b.index}  ${b.path}  on ${disk}`);
  }
  return lines;
}

function describePlan(p: Plan, only?: string): string {
  const c = p.cluster;
  const lines = [
    `cluster ${c.name} (${c.domain}): Debian ${c.releaseVersion} ${c.release}, replica ${c.replica}, ${p.nodes.length} nodes, key id ${c.keyId}`,
    `mirror ${c.mirror.url}${c.mirror.proxy ? ` via proxy ${c.mirror.proxy}` : ''}; time zone ${c.timezone}; users ${p.users.map((u) => u.name).join(', ')}${p.root.passwordHash ? ', root' : ' (root login disabled)'}`,
    '',
    'nodes:',
  ];
  for (const n of p.nodes) if (!only || n.name === only) lines.push(...describeNode(n));
  lines.push('', 'volumes:');
  for (const v of p.volumes) {
    if (v.kind === 'local') {
      lines.push(`  ${v.name}  local XFS on each node, mounted at ${v.mountPoint}`);
      continue;
    }
    const layout = v.arbiterCount ? `replica ${v.replica} arbiter ${v.arbiterCount}` : `replica ${v.replica}`;
    lines.push(`  ${v.name}  ${layout}, ${v.bricks.length / v.replica} replica set(s), mounted at ${v.mountPoint}`);
    for (let s = 0; s < v.bricks.length; s += v.replica) {
      const set = v.bricks.slice(s, s + v.replica);
      if (only && !set.some((b) => b.node === only)) continue;
      lines.push(`    set ${s / v.replica + 1}: ${set.map((b) => `${b.node}:${b.path}${b.arbiter ? ' (arbiter)' : ''}`).join('  ')}`);
    }
  }
  if (!p.volumes.length) lines.push('  (none)');
  return `${lines.join('\n')}\n`;
}

export const planCommand: Command = {
  name: 'plan',
  summary: 'show the nodes, disks and volumes a cluster.yaml will produce',
  help,
  async run(argv) {
    const args = parseCommandArgs(planCommand, argv, { node: { type: 'string' }, json: { type: 'boolean' } });
    if (!args) return EXIT.ok;
    if (args.positionals.length > 1) throw new UserError(`plan: one FILE at a time (got ${args.positionals.length})\nRun \`personal-cloud plan --help\` for usage.`, EXIT.usage);
    const file = args.positionals[0] ?? 'cluster.yaml';
    const { config, warnings } = await loadConfig(file);
    for (const w of warnings) process.stderr.write(`${formatIssue(w, 'warning')}\n`);
    const p = makePlan(config);
    const only = args.values.node;
    const node = only === undefined ? undefined : requireNode(p, only, 'plan', file);
    if (args.values.json) writeJson(node ?? p);
    else process.stdout.write(describePlan(p, only));
    return EXIT.ok;
  },
};
