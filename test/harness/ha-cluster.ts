// The HA harness: the agent harness (cluster.ts) plus per-node private state for libvirt,
// corosync and Pacemaker, real libvirtd/QEMU (TCG)/corosync/pacemaker started by the agent,
// and a test-only fence agent that "powers off" a simulated node by SIGKILLing every process
// of its network namespace — so Pacemaker runs with stonith-enabled=true as on real nodes.
// No watchdog is ever armed here (SBD would reset the test machine itself).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BackupConfig, BridgeConfig, ClusterConfig } from '../../core/config-types.js';
import { BASE, Harness } from './cluster.js';
import { planFor, testConfig } from './plan.js';
import { sh, sleep, waitFor } from './sh.js';

export const HA_DIR = '/tmp/pc-ha-harness';
/** Our own namespace/directory names: other harness runs on this machine are left alone. */
export const HARNESS_ID = 'pch';
export const FENCE_AGENT = 'fence_pcharness';
export const POWER_DIR = join(HA_DIR, 'power');
export const FENCE_LOG = join(HA_DIR, 'fence.log');

const PRIVATE = ['/etc/corosync', '/var/lib/corosync', '/var/log/corosync', '/var/lib/pacemaker', '/var/log/pacemaker', '/dev/shm',
  '/etc/libvirt', '/var/lib/libvirt', '/var/log/libvirt', '/var/cache/libvirt', '/etc/pki', '/etc/openvswitch', '/var/lib/openvswitch', '/var/log/openvswitch',
  '/etc/cockpit', '/var/lib/prometheus'];

export const slugDir = (node: string, path: string) => join(BASE, 'nodes', node, `priv${path.replace(/\//g, '-')}`);

// The fence agent protocol: key=value lines on stdin (action, plug/port), exit 0 = success.
const FENCE_SCRIPT = `#!/bin/sh
# ${FENCE_AGENT}: TEST-ONLY fence agent of the personal-cloud namespace harness.
action=reboot; plug=""
while IFS= read -r line; do
  case "$line" in action=*|option=*) action=\${line#*=};; plug=*|port=*|nodename=*) [ -z "$plug" ] && plug=\${line#*=};; esac
done
for a in "$@"; do case "$a" in -o) next=action;; -n) next=plug;; *) [ "$next" = action ] && action=$a; [ "$next" = plug ] && plug=$a; next="";; esac; done
power=${POWER_DIR}
procs() { ino=$(cat "$power/$1" 2>/dev/null) || return 0; find /proc -maxdepth 3 -path '/proc/[0-9]*/ns/net' -lname "net:?$ino?" 2>/dev/null | sed -n 's|^/proc/\\([0-9]*\\)/ns/net$|\\1|p'; }
case "$action" in
  metadata) cat <<'XML'
<?xml version="1.0" ?>
<resource-agent name="${FENCE_AGENT}" shortdesc="Test-only: powers off a simulated node of the namespace harness">
<longdesc>Kills every process in the network namespace of the node (a power-off).</longdesc>
<parameters>
<parameter name="action" unique="0" required="1"><getopt mixed="-o, --action=[action]"/><content type="string" default="reboot"/><shortdesc lang="en">Action</shortdesc></parameter>
<parameter name="plug" unique="0" required="0"><getopt mixed="-n, --plug=[name]"/><content type="string"/><shortdesc lang="en">Node name</shortdesc></parameter>
<parameter name="port" unique="0" required="0"><getopt mixed="-n, --plug=[name]"/><content type="string"/><shortdesc lang="en">Node name</shortdesc></parameter>
</parameters>
<actions><action name="on"/><action name="off"/><action name="reboot"/><action name="status"/><action name="list"/><action name="monitor"/><action name="metadata"/><action name="validate-all"/></actions>
</resource-agent>
XML
  exit 0;;
  monitor|validate-all) [ -d "$power" ]; exit $?;;
  list) ls "$power"; exit 0;;
  status) [ -n "$(procs "$plug")" ] && exit 0 || exit 2;;
  on) echo "$(date +%s.%N) on $plug (no-op: the test powers nodes on) by $(hostname)" >> ${FENCE_LOG}; exit 0;;
  off|reboot)
    [ -f "$power/$plug" ] || { echo "unknown node $plug" >&2; exit 1; }
    echo "$(date +%s.%N) $action $plug by $(hostname)" >> ${FENCE_LOG}
    for i in 1 2 3 4 5 6 7 8 9 10; do p=$(procs "$plug"); [ -z "$p" ] && break; kill -KILL $p 2>/dev/null; sleep 0.2; done
    [ -z "$(procs "$plug")" ] && { echo "$(date +%s.%N) $plug is off" >> ${FENCE_LOG}; exit 0; }
    exit 1;;
  *) echo "unsupported action $action" >&2; exit 1;;
esac
`;

export async function requireHaPrerequisites(): Promise<void> {
  const missing: string[] = [];
  for (const tool of ['libvirtd', 'virsh', 'qemu-system-x86_64', 'qemu-img', 'corosync', 'corosync-cfgtool', 'corosync-quorumtool', 'pacemakerd', 'cibadmin', 'crm_mon', 'crm_resource', 'crm_attribute', 'openssl', 'cpio', 'dpkg-deb', 'ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl']) {
    if ((await sh('sh', ['-c', `command -v ${tool}`], { allowFail: true })).code !== 0) missing.push(`${tool} not found`);
  }
  if (!existsSync('/usr/lib/ocf/resource.d/heartbeat/VirtualDomain')) missing.push('ocf:heartbeat:VirtualDomain missing (resource-agents)');
  if (!existsSync('/usr/sbin/pacemaker-fenced') && !existsSync('/usr/lib/pacemaker/pacemaker-fenced')) missing.push('pacemaker-fenced missing');
  if (missing.length) throw new Error(`HA harness prerequisites missing: ${missing.join('; ')} (apt packages: libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils corosync pacemaker pacemaker-cli-utils resource-agents busybox-static cpio openvswitch-switch)`);
}

/** Open vSwitch (userspace datapath in the harness): a standalone bridge and a VLAN fake bridge on it. */
export const HA_BRIDGES = [{ name: 'wan1' }, { name: 'lab2', parent: 'wan1', vlan: 2 }];

/** Variants of the HA cluster: the default is replica 3 over every node with HA_BRIDGES. */
export interface HaClusterOptions {
  /** replica 2: this node holds the arbiter bricks only (and gets no brick disk). */
  arbiter?: string;
  /** ha.qdevice naming this node of the plan: it runs corosync-qnetd and is no corosync member. */
  qdevice?: string;
  bridges?: BridgeConfig[];
  /** backup: section (the repository on gv0: the harness has no gv1). */
  backup?: BackupConfig;
  /** Size of each node's gv0 brick disk (default 400 MB). */
  brickMB?: number;
}

export function haTestConfig(names: string[], o: HaClusterOptions = {}): ClusterConfig {
  const base = testConfig(names.map((name, i) => ({ name, hostPart: 11 + i, arbiter: name === o.arbiter })), { replica: o.arbiter ? 2 : 3 });
  return {
    ...base,
    ha: {
      enabled: true, fencing: { kind: 'agent', agent: FENCE_AGENT, params: {} }, bridges: o.bridges ?? HA_BRIDGES,
      ...(o.qdevice ? { qdevice: { host: o.qdevice, node: o.qdevice } } : {}),
    },
    ...(o.backup ? { backup: o.backup } : {}),
  };
}

export class HaCluster {
  private fenceSeen = 0;
  private watcher?: NodeJS.Timeout;
  /** Nodes the test powered off (killNode): a fence 'reboot' leaves them off, like a dead PSU. */
  readonly poweredOff = new Set<string>();
  readonly reboots: { node: string; at: number }[] = [];
  /** Nodes the test cut off the network (partitionNode): fenced, they boot again only once healed. */
  readonly partitioned = new Set<string>();

  constructor(readonly h: Harness, readonly names: string[]) {}

  /**
   * Fencing is a power action: the fence agent kills the node's processes; here a 'reboot' of a
   * node that was running boots it again a moment later (clean /run, agent restarted), 'off' or a
   * node the test had powered off stays off. The supervisor must not restart a fenced agent.
   */
  private watchFencing(): void {
    this.watcher = setInterval(() => {
      const text = this.fenceLog();
      const fresh = text.slice(this.fenceSeen);
      this.fenceSeen = text.length;
      for (const m of fresh.matchAll(/^\S+ (reboot|off) (\S+) by/gm)) {
        const [, action, node] = m;
        const n = this.h.nodes.get(node);
        if (!n) continue;
        const wasOn = n.supervise && !this.poweredOff.has(node);
        n.supervise = false;
        if (action === 'reboot' && wasOn) {
          this.reboots.push({ node, at: Date.now() });
          setTimeout(() => { if (!this.poweredOff.has(node) && !this.partitioned.has(node)) void this.reboot(node); }, 3000);
        }
      }
    }, 100);
  }

  async killNode(n: string): Promise<void> {
    this.poweredOff.add(n);
    await this.h.killNode(n);
  }

  /** The node loses its network but keeps running (its guests too) until something fences it. */
  async partitionNode(n: string): Promise<void> {
    this.partitioned.add(n);
    await this.h.cutNetwork(n);
  }

  /** The network is back; a node fenced meanwhile boots again now (its fence was a 'reboot'). */
  async healNode(n: string): Promise<void> {
    await this.h.restoreNetwork(n);
    this.partitioned.delete(n);
    if (!this.h.node(n).agent && !this.poweredOff.has(n)) await this.reboot(n);
  }

  /**
   * A reinstall of a powered-off node: what the base harness wipes (glusterd state, TLS, agent
   * state, bricks) and the HA stack's own state (corosync's key and config, Pacemaker's CIB,
   * libvirt's definitions and keys, OVS database) back to a fresh package install.
   */
  async wipeNode(n: string): Promise<void> {
    await this.h.wipeNode(n);
    for (const p of PRIVATE) {
      const d = slugDir(n, p);
      await sh('sh', ['-ec', `find '${d}' -mindepth 1 -delete; if [ -d '${p}' ] && [ '${p}' != /dev/shm ]; then cp -a '${p}/.' '${d}/'; fi`]);
    }
    this.prepareNode(n);
  }

  static async create(names: string[], o: HaClusterOptions = {}): Promise<HaCluster> {
    await requireHaPrerequisites();
    rmSync(HA_DIR, { recursive: true, force: true });
    mkdirSync(join(HA_DIR, 'sbin'), { recursive: true });
    mkdirSync(POWER_DIR, { recursive: true });
    writeFileSync(join(HA_DIR, 'sbin', FENCE_AGENT), FENCE_SCRIPT, { mode: 0o755 });
    const h = await Harness.create(names.map((name) => ({ name, disks: name === o.arbiter ? [] : [{ sizeMB: o.brickMB ?? 400 }] })), {
      id: HARNESS_ID,
      extras: { privateDirs: PRIVATE, overlays: [{ lower: join(HA_DIR, 'sbin'), target: '/usr/sbin' }] },
    });
    const c = new HaCluster(h, names);
    try {
      for (const n of names) c.prepareNode(n);
      await c.warmQemuCapabilities(names);
      const cfg = haTestConfig(names, o);
      for (const [i, n] of names.entries()) if (n !== o.arbiter) cfg.nodes[i].disks.gv0 = [{ id: h.node(n).disks[0], wipe: false }];
      const { plan, joinKey } = planFor(cfg);
      for (const n of names) h.writeAgentConfig(n, plan, joinKey);
    } catch (e) { await c.teardown(); throw e; }
    return c;
  }

  private prepareNode(n: string): void {
    chmodSync(slugDir(n, '/dev/shm'), 0o1777);
    rmSync(join(slugDir(n, '/etc/libvirt'), 'qemu/networks/autostart'), { recursive: true, force: true });
    for (const f of readdirSync(join(slugDir(n, '/var/lib/pacemaker'), 'cib')).filter((x) => x.startsWith('cib'))) rmSync(join(slugDir(n, '/var/lib/pacemaker'), 'cib', f));
    // the host's corosync-qnetd CA (made by the package's postinst) is not the node's: the agent makes its own
    rmSync(join(slugDir(n, '/etc/corosync'), 'qnetd', 'nssdb'), { recursive: true, force: true });
    rmSync(join(slugDir(n, '/etc/corosync'), 'qdevice'), { recursive: true, force: true });
  }

  /** libvirtd probes QEMU for ~15 s under TCG: once on the first node, then its cache is shared. */
  private async warmQemuCapabilities(names: string[]): Promise<void> {
    const first = names[0];
    await this.h.on(first, 'libvirtd', ['-d', '-p', '/run/libvirtd-warm.pid']);
    let ok = false;
    for (let i = 0; i < 240 && !ok; i++) { ok = (await this.h.on(first, 'virsh', ['-c', 'qemu:///system', 'domcapabilities', '--virttype', 'qemu'], { allowFail: true })).code === 0; if (!ok) await sleep(500); }
    const pid = readFileSync(join(BASE, 'nodes', first, 'run', 'libvirtd-warm.pid'), 'utf8').trim();
    await sh('kill', [pid], { allowFail: true });
    for (let i = 0; i < 40 && existsSync(`/proc/${pid}`); i++) await sleep(250);
    if (!ok) throw new Error('libvirtd on the first node never answered (QEMU capabilities probe)');
    for (const n of names.slice(1)) await sh('cp', ['-a', `${slugDir(first, '/var/cache/libvirt')}/qemu/.`, `${slugDir(n, '/var/cache/libvirt')}/qemu/`]);
    await sh('rm', ['-rf', join(BASE, 'nodes', first, 'run', 'libvirt')]);
  }

  async start(): Promise<void> {
    this.watchFencing();
    for (const n of this.names) {
      const ino = (await sh('sh', ['-c', `stat -L -c %i /run/netns/${this.h.node(n).netns}`])).stdout.trim();
      writeFileSync(join(POWER_DIR, n), ino);
      this.h.startAgent(n, { PERSONAL_CLOUD_SANDBOX: '1' });
    }
  }

  /** Every agent converged (gluster, virt, ha); on timeout each node's log tail and unfinished steps are printed. */
  async waitConverged(what: string, timeoutMs: number): Promise<void> {
    try {
      await waitFor(what, timeoutMs, async () => this.names.every((n) => this.h.snapshot(n)?.converged), 2000);
    } catch (e) {
      for (const n of this.names) console.error(`---- ${n}\n${this.h.logTail(n, 40)}\n${JSON.stringify(this.h.snapshot(n)?.steps.filter((s) => s.state !== 'done'))}`);
      throw e;
    }
  }

  /** The test guest's kernel and initrd on gv0, where `vm create --kernel /mnt/gv0/vm/boot/…` finds them. */
  async stageGuest(guest: { kernel: string; initrd: string }, via = 'node1'): Promise<void> {
    await this.on(via, 'mkdir', ['-p', '/mnt/gv0/vm/boot']);
    await this.on(via, 'cp', [guest.kernel, guest.initrd, '/mnt/gv0/vm/boot/']);
  }

  /** Nodes (of `nodes`, default all) whose libvirtd reports domain `vm` running. */
  async runningOn(vm: string, nodes = this.names): Promise<string[]> {
    const out: string[] = [];
    for (const n of nodes) {
      const r = await this.on(n, 'virsh', ['-c', 'qemu:///system', 'list', '--name', '--state-running'], { allowFail: true });
      if (r.stdout.split('\n').map((x) => x.trim()).includes(vm)) out.push(n);
    }
    return out;
  }

  /** After a power loss: /run and /dev/shm are empty again when the node boots. */
  async reboot(n: string): Promise<void> {
    this.poweredOff.delete(n);
    for (let i = 0; i < 40; i++) {
      if (!(await sh('ip', ['netns', 'pids', this.h.node(n).netns], { allowFail: true })).stdout.trim()) break;
      await sleep(250);
    }
    if (this.h.node(n).agent) return; // still (or again) running: nothing to boot
    await sh('sh', ['-c', `rm -rf '${join(BASE, 'nodes', n, 'run')}'/* '${slugDir(n, '/dev/shm')}'/*`], { allowFail: true });
    this.h.startAgent(n, { PERSONAL_CLOUD_SANDBOX: '1' });
  }

  on(n: string, cmd: string, args: string[], o: { allowFail?: boolean; timeoutMs?: number } = {}) { return this.h.on(n, cmd, args, o); }

  serialLog(n: string, vm: string): string {
    try { return readFileSync(join(slugDir(n, '/var/log/libvirt'), 'qemu', `${vm}-serial.log`), 'utf8'); } catch { return ''; }
  }

  fenceLog(): string { try { return readFileSync(FENCE_LOG, 'utf8'); } catch { return ''; } }

  async teardown(): Promise<void> {
    if (this.watcher) clearInterval(this.watcher);
    await sh('sh', ['-c', `mkdir -p /tmp/pc-ha-harness-logs && for d in ${BASE}/nodes/*; do n=$(basename $d); cp $d/priv-var-log-pacemaker/pacemaker.log /tmp/pc-ha-harness-logs/$n-pacemaker.log; cp $d/priv-var-log-corosync/corosync.log /tmp/pc-ha-harness-logs/$n-corosync.log; cp $d/priv-var-log-libvirt/libvirtd.log /tmp/pc-ha-harness-logs/$n-libvirtd.log; for f in $d/log/mnt-*.log; do cp $f /tmp/pc-ha-harness-logs/$n-$(basename $f); done; done 2>/dev/null; true`], { allowFail: true });
    await this.h.teardown();
    rmSync(HA_DIR, { recursive: true, force: true });
  }
}

/** The builder CLI bundled once (it looks for the repo's package.json, so it lives under node_modules/.cache). */
export async function buildCli(): Promise<string> {
  const { build } = await import('esbuild');
  // (bundled by scripts/run-ts.mjs the module sits in a temp dir of the repo: fall back to the cwd)
  const repo = existsSync(new URL('../../src/cli.ts', import.meta.url)) ? new URL('../../', import.meta.url).pathname : `${process.cwd()}/`;
  const out = join(repo, 'node_modules/.cache/personal-cloud-ha-test/cli.mjs');
  await build({
    entryPoints: [join(repo, 'src/cli.ts')], outfile: out, bundle: true, platform: 'node', format: 'esm', target: 'node18', logLevel: 'error',
    banner: { js: 'import { createRequire as __pcCreateRequire } from "node:module"; const require = __pcCreateRequire(import.meta.url);' },
  });
  return out;
}
