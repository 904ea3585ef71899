import type { Command } from './command.js';
import { EXIT } from '../util/errors.js';

// Placeholder until this command lands; owned by whoever implements 'init'.
export const initCommand: Command = {
  name: 'init',
  summary: '(not implemented yet)',
  help: 'Usage: personal-cloud init\n',
  async run() { process.stderr.write('personal-cloud init: not implemented yet\n'); return EXIT.failure; },
};
