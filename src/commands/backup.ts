// `personal-cloud backup …` and `personal-cloud restore …`: VM backups of the HA cluster through
// any node's agent (as `vm`); `backup passphrase` is derived here from cluster.yaml's secret and
// never crosses the network.
import type { Command } from './command.js';
import { parseCommandArgs } from './command.js';
import { EXIT, UserError } from '../../core/errors.js';
import { backupPassphrase } from '../../core/backup.js';
import { BACKUP_OPTIONS, backupHelp, backupRequest, restoreHelp, restoreRequest, runBackup } from '../../core/backup-cli.js';
import { resolveTarget, TARGET_HELP, TARGET_OPTIONS } from './vm.js';

export const backupCommand: Command = {
  name: 'backup',
  summary: 'back up VMs now, list archives, verify the repository, show backup status',
  help: backupHelp('personal-cloud', TARGET_HELP),
  async run(argv) {
    const args = parseCommandArgs(backupCommand, argv, TARGET_OPTIONS);
    if (!args) return EXIT.ok;
    const req = backupRequest('personal-cloud', args.positionals);
    const t = await resolveTarget(args.values);
    if (req === 'passphrase') {
      if (!t.plan.backup) throw new UserError('backups are not configured (no backup: section in cluster.yaml)', EXIT.usage);
      process.stdout.write(`${backupPassphrase(t.key, t.plan.cluster.name)}\n`);
      return EXIT.ok;
    }
    return runBackup(t, req, args.values);
  },
};

export const restoreCommand: Command = {
  name: 'restore',
  summary: 'restore a VM (disk and definition) from a backup, in place or as a copy',
  help: restoreHelp('personal-cloud', TARGET_HELP),
  async run(argv) {
    const args = parseCommandArgs(restoreCommand, argv, { ...TARGET_OPTIONS, ...BACKUP_OPTIONS });
    if (!args) return EXIT.ok;
    const req = restoreRequest('personal-cloud', args.positionals, args.values);
    return runBackup(await resolveTarget(args.values), req, args.values);
  },
};
