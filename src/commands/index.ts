import type { Command } from './command.js';
import { validateCommand } from './validate.js';
import { schemaCommand } from './schema.js';
import { initCommand } from './init.js';
import { planCommand } from './plan.js';
import { renderCommand } from './render.js';
import { fetchCommand } from './fetch.js';
import { buildCommand } from './build.js';
import { inspectCommand } from './inspect.js';
import { writeUsbCommand } from './write-usb.js';
import { statusCommand } from './status.js';
import { serveCommand } from './serve.js';
import { vmCommand } from './vm.js';
import { nodeCommand } from './node.js';
import { recoveryKeyCommand } from './recovery-key.js';
import { backupCommand, restoreCommand } from './backup.js';

export const commands: Command[] = [
  initCommand,
  validateCommand,
  schemaCommand,
  planCommand,
  renderCommand,
  fetchCommand,
  buildCommand,
  inspectCommand,
  writeUsbCommand,
  statusCommand,
  serveCommand,
  vmCommand,
  nodeCommand,
  recoveryKeyCommand,
  backupCommand,
  restoreCommand,
];
