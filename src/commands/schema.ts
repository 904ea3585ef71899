import type { Command } from './command.js';
import { parseCommandArgs, writeJson } from './command.js';
import { EXIT } from '../../core/errors.js';
import { clusterSchema } from '../config/schema.js';

export const schemaCommand: Command = {
  name: 'schema',
  summary: 'print the JSON Schema of cluster.yaml (for editor completion)',
  help: `Usage: personal-cloud schema

Prints the JSON Schema (draft 2020-12) of cluster.yaml on stdout. For completion in editors
that use yaml-language-server (VS Code's YAML extension, Neovim, …):

  personal-cloud schema > cluster.schema.json
  # and put this line at the top of cluster.yaml:
  # yaml-language-server: $schema=cluster.schema.json

\`personal-cloud validate\` remains the authority: it also checks what a schema cannot
(subnets, duplicate addresses, brick counts, replica layouts).
`,
  async run(argv) {
    const args = parseCommandArgs(schemaCommand, argv, {}, false);
    if (!args) return EXIT.ok;
    writeJson(clusterSchema);
    return EXIT.ok;
  },
};
