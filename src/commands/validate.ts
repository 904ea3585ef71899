import type { Command } from './command.js';
import { EXIT } from '../util/errors.js';

// Placeholder until this command lands; owned by whoever implements 'validate'.
export const validateCommand: Command = {
  name: 'validate',
  summary: '(not implemented yet)',
  help: 'Usage: personal-cloud validate\n',
  async run() { process.stderr.write('personal-cloud validate: not implemented yet\n'); return EXIT.failure; },
};
