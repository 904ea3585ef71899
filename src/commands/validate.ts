import type { Command } from './command.js';
import { parseCommandArgs, writeJson } from './command.js';
import { EXIT, UserError } from '../../core/errors.js';
import { readConfigText } from '../config/load.js';
import { formatIssue, validateConfigText, type ConfigIssue } from '../config/validate.js';
import type { ClusterConfig } from '../../core/config-types.js';
import { describePolicy } from '../../core/encryption-policy.js';

const help = `Usage: personal-cloud validate [FILE…] [--json]

Checks cluster descriptions and reports every problem as FILE:LINE:COLUMN: FIELD: message.
FILE defaults to ./cluster.yaml.

Options:
  --json     print {valid, errors, warnings} as JSON on stdout
  -h, --help show this help

Exit codes: 0 valid, 3 invalid (or unreadable), 2 usage error.

Example:
  personal-cloud validate cluster.yaml
`;

function summary(config: ClusterConfig): string {
  const data = config.nodes.filter((n) => !n.arbiter).length;
  const arbiters = config.nodes.length - data;
  const volumes = (['gv0', 'gv1', 'bmv0'] as const).filter((v) => config.volumes[v].enabled);
  return [
    `${config.nodes.length} nodes${arbiters ? ` (${arbiters} arbiter)` : ''}`,
    `replica ${config.replica}`,
    `Debian ${config.release}`,
    `volumes ${volumes.join(', ') || 'none'}`,
    ...(config.encryption ? [`encrypted bricks (${describePolicy(config.encryption, config.nodes.length)})`] : []),
  ].join(', ');
}

interface FileResult { file: string; valid: boolean; errors: ConfigIssue[]; warnings: ConfigIssue[]; summary?: string }

async function check(file: string): Promise<FileResult> {
  let text: string;
  try {
    text = await readConfigText(file);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return { file, valid: false, errors: [{ file, line: 0, column: 0, path: '', message: e.message }], warnings: [] };
  }
  const r = validateConfigText(text, file);
  return { file, valid: Boolean(r.config), errors: r.errors, warnings: r.warnings, ...(r.config ? { summary: summary(r.config) } : {}) };
}

export const validateCommand: Command = {
  name: 'validate',
  summary: 'check cluster.yaml and report every problem with its line',
  help,
  async run(argv) {
    const args = parseCommandArgs(validateCommand, argv, { json: { type: 'boolean' } });
    if (!args) return EXIT.ok;
    const files = args.positionals.length ? args.positionals : ['cluster.yaml'];
    const results = [];
    for (const file of files) results.push(await check(file));
    if (args.values.json) {
      const strip = ({ file, line, column, path, message }: ConfigIssue) => ({ file, line, column, path, message });
      const view = (r: FileResult) => ({ file: r.file, valid: r.valid, errors: r.errors.map(strip), warnings: r.warnings.map(strip) });
      writeJson(results.length === 1 ? view(results[0]) : { valid: results.every((r) => r.valid), files: results.map(view) });
    } else {
      for (const r of results) {
        for (const w of r.warnings) process.stderr.write(`${formatIssue(w, 'warning')}\n`);
        if (r.valid) {
          process.stdout.write(`${r.file}: valid (${r.summary})\n`);
        } else {
          for (const e of r.errors) process.stderr.write(e.line ? `${formatIssue(e)}\n` : `personal-cloud: ${e.message}\n`);
          if (r.errors[0]?.line) process.stderr.write(`${r.file}: ${r.errors.length} error${r.errors.length === 1 ? '' : 's'}\n`);
        }
      }
    }
    return results.every((r) => r.valid) ? EXIT.ok : EXIT.invalidConfig;
  },
};
