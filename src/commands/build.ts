import type { Command } from './command.js';
import { EXIT } from '../util/errors.js';

// Placeholder until this command lands; owned by whoever implements 'build'.
export const buildCommand: Command = {
  name: 'build',
  summary: '(not implemented yet)',
  help: 'Usage: personal-cloud build\n',
  async run() { process.stderr.write('personal-cloud build: not implemented yet\n'); return EXIT.failure; },
};
