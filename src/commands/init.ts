import { access, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command } from './command.js';
import { parseCommandArgs } from './command.js';
import { EXIT, UserError } from '../../core/errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { generateSecret } from '../plan/keys.js';
import { exampleConfig } from '../config/example.js';
import { generatePassword, hashPassword } from '../config/crypt.js';
import { checkSshKey } from '../config/formats.js';
import { formatIssue, validateConfigText } from '../config/validate.js';

const help = `Usage: personal-cloud init [--out FILE] [--force]

Writes a commented example cluster description to start from, with a freshly generated
cluster secret and a random password for the admin user (printed once, stored only as a hash).
Your SSH public keys from ~/.ssh/*.pub are added to the admin user when present.
The file holds the secret, so it is written with mode 0600.

Options:
  --out FILE  where to write (default: ./cluster.yaml)
  --force     overwrite an existing file (its old secret is lost)
  -h, --help  show this help

Then: edit it, \`personal-cloud validate FILE\`, \`personal-cloud plan FILE\`.
`;

const KEY_FILES = ['id_ed25519.pub', 'id_ecdsa.pub', 'id_ed25519_sk.pub', 'id_ecdsa_sk.pub', 'id_rsa.pub'];

/** The invoking user's public keys, so the example grants SSH access to them and nobody else. */
async function ownSshKeys(): Promise<string[]> {
  const keys: string[] = [];
  for (const name of KEY_FILES) {
    let text: string;
    try { text = await readFile(join(homedir(), '.ssh', name), 'utf8'); } catch { continue; }
    const line = text.trim().split('\n')[0]?.trim();
    if (line && !checkSshKey(line)) keys.push(line);
  }
  return keys;
}

export const initCommand: Command = {
  name: 'init',
  summary: 'write a commented example cluster.yaml with a fresh secret',
  help,
  async run(argv) {
    const args = parseCommandArgs(initCommand, argv, { out: { type: 'string', short: 'o' }, force: { type: 'boolean' } }, false);
    if (!args) return EXIT.ok;
    const out = args.values.out ?? 'cluster.yaml';
    if (!args.values.force && await access(out).then(() => true, () => false)) {
      throw new UserError(`${out} already exists; not overwriting it (its secret would be lost). Use --force to replace it, or --out for another file.`, EXIT.refused);
    }
    const password = generatePassword();
    const sshKeys = await ownSshKeys();
    const text = exampleConfig({ secret: generateSecret(), passwordHash: hashPassword(password), sshKeys });
    const check = validateConfigText(text, out);
    if (!check.config) throw new Error(`init produced an invalid example:\n${check.errors.map((e) => formatIssue(e)).join('\n')}`);
    try {
      await writeFileAtomic(out, text, 0o600);
    } catch (e) {
      throw new UserError(`cannot write ${out}: ${(e as Error).message}`, EXIT.failure);
    }
    process.stderr.write([
      `wrote ${out} (mode 0600: it holds the cluster secret)`,
      `admin password: ${password}`,
      '  shown only now; the file holds only its hash. Replace password_hash to choose your own.',
      sshKeys.length ? `admin SSH keys: ${sshKeys.length} from ~/.ssh` : 'no SSH public key found in ~/.ssh: add yours under users[0].ssh_keys',
      `next: edit ${out} (names, addresses, disks), then \`personal-cloud validate ${out}\``,
      '',
    ].join('\n'));
    return EXIT.ok;
  },
};
