// `backup …` and `restore …` as command lines, shared by the builder CLI on the admin machine
// (src/commands/backup.ts) and the agent's CLI on a node (firstboot/main.ts): the same options,
// requests to an agent's channel, progress lines and output.
import { EXIT, UserError } from './errors.js';
import { callCluster, parsePort, type AgentTarget } from './vm-cli.js';
import { VM_NAME, VM_NAME_RULE, VM_OP_TIMEOUT_S } from './vm-types.js';
import { fmtAge, type ArchiveInfo, type BackupRequest, type BackupVerdict, type VmBackupResult } from './backup.js';

export const BACKUP_OPTIONS = { at: { type: 'string' }, as: { type: 'string' }, 'op-timeout': { type: 'string' } } as const;

export function backupHelp(prog: string, reaching: string): string {
  return `Usage: ${prog} backup <now|list|verify|status|passphrase> [ARGS] [OPTIONS]

  backup now [VM...]     back up these VMs (default: every VM) now, then prune with the retention:
                         one gluster snapshot of gv0 for all of them where its bricks are thin LVM
                         (guests with qemu-guest-agent frozen around it), else a libvirt disk
                         snapshot of each running VM, wherever it runs; progress on stderr
  backup list [VM]       the archives in the repository (--json for a machine)
  backup verify          borg check of the repository and every archive
  backup status          the last backup of each VM, its age, result and method
  backup passphrase      print the repository passphrase (derived from the cluster secret), to
                         open the repository with borg by hand

The schedule (backup.schedule in cluster.yaml, default daily) runs on one node: a systemd timer.

Reaching the cluster:
${reaching}
`;
}

export function restoreHelp(prog: string, reaching: string): string {
  return `Usage: ${prog} restore VM [--at ARCHIVE] [--as NEWNAME] [--op-timeout SECONDS] [OPTIONS]

  Restores VM's disk and domain definition from its latest archive (or --at ARCHIVE, a name from
  \`backup list VM\` or just its time part, e.g. 20261207T020000Z) and hands it to Pacemaker,
  which starts it. --as NEWNAME restores a copy beside the original: new name, UUID, MAC
  addresses and folder. Never overwrites a VM: remove it first (\`vm remove VM\`; a disk left
  behind is kept aside as disk.qcow2.before-restore-TIME). --op-timeout: Pacemaker's start,
  stop and migrate timeout of the restored VM, as for \`vm create\` (default ${VM_OP_TIMEOUT_S} s).

Reaching the cluster:
${reaching}
`;
}

const usage = (prog: string, what: string, u: string) => new UserError(`${what}: usage: ${prog} ${u}\nRun \`${prog} ${what.split(' ')[0]} --help\` for usage.`, EXIT.usage);

function checkName(what: string, n: string): void {
  if (!VM_NAME.test(n)) throw new UserError(`${what}: "${n}" is not a VM name (${VM_NAME_RULE})`, EXIT.usage);
}

/** `backup` ACTION ARGS → a request, or 'passphrase' (answered locally, never over the channel). */
export function backupRequest(prog: string, positionals: string[]): BackupRequest | 'passphrase' {
  const [action, ...args] = positionals;
  switch (action) {
    case 'now': args.forEach((a) => checkName('backup now', a)); return { action: 'now', vms: args };
    case 'list': if (args.length > 1) throw usage(prog, 'backup list', 'backup list [VM]'); if (args[0]) checkName('backup list', args[0]); return { action: 'list', ...(args[0] ? { vm: args[0] } : {}) };
    case 'verify': case 'status': if (args.length) throw usage(prog, `backup ${action}`, `backup ${action}`); return { action };
    case 'passphrase': if (args.length) throw usage(prog, 'backup passphrase', 'backup passphrase'); return 'passphrase';
    default: throw new UserError(`backup: ${action ? `unknown action "${action}"` : 'an action is required'} (now, list, verify, status, passphrase)\nRun \`${prog} backup --help\` for usage.`, EXIT.usage);
  }
}

export function restoreRequest(prog: string, positionals: string[], v: { at?: string; as?: string; 'op-timeout'?: string }): BackupRequest {
  if (positionals.length !== 1) throw usage(prog, 'restore', 'restore VM [--at ARCHIVE] [--as NEWNAME]');
  checkName('restore', positionals[0]);
  if (v.as !== undefined) checkName('restore --as', v.as);
  if (v.at !== undefined && !/^[a-z0-9-]*\.?\d{8}T\d{6}Z$/.test(v.at)) throw new UserError(`restore: --at "${v.at}" is not an archive (VM.YYYYMMDDTHHMMSSZ or its time part; see \`${prog} backup list ${positionals[0]}\`)`, EXIT.usage);
  const t = v['op-timeout'] === undefined ? undefined : Number(v['op-timeout']);
  if (t !== undefined && !(Number.isInteger(t) && t > 0)) throw new UserError(`restore: --op-timeout must be a positive whole number of seconds, got "${v['op-timeout']}"`, EXIT.usage);
  return { action: 'restore', vm: positionals[0], ...(v.at ? { at: v.at } : {}), ...(v.as ? { as: v.as } : {}), ...(t ? { opTimeoutS: t } : {}) };
}

const MB = (n?: number) => `${((n ?? 0) / 1e6).toFixed(1)} MB`;

function formatResult(r: VmBackupResult): string {
  return r.ok ? `${r.vm}: ${r.archive} (${r.method}${r.node ? ` on ${r.node}` : ''}), ${r.seconds.toFixed(1)} s, ${MB(r.originalBytes)} read, ${MB(r.addedBytes)} added\n`
    : `${r.vm}: FAILED after ${r.seconds.toFixed(1)} s: ${r.error}\n`;
}

type Progress = { vm?: string; phase: string; bytes?: number; done?: number; of?: number } | undefined;
type Marker = { node: string; what: string; progress?: Progress } | null;

export function formatProgress(m: Marker): string | undefined {
  const p = m?.progress;
  if (!p) return undefined;
  return `${m!.node}: ${p.phase}${p.vm ? ` ${p.vm}` : ''}${p.of ? ` (${(p.done ?? 0) + 1}/${p.of})` : ''}${p.bytes ? `: ${MB(p.bytes)} read` : ''}`;
}

interface RunOptions { via?: string; port?: string; json?: boolean }

const LONG_MS = 24 * 3600_000;

export async function runBackup(t: AgentTarget, r: BackupRequest, o: RunOptions): Promise<number> {
  const co = { ...(o.via ? { via: o.via } : {}), ...(o.port ? { port: parsePort(o.port) } : {}) };
  const long = r.action === 'now' || r.action === 'restore' || r.action === 'verify';
  // progress of long work: the runner's marker on gv0, polled through the agents
  let last = '';
  const poll = long ? setInterval(() => {
    void callCluster<Marker>(t, 'backup', { action: 'progress' }, { ...co, timeoutMs: 10_000 }).then((res) => {
      const line = formatProgress(res.data);
      if (line && line !== last) { process.stderr.write(`${line}\n`); last = line; }
    }, () => undefined);
  }, 2000) : undefined;
  let data: unknown;
  try {
    data = (await callCluster<unknown>(t, 'backup', r, { ...co, timeoutMs: long ? LONG_MS : 600_000 })).data;
  } finally { clearInterval(poll); }
  if (o.json) { process.stdout.write(`${JSON.stringify(data, null, 2)}\n`); return backupExit(r, data); }
  process.stdout.write(formatBackup(r, data));
  return backupExit(r, data);
}

function backupExit(r: BackupRequest, data: unknown): number {
  if (r.action === 'now') { const d = data as { results: VmBackupResult[]; problems?: string[] }; return d.results.every((x) => x.ok) && !d.problems?.length ? EXIT.ok : EXIT.failure; }
  if (r.action === 'verify') return (data as { ok: boolean }).ok ? EXIT.ok : EXIT.failure;
  if (r.action === 'status') return (data as { vms: BackupVerdict[] }).vms.every((v) => v.state === 'ok') ? EXIT.ok : EXIT.failure;
  return EXIT.ok;
}

export function formatBackup(r: BackupRequest, data: unknown): string {
  switch (r.action) {
    case 'now': {
      const d = data as { node: string; cleaned: string[]; pointInTime?: { method: string; snapshot?: string; seconds?: number; quiesced?: string[]; why?: string }; results: VmBackupResult[]; pruned?: string; offsite?: string; repoInitialized?: boolean; problems?: string[] };
      const p = d.pointInTime;
      const how = !p || !d.results.length ? '' : p.method === 'gluster-snapshot'
        ? `point in time: gluster snapshot ${p.snapshot} of gv0 (${(p.seconds ?? 0).toFixed(1)} s${p.quiesced?.length ? `; frozen around it: ${p.quiesced.join(', ')}` : ''})\n`
        : `point in time: each VM on its own (libvirt)${p.why ? `: no gluster snapshot, ${p.why}` : ''}\n`;
      return [...d.cleaned.map((c) => `${c}\n`), d.repoInitialized ? 'created the repository (repokey; passphrase: `backup passphrase`)\n' : '', how,
        ...d.results.map(formatResult), d.results.length ? '' : 'no VM to back up\n', d.pruned ? `${d.pruned}\n` : '', d.offsite ? `${d.offsite}\n` : '', ...(d.problems ?? []).map((p) => `${p}\n`)].join('');
    }
    case 'list': {
      const a = data as ArchiveInfo[];
      return a.length ? a.map((x) => `${x.name.padEnd(40)} ${x.time}${x.comment ? `  ${x.comment}` : ''}\n`).join('') : 'no archives\n';
    }
    case 'verify': { const d = data as { ok: boolean; seconds: number; said: string; cleaned: string[] }; return `${d.cleaned.map((c) => `${c}\n`).join('')}${d.ok ? 'repository and archives verified' : `VERIFY FAILED: ${d.said}`} (${d.seconds.toFixed(1)} s)\n`; }
    case 'status': return formatBackupStatus(data as BackupStatus);
    case 'restore': {
      const d = data as { vm: string; from: string; archive: string; info: { role: string; nodes: string[] }; keptAside: string[]; cleaned: string[]; seconds: number };
      return `${d.cleaned.map((c) => `${c}\n`).join('')}restored ${d.archive} as ${d.vm}: ${d.info.role}${d.info.nodes.length ? ` on ${d.info.nodes.join(',')}` : ''} (${d.seconds.toFixed(1)} s)\n${d.keptAside.map((k) => `kept the previous file as ${k}\n`).join('')}`;
    }
    default: return `${JSON.stringify(data)}\n`;
  }
}

export interface BackupStatus {
  repository: string; schedule: string;
  running?: { node: string; what: string; since: string };
  /** ssh:// repositories: each node's public key (the admin authorizes them on the repository host). */
  sshKeys?: Record<string, string>;
  vms: (BackupVerdict & { last?: VmBackupResult })[];
}

/** Also a part of `status` (core/ha-format.ts). */
export function formatBackupStatus(s: BackupStatus): string {
  const head = `backups: ${s.repository}, ${s.schedule}${s.running ? `; running on ${s.running.node}: ${s.running.what} since ${s.running.since}` : ''}\n`;
  const keys = s.sshKeys ? Object.entries(s.sshKeys) : undefined;
  const keyLines = !keys ? '' : keys.length
    ? `  ssh keys to authorize on the repository host (~/.ssh/authorized_keys of its user):\n${keys.map(([n, k]) => `    ${k}   # ${n}\n`).join('')}`
    : '  ssh keys: none published yet (each node makes its own at first boot)\n';
  return head + keyLines + (s.vms.length ? s.vms.map((v) => `  backup ${v.vm}: ${v.state === 'ok' ? '' : 'PROBLEM: '}${v.message}\n`).join('') : '  no VMs\n');
}

export { fmtAge };
