import type { Command } from './command.js';
import { EXIT } from '../util/errors.js';

// Placeholder until this command lands; owned by whoever implements 'fetch'.
export const fetchCommand: Command = {
  name: 'fetch',
  summary: '(not implemented yet)',
  help: 'Usage: personal-cloud fetch\n',
  async run() { process.stderr.write('personal-cloud fetch: not implemented yet\n'); return EXIT.failure; },
};
