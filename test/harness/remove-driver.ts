// The admin CLI's removal driver (src/commands/node-remove.ts driveRemoval: ask a survivor's agent,
// follow its progress) run inside a harness namespace with a request from a JSON file. For the HA
// harness, whose test-only fence agent has no cluster.yaml form: the test builds the target plan
// from its config object, as the CLI does from cluster.yaml.
import { readFileSync } from 'node:fs';
import { UserError } from '../../core/errors.js';
import { driveRemoval } from '../../src/commands/node-remove.js';

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
try {
  await driveRemoval(input.coordinator, input.body, {});
} catch (e) {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(e instanceof UserError ? e.exitCode : 1);
}
