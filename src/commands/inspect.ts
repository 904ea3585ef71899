import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readCpio, type CpioRecord } from '../assemble/cpio-read.js';
import { EXIT, UserError } from '../../core/errors.js';
import { AGENT_CONFIG_DIR } from '../../core/paths.js';
import { run } from '../util/exec.js';
import { parseCommandArgs, writeJson, type Command } from './command.js';

const HELP = `Usage: personal-cloud inspect IMAGE [--json]

Shows what an installer image built by personal-cloud holds: boot entries (BIOS/UEFI), the
menu, the nodes it installs and the files of its payload. Secrets are redacted: password
hashes and the join key are never printed.
`;

const PAYLOAD_PATHS = ['/install/payload.gz', '/install/initrd.gz', '/install.amd/personal-cloud/payload.gz', '/install.amd/personal-cloud/initrd.gz'];

/** Lines that carry a secret or a hash, with the value replaced. */
export function redact(name: string, text: string): string {
  if (name.endsWith('join.key')) return '[redacted: derived join key]\n';
  if (name.endsWith('users.list')) return text.replace(/^([^:]*):[^:]*:/gm, '$1:[redacted hash]:');
  return text.replace(/^(d-i passwd\/[a-z-]*-crypted password) .*$/gm, '$1 [redacted]');
}

/** The primary volume descriptor at sector 16 starts with "\x01CD001". */
async function isIso9660(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(6);
    await fh.read(buf, 0, 6, 16 * 2048);
    return buf.toString('latin1', 1, 6) === 'CD001';
  } finally {
    await fh.close();
  }
}

async function isoFile(iso: string, path: string, dir: string): Promise<Buffer | undefined> {
  const dest = join(dir, path.replace(/\//g, '_'));
  try {
    await run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', path, dest]);
    return await readFile(dest);
  } catch {
    return undefined;
  }
}

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'show what an image contains (secrets redacted)',
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs(this, argv, { json: { type: 'boolean' }, show: { type: 'string' } });
    if (!args) return EXIT.ok;
    const [image] = args.positionals;
    if (!image || args.positionals.length > 1) throw new UserError('inspect: give exactly one IMAGE', EXIT.usage);
    const st = await stat(image).catch(() => undefined);
    if (!st?.isFile()) throw new UserError(`inspect: ${image} is not a file`, EXIT.usage);
    if (!(await isIso9660(image))) throw new UserError(`inspect: ${image} is not an ISO 9660 image`, EXIT.usage);
    const dir = await mkdtemp(join(tmpdir(), 'pc-inspect-'));
    try {
      let report: string;
      try {
        report = (await run('xorriso', ['-indev', image, '-report_el_torito', 'plain', '-pvd_info'])).stdout;
      } catch {
        throw new UserError(`inspect: ${image} is not an ISO 9660 image`, EXIT.usage);
      }
      const volumeId = /Volume Id\s*:\s*(.*)/.exec(report)?.[1]?.trim() ?? '';
      const boot = [...report.matchAll(/El Torito img path :\s+\d+\s+(\S+)/g)].map((m) => m[1]);
      const platforms = [...report.matchAll(/El Torito boot img :\s+\d+\s+(\S+)/g)].map((m) => m[1]);
      const diskInfo = (await isoFile(image, '/.disk/info', dir))?.toString().trim();
      const grub = (await isoFile(image, '/boot/grub/grub.cfg', dir))?.toString() ?? '';
      const menu = [...grub.matchAll(/menuentry '([^']*)'/g)].map((m) => m[1]);
      let records: CpioRecord[] = [];
      for (const p of PAYLOAD_PATHS) {
        const gz = await isoFile(image, p, dir);
        if (!gz) continue;
        const all = readCpio(gunzipSync(gz));
        const appended = p.endsWith('payload.gz') ? all : all.filter((r) => r.archive > 0);
        if (appended.some((r) => r.name.startsWith('personal-cloud/'))) { records = appended; break; }
      }
      if (!records.length) throw new UserError(`inspect: ${image} holds no personal-cloud payload (not built by personal-cloud?)`, EXIT.usage);
      const files = records.filter((r) => (r.mode & 0o170000) === 0o100000);
      const nodes = [...new Set(files.map((r) => /^personal-cloud\/nodes\/([^/]+)\//.exec(r.name)?.[1]).filter(Boolean))] as string[];
      const clusterJson = files.find((r) => r.name.endsWith(`${AGENT_CONFIG_DIR}/cluster.json`));
      const cluster = clusterJson ? JSON.parse(clusterJson.data.toString()) : undefined;
      const result = {
        image, volumeId, diskInfo,
        boot: boot.map((path, i) => ({ platform: platforms[i], path })),
        menu,
        cluster: cluster ? { name: cluster.cluster.name, domain: cluster.cluster.domain, release: cluster.cluster.release, keyId: cluster.cluster.keyId, volumes: cluster.volumes.map((v: { name: string }) => v.name) } : undefined,
        nodes,
        files: files.map((r) => ({ path: `/${r.name}`, mode: (r.mode & 0o7777).toString(8).padStart(4, '0'), size: r.data.length })),
      };
      if (args.values.show) {
        const f = files.find((r) => `/${r.name}` === args.values.show || r.name === args.values.show);
        if (!f) throw new UserError(`inspect: no file ${args.values.show} in the payload`, EXIT.usage);
        process.stdout.write(redact(f.name, f.data.toString()));
        return EXIT.ok;
      }
      if (args.values.json) { writeJson(result); return EXIT.ok; }
      const lines = [
        `${image}`,
        `  volume:   ${volumeId}`,
        `  medium:   ${diskInfo ?? '-'}`,
        `  boot:     ${result.boot.map((b) => `${b.platform} ${b.path}`).join(', ')}`,
        `  cluster:  ${result.cluster ? `${result.cluster.name} (${result.cluster.domain}), Debian ${result.cluster.release}, key id ${result.cluster.keyId}` : '-'}`,
        `  nodes:    ${nodes.join(', ')}`,
        '  menu:',
        ...menu.map((m, i) => `    ${i === 0 ? '*' : ' '} ${m}`),
        '  payload:',
        ...result.files.map((f) => `    ${f.mode} ${String(f.size).padStart(8)}  ${f.path}`),
        '  (show a file, secrets redacted: --show /preseed.cfg)',
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      return EXIT.ok;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
};
