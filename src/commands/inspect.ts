import type { Command } from './command.js';
import { EXIT } from '../util/errors.js';

// Placeholder until this command lands; owned by whoever implements 'inspect'.
export const inspectCommand: Command = {
  name: 'inspect',
  summary: '(not implemented yet)',
  help: 'Usage: personal-cloud inspect\n',
  async run() { process.stderr.write('personal-cloud inspect: not implemented yet\n'); return EXIT.failure; },
};
