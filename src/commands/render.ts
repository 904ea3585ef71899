import type { Command } from './command.js';
import { EXIT } from '../util/errors.js';

// Placeholder until this command lands; owned by whoever implements 'render'.
export const renderCommand: Command = {
  name: 'render',
  summary: '(not implemented yet)',
  help: 'Usage: personal-cloud render\n',
  async run() { process.stderr.write('personal-cloud render: not implemented yet\n'); return EXIT.failure; },
};
