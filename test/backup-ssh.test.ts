// An ssh:// backup repository against a real OpenSSH server and real borg: the node's own key
// (ensureSshKey), borg's environment (borgFor), the repository made and used as the runner does
// (ensureRepo, borg create/list/extract), the key authorized as the README and `backup status`
// say. Also what the admin is told when the host key changed, the key is not authorized, or the
// path is outside borg serve's --restrict-to-path. sshd listens on 127.0.0.1 only.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBackupStatus } from '../core/backup-cli.js';
import type { AgentPlan } from '../core/plan-types.js';
import { borg, borgFor, ensureRepo, PASS_FILE, type Borg } from '../firstboot/backup/borg.js';
import { ensureSshKey, publishedSshKeys, sshKeyPath } from '../firstboot/backup/ssh-key.js';
import { borgCreateArgs } from '../firstboot/backup/vm-backup.js';
import { run } from '../firstboot/exec.js';
import { planFor, testConfig } from './harness/plan.js';

const freePort = () => new Promise<number>((resolve, reject) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port')))); });
});

// sshd's StrictModes wants every folder above authorized_keys root-owned and not group/world
// writable: /tmp (1777) is not, /run (0755) is
const sshdDir = mkdtempSync('/run/pc-test-sshd-');
const tmp = mkdtempSync('/tmp/pc-sshrepo-');
const restricted = `${tmp}/repos`;
let port = 0;
let sshd: ChildProcess | undefined;
let sshdLog = '';
const passFileWas = existsSync(PASS_FILE);

async function startSshd(): Promise<void> {
  sshdLog = '';
  sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', `${sshdDir}/sshd_config`], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`sshd did not start: ${sshdLog}`)), 10_000);
    sshd!.stderr!.on('data', (d: Buffer) => { sshdLog += d.toString(); if (/Server listening/.test(sshdLog)) { clearTimeout(t); resolve(); } });
    sshd!.on('exit', (c) => { clearTimeout(t); reject(new Error(`sshd exited ${c}: ${sshdLog}`)); });
  });
}
async function stopSshd(): Promise<void> {
  if (!sshd || sshd.exitCode !== null) return;
  const gone = new Promise((r) => sshd!.once('exit', r));
  sshd.kill('SIGTERM');
  await gone;
}
const newHostKey = async () => { rmSync(`${sshdDir}/host_key`, { force: true }); rmSync(`${sshdDir}/host_key.pub`, { force: true }); await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${sshdDir}/host_key`]); };

let plan: AgentPlan;
let joinKey: string;
const state = `${tmp}/state-node1`;
const state2 = `${tmp}/state-node2`;
const repoOf = (path: string) => `ssh://root@127.0.0.1:${port}${path}`;
const withRepo = (b: Borg, path: string): Borg => ({ ...b, repo: repoOf(path) });

beforeAll(async () => {
  for (const [c, pkg] of [['/usr/sbin/sshd', 'openssh-server'], ['borg', 'borgbackup']]) {
    if ((await run('sh', ['-c', `command -v ${c}`], { allowFail: true })).code !== 0) throw new Error(`${c} is missing (apt package ${pkg}): bash scripts/deps.sh test installs it`);
  }
  chmodSync(sshdDir, 0o755);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege separation folder
  mkdirSync(restricted, { recursive: true });
  port = await freePort();
  await newHostKey();
  writeFileSync(`${sshdDir}/authorized_keys`, '', { mode: 0o600 });
  writeFileSync(`${sshdDir}/sshd_config`, [
    `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${sshdDir}/host_key`, `AuthorizedKeysFile ${sshdDir}/authorized_keys`,
    `PidFile ${sshdDir}/sshd.pid`, 'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
    'UsePAM no', 'StrictModes yes', 'LogLevel VERBOSE', '',
  ].join('\n'));
  await startSshd();
  const cfg = testConfig([{ name: 'node1', hostPart: 11, gv0: ['/dev/vdb'] }, { name: 'node2', hostPart: 12, gv0: ['/dev/vdb'] }, { name: 'node3', hostPart: 13, gv0: ['/dev/vdb'] }]);
  cfg.ha = { enabled: true, fencing: { kind: 'none-unsafe' }, bridges: [] };
  cfg.backup = { repository: repoOf(`${restricted}/pc`), schedule: 'daily', intervalS: 86_400, retention: { daily: 7, weekly: 4, monthly: 12 }, encryption: 'repokey' };
  const p = planFor(cfg);
  plan = { ...p.plan, ha: { ...p.plan.ha!, vmDir: `${tmp}/gv0/vm` } } as AgentPlan;
  joinKey = p.joinKey;
  mkdirSync(plan.ha!.vmDir, { recursive: true });
});

afterAll(async () => {
  await stopSshd();
  rmSync(sshdDir, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
  if (!passFileWas) rmSync(PASS_FILE, { force: true }); // borgFor's passphrase file of this test's cluster
});

describe('an ssh:// repository on a real sshd with real borg', () => {
  let b: Borg;

  it('works with each node\'s key authorized as `backup status` lists it, restricted to the repository folder', async () => {
    await ensureSshKey(plan, 'node1', state);
    await ensureSshKey(plan, 'node2', state2);
    const status = formatBackupStatus({ repository: plan.backup!.repository, schedule: 'daily', sshKeys: await publishedSshKeys(plan), vms: [] });
    // what the admin copies: the key as status shows it, with the README's forced command in front; node2's key stays out
    const node1Key = /^ {4}(ssh-ed25519 \S+ \S+) {3}# node1$/m.exec(status)?.[1];
    expect(node1Key).toBe(readFileSync(`${sshKeyPath(state)}.pub`, 'utf8').trim());
    writeFileSync(`${sshdDir}/authorized_keys`, `command="borg serve --restrict-to-path ${restricted}",restrict ${node1Key}\n`, { mode: 0o600 });

    b = await borgFor(plan, joinKey, state);
    expect(b.repo).toBe(`ssh://root@127.0.0.1:${port}${restricted}/pc`);
    expect(b.env.BORG_RSH).toBe(`ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new -i ${sshKeyPath(state)} -o UserKnownHostsFile=${state}/backup-ssh/known_hosts`);
    expect(b.env.BORG_PASSCOMMAND).toBe(`cat ${PASS_FILE}`);
    expect(JSON.stringify(b.env)).not.toContain(readFileSync(PASS_FILE, 'utf8'));

    expect(await ensureRepo(b, 'repokey')).toBe(true);
    expect(readFileSync(`${restricted}/pc/config`, 'utf8')).toMatch(/^key = \S+/m); // repokey: the encrypted key is in the repository
    expect(await ensureRepo(b, 'repokey')).toBe(false);
    expect(sshdLog).toMatch(/forced-command \(key-option\) 'borg serve --restrict-to-path /);
    // the host key was taken on first use, into the node's own known_hosts (hashed: Debian's HashKnownHosts)
    const hostPub = readFileSync(`${sshdDir}/host_key.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    expect((await run('ssh-keygen', ['-F', `[127.0.0.1]:${port}`, '-f', `${state}/backup-ssh/known_hosts`])).stdout).toContain(` ${hostPub}`);

    const src = `${plan.ha!.vmDir}/web`;
    mkdirSync(src, { recursive: true });
    const disk = randomBytes(3 * 1024 * 1024);
    writeFileSync(`${src}/disk.qcow2`, disk);
    writeFileSync(`${src}/web.xml`, '<domain><name>web</name></domain>\n');
    const archive = 'web.20261207T020000Z';
    const made = await borg(b, borgCreateArgs(b.repo, archive, 'method=stopped-vm node=node1', ['web/disk.qcow2', 'web/web.xml']), { cwd: plan.ha!.vmDir, strict: true });
    expect(JSON.parse(made.stdout).archive.stats.original_size).toBeGreaterThanOrEqual(disk.length);
    const listed = JSON.parse((await borg(b, ['list', '--json', '--format', '{comment}', b.repo])).stdout) as { archives: { name: string; comment: string }[] };
    expect(listed.archives.map((a) => a.name)).toEqual([archive]);
    const out = `${tmp}/extract`;
    mkdirSync(out);
    await borg(b, ['extract', '--sparse', `${b.repo}::${archive}`], { cwd: out });
    expect(readFileSync(`${out}/web/disk.qcow2`).equals(disk)).toBe(true);
  });

  it('refuses a path outside --restrict-to-path, and says what the restriction means', async () => {
    const outside = `${tmp}/elsewhere/pc`;
    await expect(ensureRepo(withRepo(b, outside), 'repokey')).rejects.toThrow(new RegExp(`Repository path not allowed: ${outside}: the repository host's authorized_keys limits this node's key \\(borg serve --restrict-to-path\\)`));
    expect(existsSync(`${tmp}/elsewhere`)).toBe(false);
    // a sibling whose name only starts like the allowed folder is outside too
    await expect(ensureRepo(withRepo(b, `${restricted}-2/pc`), 'repokey')).rejects.toThrow(/Repository path not allowed/);
  });

  it('tells the admin to authorize a node whose key is not in authorized_keys (init and `backup list`)', async () => {
    const b2 = await borgFor(plan, joinKey, state2);
    const t = Date.now();
    const refused = new RegExp(`the repository host refused this node's ssh key \\(${sshKeyPath(state2)}\\.pub\\) for root@127\\.0\\.0\\.1:${port}: add every node's key \\(\`personal-cloud backup status\` lists them\\) to ~root/\\.ssh/authorized_keys`);
    await expect(ensureRepo(b2, 'repokey')).rejects.toThrow(refused);
    await expect(borg(b2, ['list', '--json', b2.repo], { timeoutMs: 600_000 })).rejects.toThrow(refused);
    expect(Date.now() - t).toBeLessThan(60_000); // no hang: ssh in BatchMode fails at once (a prompt would wait for the 120 s limit)
  });

  it('refuses a changed host key at once (no prompt, no hang), names the fix, and works again after it', async () => {
    await stopSshd();
    await newHostKey();
    await startSshd();
    const known = `${state}/backup-ssh/known_hosts`;
    const changed = new RegExp(`the ssh host key of the repository host root@127\\.0\\.0\\.1:${port} is not the one this node recorded .*\\(in ${known}\\).*remove the old key on every node with: ssh-keygen -R '\\[127\\.0\\.0\\.1\\]:${port}' -f ${known}$`);
    const t = Date.now();
    await expect(ensureRepo(b, 'repokey')).rejects.toThrow(changed);
    await expect(borg(b, ['list', '--short', b.repo])).rejects.toThrow(changed);
    expect(Date.now() - t).toBeLessThan(60_000); // no hang: ssh in BatchMode fails at once (a prompt would wait for the 120 s limit)
    expect(sshdLog).not.toMatch(/Accepted publickey/); // refused before authenticating
    // the fix the message names, as it names it
    const fix = /with: (ssh-keygen .*)$/.exec(await ensureRepo(b, 'repokey').then(() => '', (e: Error) => e.message))![1];
    await run('sh', ['-c', fix]);
    expect(await ensureRepo(b, 'repokey')).toBe(false);
    expect((await borg(b, ['list', '--short', b.repo])).stdout.trim()).toBe('web.20261207T020000Z');
  });
});
