// Several cluster nodes on one machine: a network namespace per node on a bridge (in its own
// "switch" namespace), a persistent mount + UTS namespace per node with private
// /etc/glusterfs, /var/lib/glusterd, /var/log/glusterfs, /run, /etc/hosts, /etc/fstab,
// /etc/ssl, /usr/lib/ssl, /etc/cockpit, /etc/personal-cloud, /var/lib/personal-cloud, /data and /mnt, and
// loop-device "disks". glusterd is the host's real one, started by the agent inside the node.
// Commands enter a node with nsenter (not `ip netns exec`, whose mount namespace is thrown away).
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { GLUSTER_CLI_ENV } from '../../firstboot/gluster.js';
import { agentFiles } from '../../src/render/agent-files.js';
import type { Plan } from '../../core/plan-types.js';
import { ensureNode18, type Node18 } from './node18.js';
import { sh, sleep, type Out } from './sh.js';

export const SUBNET = '10.77.5';
/**
 * Harness instance id: namespaces, veths and directories are named after it, so test files
 * (and other people's harness runs on a shared machine) do not tear down each other's nodes.
 * Set by Harness.create({ id }); the default keeps the original names.
 */
let PREFIX = 'pca';
export let BASE = '/tmp/pc-agent-harness';
/** Agent, glusterd, self-heal daemon and brick logs of the last run are copied here at teardown. */
export let LOG_KEEP = '/tmp/pc-agent-harness-logs';
let SW = `${PREFIX}-sw`;
function useId(id: string): void {
  if (!/^[a-z][a-z0-9]{1,3}$/.test(id)) throw new Error(`harness id must be 2-4 lowercase letters/digits, got ${id}`);
  PREFIX = id;
  BASE = id === 'pca' ? '/tmp/pc-agent-harness' : `/tmp/pc-agent-harness-${id}`;
  LOG_KEEP = id === 'pca' ? '/tmp/pc-agent-harness-logs' : `/tmp/pc-agent-harness-logs-${id}`;
  SW = `${PREFIX}-sw`;
}
/** Host directories the per-node mounts need as mount points (absent on a plain host). */
const HOST_MOUNTPOINTS = ['/data', '/etc/personal-cloud', '/var/lib/personal-cloud'];
// (bundled by scripts/run-ts.mjs the module sits in a temp dir of the repo: fall back to the cwd)
const REPO = existsSync(new URL('../../firstboot/main.ts', import.meta.url)) ? new URL('../../', import.meta.url).pathname : `${process.cwd()}/`;

/** The node options in the ExecStart= of the agent's systemd unit: the harness runs the agent with them too. */
function unitNodeFlags(): string[] {
  const unit = readFileSync(join(REPO, 'firstboot/personal-cloud-agent.service'), 'utf8');
  const argv = /^ExecStart=(.*)$/m.exec(unit)?.[1].trim().split(/\s+/) ?? [];
  return argv.slice(1, argv.findIndex((a) => a.endsWith('.mjs'))).filter((a) => a.startsWith('--'));
}

export interface DiskSpec { sizeMB?: number; ext4?: boolean }

/** Extra per-node privacy (HA harness): host directories copied per node and bind-mounted, overlays. */
export interface NodeExtras {
  /** Absolute host paths; each node gets its own copy (created empty when absent on the host). */
  privateDirs?: string[];
  /** `mount -t overlay` of lower dirs onto a path inside each node (e.g. extra fence agents in /usr/sbin). */
  overlays?: { lower: string; target: string }[];
}
export interface NodeSpec { name: string; disks: DiskSpec[] }

export interface HNode {
  name: string;
  address: string;
  netns: string;
  dir: string;
  disks: string[]; // loop devices
  images: string[];
  log: string;
  agent?: ChildProcess;
  supervise: boolean;
  restarts: number;
  agentStartedAt?: number;
  env: Record<string, string>;
}

export async function requirePrerequisites(): Promise<void> {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('must run as root (network/mount namespaces, loop devices)');
  for (const tool of ['glusterd', 'gluster', 'mount.glusterfs', 'mkfs.xfs', 'mkfs.ext4', 'nsenter', 'unshare', 'losetup', 'ip', 'openssl', 'blkid', 'wipefs', 'getfattr']) {
    if ((await sh('sh', ['-c', `command -v ${tool}`], { allowFail: true })).code !== 0) missing.push(`${tool} not found`);
  }
  if (!existsSync('/dev/fuse')) missing.push('/dev/fuse missing');
  if (missing.length) throw new Error(`agent harness prerequisites missing: ${missing.join('; ')} (apt packages: glusterfs-server glusterfs-client xfsprogs e2fsprogs iproute2 util-linux openssl attr)`);
}

async function buildAgent(out: string): Promise<void> {
  await build({ entryPoints: [join(REPO, 'firstboot/main.ts')], outfile: out, bundle: true, platform: 'node', format: 'esm', target: 'node18', logLevel: 'error', banner: { js: '#!/usr/bin/env node' } });
}

/** Tears down whatever a previous (possibly killed) run left: processes, mounts, loops, netns. */
export async function teardownAll(): Promise<void> {
  const nsList = (await sh('ip', ['netns', 'list'], { allowFail: true })).stdout.split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(`${PREFIX}-`));
  // processes first (agents, glusterd, bricks, FUSE clients all live in the node netns)
  for (let round = 0; round < 2; round++) {
    const pids = new Set<string>();
    for (const ns of nsList) for (const p of (await sh('ip', ['netns', 'pids', ns], { allowFail: true })).stdout.split('\n')) if (p.trim()) pids.add(p.trim());
    if (!pids.size) break;
    await sh('kill', [round ? '-KILL' : '-TERM', ...pids], { allowFail: true });
    for (let i = 0; i < 20; i++) {
      let any = false;
      for (const p of pids) { try { if (!readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z ')) any = true; } catch { /* exited meanwhile */ } }
      if (!any) break;
      await sleep(250);
    }
  }
  const nsDir = join(BASE, 'ns');
  if (existsSync(nsDir)) {
    for (const f of (await sh('ls', [nsDir], { allowFail: true })).stdout.split('\n').filter((x) => x.startsWith('mnt-'))) {
      // unmount the node's own mounts (bricks, FUSE) inside its namespace, deepest first
      await sh('nsenter', [`--mount=${join(nsDir, f)}`, 'sh', '-c', "awk '{print $5}' /proc/self/mountinfo | grep -E '^/(mnt|data)/' | sort -r | xargs -r -n1 umount -l"], { allowFail: true });
    }
  }
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(`${BASE}/`)).sort().reverse();
  for (const m of mounts) await sh('umount', ['-l', m], { allowFail: true });
  if (existsSync(nsDir)) await sh('umount', ['-l', nsDir], { allowFail: true });
  const loops = (await sh('losetup', ['-a'], { allowFail: true })).stdout.split('\n').filter((l) => l.includes(`${BASE}/`)).map((l) => l.split(':')[0]);
  for (const l of loops) await sh('losetup', ['-d', l], { allowFail: true });
  for (const ns of nsList) await sh('ip', ['netns', 'del', ns], { allowFail: true });
  await sh('rm', ['-rf', BASE], { allowFail: true });
  // rmdir of a directory that is a mount point in another mount namespace unmounts it there:
  // leave the host directories alone while any other harness still has nodes
  const others = (await sh('ip', ['netns', 'list'], { allowFail: true })).stdout.split('\n').some((l) => /^\S+-sw\b/.test(l));
  if (!others) for (const d of HOST_MOUNTPOINTS) await sh('rmdir', [d], { allowFail: true });
}

export class Harness {
  nodes = new Map<string, HNode>();
  agentPath = join(BASE, 'personal-cloud-agent.mjs');
  node18?: Node18;
  private stopping = false;

  extras: NodeExtras = {};

  static async create(specs: NodeSpec[], opts: { node18?: boolean; extras?: NodeExtras; id?: string } = {}): Promise<Harness> {
    useId(opts.id ?? 'pca');
    await requirePrerequisites();
    await teardownAll();
    const h = new Harness();
    h.extras = opts.extras ?? {};
    try {
      await h.setup(specs, opts);
    } catch (e) {
      await h.teardown();
      throw e;
    }
    return h;
  }

  private async setup(specs: NodeSpec[], opts: { node18?: boolean }): Promise<void> {
    mkdirSync(join(BASE, 'ns'), { recursive: true });
    await buildAgent(this.agentPath);
    if (opts.node18) this.node18 = await ensureNode18();
    for (const d of HOST_MOUNTPOINTS) mkdirSync(d, { recursive: true });
    await sh('ip', ['netns', 'add', SW]);
    await sh('ip', ['-n', SW, 'link', 'set', 'lo', 'up']);
    await sh('ip', ['-n', SW, 'link', 'add', 'br0', 'type', 'bridge']);
    await sh('ip', ['-n', SW, 'link', 'set', 'br0', 'up']);
    const nsDir = join(BASE, 'ns');
    await sh('mount', ['--bind', nsDir, nsDir]);
    await sh('mount', ['--make-private', nsDir]);
    let i = 0;
    for (const spec of specs) await this.addNode(spec, 11 + i++);
  }

  /** Adds a node (also later, for scale-out): namespaces, disks, private directories. */
  async addNode(spec: NodeSpec, hostPart?: number): Promise<HNode> {
    const idx = hostPart ?? 11 + this.nodes.size;
    const name = spec.name;
    const netns = `${PREFIX}-${name}`;
    const address = `${SUBNET}.${idx}`;
    const dir = join(BASE, 'nodes', name);
    for (const d of ['etc-glusterfs', 'lib-glusterd', 'log', 'run', 'pc-etc', 'pc-lib', 'data', 'mnt']) mkdirSync(join(dir, d), { recursive: true });
    await sh('cp', ['-a', '/etc/glusterfs/.', join(dir, 'etc-glusterfs')]);
    await sh('sh', ['-c', `cp -a /var/lib/glusterd/. '${join(dir, 'lib-glusterd')}' && rm -f '${join(dir, 'lib-glusterd')}/glusterd.info' '${join(dir, 'lib-glusterd')}/secure-access'`]);
    await sh('cp', ['-a', '/etc/ssl', join(dir, 'ssl')]);
    await sh('rm', ['-f', join(dir, 'ssl/glusterfs.pem'), join(dir, 'ssl/glusterfs.key'), join(dir, 'ssl/glusterfs.ca')]);
    await sh('cp', ['-a', '/usr/lib/ssl', join(dir, 'usr-lib-ssl')]);
    writeFileSync(join(dir, 'hosts'), '127.0.0.1\tlocalhost\n');
    writeFileSync(join(dir, 'fstab'), '# /etc/fstab of a simulated node\n');
    chmodSync(join(dir, 'pc-lib'), 0o700);

    const disks: string[] = [];
    const images: string[] = [];
    for (const [k, d] of spec.disks.entries()) {
      const img = join(dir, `disk${k + 1}.img`);
      await sh('truncate', ['-s', `${d.sizeMB ?? 320}M`, img]);
      if (d.ext4) await sh('mkfs.ext4', ['-q', '-F', '-L', 'precious', img]);
      disks.push((await sh('losetup', ['-f', '--show', img])).stdout.trim());
      images.push(img);
    }

    await sh('ip', ['netns', 'add', netns]);
    await sh('ip', ['link', 'add', `${PREFIX}a-${name}`, 'type', 'veth', 'peer', 'name', `${PREFIX}s-${name}`]);
    await sh('ip', ['link', 'set', `${PREFIX}a-${name}`, 'netns', netns]);
    await sh('ip', ['link', 'set', `${PREFIX}s-${name}`, 'netns', SW]);
    await sh('ip', ['-n', SW, 'link', 'set', `${PREFIX}s-${name}`, 'master', 'br0']);
    await sh('ip', ['-n', SW, 'link', 'set', `${PREFIX}s-${name}`, 'up']);
    await sh('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    await sh('ip', ['-n', netns, 'link', 'set', `${PREFIX}a-${name}`, 'name', 'eth0']);
    await sh('ip', ['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    await sh('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);

    const mnt = join(BASE, 'ns', `mnt-${name}`);
    const uts = join(BASE, 'ns', `uts-${name}`);
    closeSync(openSync(mnt, 'w'));
    closeSync(openSync(uts, 'w'));
    const binds: [string, string][] = [
      ['etc-glusterfs', '/etc/glusterfs'], ['lib-glusterd', '/var/lib/glusterd'], ['log', '/var/log/glusterfs'], ['run', '/run'],
      ['hosts', '/etc/hosts'], ['fstab', '/etc/fstab'], ['ssl', '/etc/ssl'], ['usr-lib-ssl', '/usr/lib/ssl'],
      ['pc-etc', '/etc/personal-cloud'], ['pc-lib', '/var/lib/personal-cloud'], ['data', '/data'], ['mnt', '/mnt'],
    ];
    // every node's own Cockpit configuration: the agent's cockpit step writes its certificate there
    for (const p of new Set(['/etc/cockpit', ...(this.extras.privateDirs ?? [])])) {
      const slug = `priv${p.replace(/\//g, '-')}`;
      mkdirSync(join(dir, slug), { recursive: true });
      if (existsSync(p)) await sh('cp', ['-a', `${p}/.`, join(dir, slug)]);
      else { mkdirSync(p, { recursive: true }); HOST_MOUNTPOINTS.push(p); }
      binds.push([slug, p]);
    }
    const script = [
      ...binds.map(([from, to]) => `mount --bind '${join(dir, from)}' '${to}'`),
      ...(this.node18 ? [`mount -t overlay overlay -o 'lowerdir=${this.node18.shareDir}:/usr/share' /usr/share`] : []),
      ...(this.extras.overlays ?? []).map((o) => `mount -t overlay overlay -o 'lowerdir=${o.lower}:${o.target}' '${o.target}'`),
      `hostname ${name}`,
    ].join('\n');
    await sh('unshare', [`--mount=${mnt}`, `--uts=${uts}`, '--propagation', 'private', 'sh', '-ec', script]);

    const n: HNode = { name, address, netns, dir, disks, images, log: join(dir, 'agent.log'), supervise: false, restarts: 0, env: {} };
    this.nodes.set(name, n);
    return n;
  }

  node(name: string): HNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no harness node ${name}`);
    return n;
  }

  nsenterArgs(name: string): string[] {
    const n = this.node(name);
    return [`--net=/run/netns/${n.netns}`, `--mount=${join(BASE, 'ns', `mnt-${name}`)}`, `--uts=${join(BASE, 'ns', `uts-${name}`)}`, '--'];
  }

  /** Runs a command on a node. */
  on(name: string, cmd: string, args: string[], opts: { allowFail?: boolean; timeoutMs?: number; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Out> {
    return sh('nsenter', [...this.nsenterArgs(name), cmd, ...args], opts);
  }

  /** The gluster CLI on a node, with the agent's environment (no geo-replication probe per call). */
  gluster(name: string, args: string[], allowFail = false): Promise<Out> {
    return this.on(name, 'gluster', ['--mode=script', ...args], { allowFail, timeoutMs: 60_000, env: { ...process.env, ...GLUSTER_CLI_ENV } });
  }

  /** Writes what the installer would: cluster.json, node.json, join.key (0600) — of plan node `as` (another box booted from its stick). */
  writeAgentConfig(name: string, plan: Plan, joinKey: string, as = name): void {
    const n = this.node(name);
    for (const f of agentFiles(plan, as, joinKey)) {
      const p = join(n.dir, 'pc-etc', f.path.replace('/etc/personal-cloud/', ''));
      writeFileSync(p, f.content, { mode: f.mode });
      chmodSync(p, f.mode);
    }
  }

  private nodeCommand(): { bin: string; env: Record<string, string> } {
    if (this.node18) return { bin: this.node18.bin, env: { LD_LIBRARY_PATH: this.node18.libDir } };
    return { bin: process.execPath, env: {} };
  }

  /** Starts the agent like systemd would (Restart=on-failure, RestartSec≈1s while supervised). */
  startAgent(name: string, env: Record<string, string> = {}): void {
    const n = this.node(name);
    n.env = env;
    n.supervise = true;
    n.agentStartedAt ??= Date.now();
    this.spawnAgent(n);
  }

  private spawnAgent(n: HNode): void {
    const { bin, env } = this.nodeCommand();
    const fd = openSync(n.log, 'a');
    const child = spawn('nsenter', [...this.nsenterArgs(n.name), bin, ...unitNodeFlags(), this.agentPath, 'run'], {
      stdio: ['ignore', fd, fd],
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', PERSONAL_CLOUD_DEBUG: '1', ...env, ...n.env },
    });
    closeSync(fd);
    n.agent = child;
    child.on('exit', (code, signal) => {
      if (n.agent === child) n.agent = undefined;
      appendFileSync(n.log, `--- harness: agent exited (code ${code}, signal ${signal})\n`);
      if (!this.stopping && n.supervise && (code !== 0 || signal)) {
        n.restarts++;
        setTimeout(() => { if (!this.stopping && n.supervise && !n.agent) this.spawnAgent(n); }, 1000);
      }
    });
  }

  async stopAgent(name: string): Promise<void> {
    const n = this.node(name);
    n.supervise = false;
    const a = n.agent;
    if (!a) return;
    await new Promise<void>((resolve) => { a.once('exit', () => resolve()); a.kill('SIGTERM'); setTimeout(() => a.kill('SIGKILL'), 10_000); });
  }

  /**
   * Network loss (the node keeps running): its switch port goes down, so its peers see silence —
   * no FIN or RST, as with a pulled cable or a dead switch port (and, on the wire, a real power loss).
   */
  async cutNetwork(name: string): Promise<void> {
    this.node(name);
    await sh('ip', ['-n', SW, 'link', 'set', `${PREFIX}s-${name}`, 'down']);
  }

  async restoreNetwork(name: string): Promise<void> {
    this.node(name);
    await sh('ip', ['-n', SW, 'link', 'set', `${PREFIX}s-${name}`, 'up']);
  }

  /** Power loss: SIGKILL every process of the node (agent, glusterd, bricks, FUSE client). */
  async killNode(name: string): Promise<void> {
    const n = this.node(name);
    n.supervise = false;
    for (let i = 0; i < 3; i++) {
      const pids = (await sh('ip', ['netns', 'pids', n.netns])).stdout.split('\n').filter(Boolean);
      if (!pids.length) break;
      await sh('kill', ['-KILL', ...pids], { allowFail: true });
      await sleep(300);
    }
    n.agent = undefined;
  }

  /**
   * What a reinstall leaves of a powered-off node: the rendered config (/etc/personal-cloud)
   * only. glusterd's state and identity, TLS material, the agent's state, fstab, /etc/hosts and
   * every brick disk are as on a fresh install (disks blank). Call after killNode.
   */
  async wipeNode(name: string): Promise<void> {
    const n = this.node(name);
    await this.on(name, 'sh', ['-c', "awk '{print $5}' /proc/self/mountinfo | grep -E '^/(mnt|data)/' | sort -r | xargs -r -n1 umount -l"], { allowFail: true });
    await sh('sh', ['-ec', [
      `cd '${n.dir}'`,
      'rm -rf lib-glusterd run pc-lib data/* mnt/* log/*',
      'mkdir -p lib-glusterd run pc-lib && chmod 700 pc-lib',
      "cp -a /var/lib/glusterd/. lib-glusterd/ && rm -f lib-glusterd/glusterd.info lib-glusterd/secure-access",
      'rm -f ssl/glusterfs.pem ssl/glusterfs.key ssl/glusterfs.ca',
      "printf '127.0.0.1\\tlocalhost\\n' > hosts",
      "printf '# /etc/fstab of a simulated node\\n' > fstab",
    ].join('\n')]);
    // the bind mounts of the node's namespace point at the old directories: bind the new ones
    for (const [from, to] of [['lib-glusterd', '/var/lib/glusterd'], ['run', '/run'], ['pc-lib', '/var/lib/personal-cloud']]) {
      await this.on(name, 'sh', ['-c', `umount -l '${to}'; mount --bind '${join(n.dir, from)}' '${to}'`]);
    }
    for (const d of n.disks) await this.blankDisk(d);
  }

  /** A brand-new disk in place of `device` (same device path, nothing on it). */
  async blankDisk(device: string): Promise<void> {
    await sh('wipefs', ['-a', '-q', device]);
    await sh('dd', ['if=/dev/zero', `of=${device}`, 'bs=1M', 'count=16', 'status=none', 'conv=fsync']);
  }

  /** The status the agent saved after its last pass (cheap: no process spawned). */
  snapshot(name: string): import('../../core/status-types.js').NodeStatus | null {
    try { return JSON.parse(readFileSync(join(this.node(name).dir, 'pc-lib', 'status.json'), 'utf8')); } catch { return null; }
  }

  /** The node's agent status as JSON, asked through the agent's own CLI (authenticated channel). */
  async status(name: string): Promise<import('../../core/status-types.js').NodeStatus> {
    const { bin, env } = this.nodeCommand();
    const r = await sh('nsenter', [...this.nsenterArgs(name), bin, this.agentPath, 'status', '--json'], { allowFail: true, env: { ...process.env, ...env } });
    if (!r.stdout.trim()) throw new Error(`status of ${name}: ${r.stderr.trim()}`);
    return JSON.parse(r.stdout);
  }

  logTail(name: string, lines = 40): string {
    try { return readFileSync(this.node(name).log, 'utf8').split('\n').slice(-lines).join('\n'); } catch { return '(no log)'; }
  }

  async teardown(): Promise<void> {
    this.stopping = true;
    // keep the last run's agent logs for a look after a failure
    await sh('sh', ['-c', `rm -rf ${LOG_KEEP} && mkdir -p ${LOG_KEEP} && for d in ${BASE}/nodes/*; do n=$(basename $d); cp $d/agent.log ${LOG_KEEP}/$n.log 2>/dev/null; cp $d/log/glusterd.log ${LOG_KEEP}/$n-glusterd.log 2>/dev/null; cp $d/log/glustershd.log ${LOG_KEEP}/$n-glustershd.log 2>/dev/null; for b in $d/log/bricks/*.log; do cp $b ${LOG_KEEP}/$n-brick-$(basename $b) 2>/dev/null; done; done; true`], { allowFail: true });
    for (const n of this.nodes.values()) n.supervise = false;
    await teardownAll();
  }
}
