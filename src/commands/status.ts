import type { Command } from './command.js';
import { EXIT } from '../util/errors.js';

// Placeholder until this command lands; owned by whoever implements 'status'.
export const statusCommand: Command = {
  name: 'status',
  summary: '(not implemented yet)',
  help: 'Usage: personal-cloud status\n',
  async run() { process.stderr.write('personal-cloud status: not implemented yet\n'); return EXIT.failure; },
};
