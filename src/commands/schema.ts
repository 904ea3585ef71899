import type { Command } from './command.js';
import { EXIT } from '../util/errors.js';

// Placeholder until this command lands; owned by whoever implements 'schema'.
export const schemaCommand: Command = {
  name: 'schema',
  summary: '(not implemented yet)',
  help: 'Usage: personal-cloud schema\n',
  async run() { process.stderr.write('personal-cloud schema: not implemented yet\n'); return EXIT.failure; },
};
