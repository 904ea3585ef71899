// Virtualisation: libvirtd with TLS (certificates from the cluster CA, so live migration is
// authenticated and encrypted), a storage pool per volume folder on the Gluster FUSE mounts,
// and an autostarted libvirt network per Open vSwitch bridge of cluster.yaml.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { run, spawnDetached } from '../exec.js';
import { readText, writeDurable } from '../fsx.js';
import { log } from '../log.js';
import { mountedAt } from '../disks.js';
import { DAEMONS, pidsOf, restartDaemon, running, startDaemon, underSystemd, unitActive, waitFor } from '../ha/procs.js';
import { loadSecrets } from '../ha/secrets.js';
import { clusterNodes, qnetdNode } from '../ha/quorum-device.js';
import { LIBVIRTD_CONF, QEMU_CONF, libvirtdConf, networkXml, ovsCommands, poolXml, qemuConf, type LibvirtOptions } from '../virt/libvirt-conf.js';
import { certValid, issueCert } from '../virt/pki.js';
import { done, todo, waiting, type Ctx, type Step } from './step.js';

const virsh = (args: string[], allowFail = false) => run('virsh', ['-c', 'qemu:///system', ...args], { allowFail, timeoutMs: 60_000 });

/** Test harness only (no systemd, no cgroups): QEMU as root. Set by the harness, never by the installer. */
const sandbox = () => process.env.PERSONAL_CLOUD_SANDBOX === '1';

function options(ctx: Ctx): LibvirtOptions {
  return { allowedNodes: clusterNodes(ctx.plan).map((n) => n.name), sandbox: sandbox() };
}

function wantedPools(ctx: Ctx): { name: string; path: string; mountPoint: string }[] {
  return ctx.plan.volumes
    .filter((v) => v.kind !== 'local' || v.bricks.some((b) => b.node === ctx.self.name))
    .flatMap((v) => v.folders.map((f) => ({ name: `${v.name}-${f}`, path: `${v.mountPoint}/${f}`, mountPoint: v.mountPoint })));
}

async function poolActive(name: string): Promise<boolean> {
  const r = await virsh(['pool-info', name], true);
  return r.code === 0 && /State:\s+running/.test(r.stdout) && /Autostart:\s+yes/.test(r.stdout);
}

async function netActive(name: string): Promise<boolean> {
  const r = await virsh(['net-info', name], true);
  return r.code === 0 && /Active:\s+yes/.test(r.stdout) && /Autostart:\s+yes/.test(r.stdout);
}

const OVS_DB = '/etc/openvswitch/conf.db';

/**
 * Under systemd libvirtd is socket-activated and exits when idle (Debian: --timeout 120): a
 * listening TLS socket is a running libvirtd as far as the cluster is concerned.
 */
async function libvirtdUp(): Promise<boolean> {
  if (await running(DAEMONS.libvirtd)) return true;
  return underSystemd() && unitActive('libvirtd-tls.socket');
}

async function ovsRunning(): Promise<boolean> {
  if (underSystemd()) return unitActive('openvswitch-switch');
  return (await pidsOf('ovsdb-server')).length > 0 && (await pidsOf('ovs-vswitchd')).length > 0;
}

/** Open vSwitch: its units on a real node; in the harness (no systemd) what they run, userspace datapath. */
async function startOvs(): Promise<void> {
  if (underSystemd()) { await run('systemctl', ['enable', '--now', 'openvswitch-switch']); return; }
  for (const d of ['/etc/openvswitch', '/run/openvswitch', '/var/log/openvswitch']) await mkdir(d, { recursive: true });
  if (!existsSync(OVS_DB)) await run('ovsdb-tool', ['create', OVS_DB, '/usr/share/openvswitch/vswitch.ovsschema']);
  if (!(await pidsOf('ovsdb-server')).length) {
    spawnDetached('ovsdb-server', [OVS_DB, '--remote=punix:/run/openvswitch/db.sock', '--pidfile=/run/openvswitch/ovsdb-server.pid', '--log-file=/var/log/openvswitch/ovsdb-server.log']);
  }
  await waitFor('ovsdb-server', 30_000, async () => (await run('ovs-vsctl', ['--no-wait', 'init'], { allowFail: true, timeoutMs: 5000 })).code === 0)
    .catch(async (e: Error) => { throw new Error(`${e.message}: ${((await readText('/var/log/openvswitch/ovsdb-server.log')) ?? '').trim().split('\n').slice(-2).join(' | ')}`); });
  if (!(await pidsOf('ovs-vswitchd')).length) spawnDetached('ovs-vswitchd', ['--pidfile=/run/openvswitch/ovs-vswitchd.pid', '--log-file=/var/log/openvswitch/ovs-vswitchd.log']);
  await waitFor('ovs-vswitchd', 30_000, async () => (await pidsOf('ovs-vswitchd')).length > 0);
}

/** Telemetry as in the how-to; on a real node systemd runs them (the harness has no systemd). */
const EXPORTERS = ['prometheus-node-exporter', 'prometheus-libvirt-exporter'];
async function exportersMissing(): Promise<string[]> {
  if (!underSystemd()) return [];
  const out: string[] = [];
  for (const u of EXPORTERS) if (!(await unitActive(u))) out.push(u);
  return out;
}

export interface VirtSeen {
  /** Nothing to do on this node (HA off, or it is the quorum device), with the reason. */
  none?: string;
  secrets: boolean;
  certValid: boolean;
  /** libvirt configuration files whose text is not ours. */
  confs: { path: string; text: string }[];
  libvirtd: boolean;
  /** Pools on mounted volumes that are not defined, running and autostarted. */
  pools: { name: string; path: string }[];
  poolCount: number;
  unmounted: number;
  ovs: boolean;
  nets: string[];
  exporters: string[];
}

export type VirtAction =
  | { do: 'cert' } | { do: 'conf'; path: string; text: string } | { do: 'libvirtd'; how: 'start' | 'restart' }
  | { do: 'pool'; name: string; path: string } | { do: 'exporters'; units: string[] } | { do: 'ovs' } | { do: 'net'; name: string };

export const virtStep: Step<VirtSeen, VirtAction> = {
  name: 'virt',
  loop: 'virt',
  async observe(ctx) {
    const blank: VirtSeen = { secrets: false, certValid: false, confs: [], libvirtd: false, pools: [], poolCount: 0, unmounted: 0, ovs: false, nets: [], exporters: [] };
    if (!ctx.plan.ha?.enabled) return { ...blank, none: 'HA VM stack disabled in cluster.yaml' };
    if (qnetdNode(ctx.plan) === ctx.self.name) return { ...blank, none: 'no VMs here: this node is the quorum device (corosync-qnetd), no cluster member' };
    const s = await loadSecrets(ctx.env.stateDir);
    if (!s) return blank;
    const o = options(ctx);
    const confs: VirtSeen['confs'] = [];
    for (const [path, text] of [[LIBVIRTD_CONF, libvirtdConf(o)], [QEMU_CONF, qemuConf(o)]] as const) if ((await readText(path)) !== text) confs.push({ path, text });
    const libvirtd = await libvirtdUp();
    const seen: VirtSeen = { ...blank, secrets: true, certValid: await certValid(ctx.self, s), confs, libvirtd, poolCount: wantedPools(ctx).length, exporters: await exportersMissing() };
    for (const p of wantedPools(ctx)) {
      if (!(await mountedAt(p.mountPoint))) { seen.unmounted++; continue; }
      // a libvirtd that is down is not asked (virsh would start it through its socket)
      if (!libvirtd || !(await poolActive(p.name))) seen.pools.push({ name: p.name, path: p.path });
    }
    seen.ovs = ctx.plan.ha.bridges.length > 0 && (await ovsRunning());
    for (const b of ctx.plan.ha.bridges) if (!seen.ovs || !libvirtd || !(await netActive(b.name))) seen.nets.push(b.name);
    return seen;
  },
  plan(ctx, seen) {
    if (seen.none) return done(seen.none);
    if (!seen.secrets) return waiting('waiting for the cluster CA (from the leader)');
    const actions: VirtAction[] = [];
    if (!seen.certValid) actions.push({ do: 'cert' });
    actions.push(...seen.confs.map((c) => ({ do: 'conf' as const, ...c })));
    if (!seen.libvirtd) actions.push({ do: 'libvirtd', how: 'start' });
    else if (seen.confs.length) actions.push({ do: 'libvirtd', how: 'restart' });
    actions.push(...seen.pools.map((p) => ({ do: 'pool' as const, ...p })));
    if (seen.exporters.length) actions.push({ do: 'exporters', units: seen.exporters });
    if (seen.nets.length) actions.push({ do: 'ovs' }, ...seen.nets.map((name) => ({ do: 'net' as const, name })));
    if (actions.length) {
      const missing = [...seen.pools.map((p) => `pool ${p.name}`), ...(ctx.plan.ha!.bridges.length && !seen.ovs ? ['Open vSwitch (not running)'] : seen.nets.map((n) => `network ${n}`)), ...seen.exporters];
      const detail = !seen.certValid ? 'TLS certificate to issue' : seen.confs.length ? 'libvirt configuration to write' : !seen.libvirtd ? 'libvirtd not running' : `to define: ${missing.join(', ')}`;
      return todo(actions, detail);
    }
    if (seen.unmounted) return waiting('waiting for volume mounts (storage pools)');
    return done(`libvirtd (TLS), ${seen.poolCount} pools, ${ctx.plan.ha!.bridges.length} networks`);
  },
  async apply(ctx, actions) {
    const s = await loadSecrets(ctx.env.stateDir);
    if (!s) return;
    let answering = false;
    const libvirtdAnswers = async () => {
      if (!answering) await waitFor('libvirtd to answer', 120_000, async () => (await virsh(['version'], true)).code === 0);
      answering = true;
    };
    for (const a of actions) {
      switch (a.do) {
        case 'cert': await issueCert(ctx.self, s); log.info('virt: TLS certificate issued by the cluster CA'); break;
        case 'conf': await writeDurable(a.path, a.text, 0o644); break;
        case 'libvirtd':
          await mkdir('/var/log/libvirt/qemu', { recursive: true });
          // bookworm: monolithic libvirtd, TLS through its socket unit
          if (a.how === 'start') await startDaemon(DAEMONS.libvirtd, underSystemd() ? ['libvirtd-tls.socket'] : []);
          else await restartDaemon(DAEMONS.libvirtd);
          break;
        case 'pool':
          await libvirtdAnswers();
          if ((await virsh(['pool-info', a.name], true)).code !== 0) {
            await writeDurable(`/run/personal-cloud-pool-${a.name}.xml`, poolXml(a.name, a.path));
            await virsh(['pool-define', `/run/personal-cloud-pool-${a.name}.xml`]);
          }
          await virsh(['pool-autostart', a.name]);
          if (!/State:\s+running/.test((await virsh(['pool-info', a.name])).stdout)) await virsh(['pool-start', a.name]);
          break;
        case 'exporters': await run('systemctl', ['enable', '--now', ...a.units]); break;
        case 'ovs':
          if (!(await ovsRunning())) await startOvs();
          for (const c of ovsCommands(ctx.plan.ha!.bridges, sandbox() ? 'netdev' : undefined)) await run('ovs-vsctl', c);
          break;
        case 'net': {
          await libvirtdAnswers();
          const b = ctx.plan.ha!.bridges.find((x) => x.name === a.name)!;
          if (await netActive(b.name)) break;
          if ((await virsh(['net-info', b.name], true)).code !== 0) {
            await writeDurable(`/run/personal-cloud-net-${b.name}.xml`, networkXml(b));
            await virsh(['net-define', `/run/personal-cloud-net-${b.name}.xml`]);
          }
          await virsh(['net-autostart', b.name]);
          if (!/Active:\s+yes/.test((await virsh(['net-info', b.name])).stdout)) await virsh(['net-start', b.name]);
          break;
        }
      }
    }
  },
};
