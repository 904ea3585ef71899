import type { Command } from './command.js';
import { EXIT } from '../util/errors.js';

// Placeholder until this command lands; owned by whoever implements 'write-usb'.
export const writeUsbCommand: Command = {
  name: 'write-usb',
  summary: '(not implemented yet)',
  help: 'Usage: personal-cloud write-usb\n',
  async run() { process.stderr.write('personal-cloud write-usb: not implemented yet\n'); return EXIT.failure; },
};
