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
import type { Ctx, Check, Step } from './step.js';

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

export const virtStep: Step = {
  name: 'virt',
  async check(ctx): Promise<Check> {
    if (!ctx.plan.ha?.enabled) return { ok: true, detail: 'HA VM stack disabled in cluster.yaml' };
    if (qnetdNode(ctx.plan) === ctx.self.name) return { ok: true, detail: 'no VMs here: this node is the quorum device (corosync-qnetd), no cluster member' };
    const s = await loadSecrets(ctx.env.stateDir);
    if (!s) return { ok: false, waiting: true, detail: 'waiting for the cluster CA (from the leader)' };
    if (!(await certValid(ctx.self, s))) return { ok: false, detail: 'TLS certificate to issue' };
    if ((await readText(LIBVIRTD_CONF)) !== libvirtdConf(options(ctx)) || (await readText(QEMU_CONF)) !== qemuConf(options(ctx))) return { ok: false, detail: 'libvirt configuration to write' };
    if (!(await libvirtdUp())) return { ok: false, detail: 'libvirtd not running' };
    const missing: string[] = [];
    let unmounted = 0;
    for (const p of wantedPools(ctx)) {
      if (!(await mountedAt(p.mountPoint))) { unmounted++; continue; }
      if (!(await poolActive(p.name))) missing.push(`pool ${p.name}`);
    }
    if (ctx.plan.ha.bridges.length && !(await ovsRunning())) missing.push('Open vSwitch (not running)');
    else for (const b of ctx.plan.ha.bridges) if (!(await netActive(b.name))) missing.push(`network ${b.name}`);
    missing.push(...(await exportersMissing()));
    if (missing.length) return { ok: false, detail: `to define: ${missing.join(', ')}` };
    if (unmounted) return { ok: false, waiting: true, detail: 'waiting for volume mounts (storage pools)' };
    return { ok: true, detail: `libvirtd (TLS), ${wantedPools(ctx).length} pools, ${ctx.plan.ha.bridges.length} networks` };
  },

  async apply(ctx) {
    const s = await loadSecrets(ctx.env.stateDir);
    if (!s) return false;
    if (!(await certValid(ctx.self, s))) { await issueCert(ctx.self, s); log.info('virt: TLS certificate issued by the cluster CA'); }
    const o = options(ctx);
    let changed = false;
    for (const [path, text] of [[LIBVIRTD_CONF, libvirtdConf(o)], [QEMU_CONF, qemuConf(o)]] as const) {
      if ((await readText(path)) !== text) { await writeDurable(path, text, 0o644); changed = true; }
    }
    await mkdir('/var/log/libvirt/qemu', { recursive: true });
    if (!(await libvirtdUp())) {
      // bookworm: monolithic libvirtd, TLS through its socket unit
      await startDaemon(DAEMONS.libvirtd, underSystemd() ? ['libvirtd-tls.socket'] : []);
    } else if (changed) {
      await restartDaemon(DAEMONS.libvirtd);
    }
    await waitFor('libvirtd to answer', 120_000, async () => (await virsh(['version'], true)).code === 0);
    for (const p of wantedPools(ctx)) {
      if (!(await mountedAt(p.mountPoint)) || (await poolActive(p.name))) continue;
      if ((await virsh(['pool-info', p.name], true)).code !== 0) {
        await writeDurable(`/run/personal-cloud-pool-${p.name}.xml`, poolXml(p.name, p.path));
        await virsh(['pool-define', `/run/personal-cloud-pool-${p.name}.xml`]);
      }
      await virsh(['pool-autostart', p.name]);
      if (!/State:\s+running/.test((await virsh(['pool-info', p.name])).stdout)) await virsh(['pool-start', p.name]);
    }
    const exp = await exportersMissing();
    if (exp.length) await run('systemctl', ['enable', '--now', ...exp]);
    if (ctx.plan.ha!.bridges.length) {
      if (!(await ovsRunning())) await startOvs();
      for (const c of ovsCommands(ctx.plan.ha!.bridges, sandbox() ? 'netdev' : undefined)) await run('ovs-vsctl', c);
      for (const b of ctx.plan.ha!.bridges) {
        if (await netActive(b.name)) continue;
        if ((await virsh(['net-info', b.name], true)).code !== 0) {
          await writeDurable(`/run/personal-cloud-net-${b.name}.xml`, networkXml(b));
          await virsh(['net-define', `/run/personal-cloud-net-${b.name}.xml`]);
        }
        await virsh(['net-autostart', b.name]);
        if (!/Active:\s+yes/.test((await virsh(['net-info', b.name])).stdout)) await virsh(['net-start', b.name]);
      }
    }
  },
};
