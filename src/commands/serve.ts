import type { Command } from './command.js';
import { EXIT } from '../util/errors.js';

// Placeholder until this command lands; owned by the PXE work (issue 4).
export const serveCommand: Command = {
  name: 'serve',
  summary: '(not implemented yet)',
  help: 'Usage: personal-cloud serve\n',
  async run() { process.stderr.write('personal-cloud serve: not implemented yet\n'); return EXIT.failure; },
};
