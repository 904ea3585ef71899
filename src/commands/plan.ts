import type { Command } from './command.js';
import { EXIT } from '../util/errors.js';

// Placeholder until this command lands; owned by whoever implements 'plan'.
export const planCommand: Command = {
  name: 'plan',
  summary: '(not implemented yet)',
  help: 'Usage: personal-cloud plan\n',
  async run() { process.stderr.write('personal-cloud plan: not implemented yet\n'); return EXIT.failure; },
};
