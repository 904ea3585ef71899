import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { loadAgentBundle } from '../assemble/payload.js';
import { loadConfig } from '../config/load.js';
import { formatIssue } from '../config/validate.js';
import { deriveJoinKey } from '../plan/keys.js';
import { plan as makePlan } from '../plan/plan.js';
import { agentFiles, type RenderedFile } from '../render/agent-files.js';
import { renderNodePreseed } from '../render/preseed.js';
import { EXIT, UserError } from '../../core/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { parseCommandArgs, writeJson, type Command } from './command.js';

const HELP = `Usage: personal-cloud render [--config FILE] (--node NAME | --all) --out DIR [--json]

Writes what the installer would put on a node, without building an image, as a tree under
DIR (or DIR/NODE with --all) laid out like the node's root filesystem:
  etc/personal-cloud/cluster.json, node.json, join.key (0600: the derived join key)
  usr/lib/personal-cloud/personal-cloud-agent.mjs, etc/systemd/system/personal-cloud-agent.service
  preseed.cfg (the node's installer answers, for reference)
Copy it onto any Debian machine (or point the agent at it with PERSONAL_CLOUD_CONFIG_DIR)
to run the first-boot agent from a cluster.yaml.
`;

export function nodeTree(files: RenderedFile[], agent: { script: Buffer; unit: Buffer }, preseed: string): RenderedFile[] {
  return [
    ...files,
    { path: '/usr/lib/personal-cloud/personal-cloud-agent.mjs', content: agent.script, mode: 0o755 },
    { path: '/etc/systemd/system/personal-cloud-agent.service', content: agent.unit, mode: 0o644 },
    { path: '/preseed.cfg', content: preseed, mode: 0o600 },
  ];
}

export const renderCommand: Command = {
  name: 'render',
  summary: "write a node's agent configuration and files without building an image",
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs(this, argv, {
      config: { type: 'string', short: 'c' },
      node: { type: 'string', short: 'n' },
      all: { type: 'boolean' },
      out: { type: 'string', short: 'o' },
      json: { type: 'boolean' },
    }, false);
    if (!args) return EXIT.ok;
    const v = args.values;
    if (!v.out) throw new UserError('render: --out DIR is required', EXIT.usage);
    if (Boolean(v.node) === Boolean(v.all)) throw new UserError('render: give --node NAME or --all', EXIT.usage);
    const configPath = resolve(v.config ?? 'cluster.yaml');
    const { config, warnings } = await loadConfig(configPath);
    for (const w of warnings) process.stderr.write(`warning: ${formatIssue(w)}\n`);
    const plan = makePlan(config);
    const names = v.all ? plan.nodes.map((n) => n.name) : [v.node!];
    for (const n of names) {
      if (!plan.nodes.some((p) => p.name === n)) throw new UserError(`render: no node named '${n}' in ${configPath} (nodes: ${plan.nodes.map((p) => p.name).join(', ')})`, EXIT.usage);
    }
    const agent = loadAgentBundle();
    const joinKey = deriveJoinKey(config.secret, config.name);
    const written: { node: string; path: string; mode: string }[] = [];
    for (const name of names) {
      const node = plan.nodes.find((p) => p.name === name)!;
      const root = resolve(v.all ? join(v.out, name) : v.out);
      for (const f of nodeTree(agentFiles(plan, name, joinKey), agent, renderNodePreseed(plan, node))) {
        const dest = join(root, f.path);
        await mkdir(dirname(dest), { recursive: true });
        await writeFileAtomic(dest, f.content, f.mode);
        written.push({ node: name, path: dest, mode: f.mode.toString(8).padStart(4, '0') });
      }
    }
    if (v.json) writeJson({ files: written });
    else for (const w of written) process.stdout.write(`${w.mode}  ${w.path}\n`);
    return EXIT.ok;
  },
};
