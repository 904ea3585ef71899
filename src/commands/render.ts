import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { loadBuildContext } from '../build/context.js';
import { requireNode } from '../../core/plan-nodes.js';
import { nodeFiles } from '../render/node-files.js';
import { renderNodePreseed } from '../render/preseed.js';
import { EXIT, UserError } from '../../core/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { parseCommandArgs, writeJson, type Command } from './command.js';

const HELP = `Usage: personal-cloud render [--config FILE] (--node NAME | --all) --out DIR [--json]

Writes what a node receives from personal-cloud, whichever way it is installed, without building
an image, as a tree under DIR (or DIR/NODE with --all) laid out like the node's root filesystem:
  etc/personal-cloud/cluster.json, node.json, join.key (all 0600; join.key: the derived join key)
  usr/lib/personal-cloud/personal-cloud-agent.mjs, etc/systemd/system/personal-cloud-agent.service
  etc/chrony/sources.d/personal-cloud.sources (the cluster's NTP servers)
  usr/share/cockpit/personal-cloud/ (the web console's "Personal Cloud" page for Cockpit)
  preseed.cfg (the node's installer answers, for reference; 0600, holds password hashes)
Copy it onto any Debian machine (or point the agent at it with PERSONAL_CLOUD_CONFIG_DIR)
to run the first-boot agent from a cluster.yaml.
`;

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
    const names = v.all ? undefined : [v.node!];
    const ctx = await loadBuildContext({ config: v.config, who: 'render', nodes: names });
    const written: { node: string; path: string; mode: string }[] = [];
    for (const name of names ?? ctx.plan.nodes.map((n) => n.name)) {
      const node = requireNode(ctx.plan, name, 'render');
      const root = v.all ? join(resolve(v.out), name) : resolve(v.out);
      const files = [...nodeFiles(ctx, node), { path: '/preseed.cfg', content: renderNodePreseed(ctx.plan, node), mode: 0o600 }];
      for (const f of files) {
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
