// VM lifecycle on the cluster, run by the agent of whichever node is asked (the `vm` and
// `node` operations of its channel): a VM is a qcow2 disk plus domain XML on gv0 and an
// ocf:heartbeat:VirtualDomain resource (allow-migrate) that Pacemaker places, moves and
// restarts. Pacemaker with fencing is what keeps a VM from running on two nodes at once.
import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LIBVIRT_QEMU_ID } from '../../core/ids.js';
import { VM_NAME, VM_NAME_RULE, VM_OP_TIMEOUT_S, type NodeRequest, type VmCreate, type VmInfo, type VmRequest } from '../../core/vm-types.js';
import type { AgentPlan } from '../../core/plan-types.js';
import { run } from '../exec.js';
import { exists, writeDurable } from '../fsx.js';
import { cibDelete, cibQuery, crmMon, whereRuns } from '../ha/pcmk.js';
import type { PcmkState } from '../../core/ha-status.js';
import { vmPrimitiveXml, vmResourceId } from '../ha/cib.js';
import { domainXml } from './libvirt-conf.js';


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class VmError extends Error {}

export const vmDir = (plan: AgentPlan, name: string) => join(plan.ha!.vmDir, name);
export const serialLog = (name: string) => `/var/log/libvirt/qemu/${name}-serial.log`;

function onShared(plan: AgentPlan, path: string | undefined, what: string): void {
  if (path === undefined) return;
  const shared = plan.volumes.filter((v) => v.kind === 'replicated').map((v) => `${v.mountPoint}/`);
  if (!shared.some((p) => path.startsWith(p)) || path.includes('/../')) throw new VmError(`${what} ${path} must be on a replicated volume (${shared.join(', ')}) so every node can start the VM`);
}

export function vmList(st: PcmkState): VmInfo[] {
  return st.resources.filter((r) => r.agent === 'ocf:heartbeat:VirtualDomain' || r.agent === 'ocf::heartbeat:VirtualDomain').map((r) => ({
    name: r.id.replace(/^vm-/, ''), resource: r.id, role: r.role, nodes: r.nodes, failed: r.failed, ...(r.targetRole ? { targetRole: r.targetRole } : {}),
  }));
}

async function waitState(what: string, timeoutMs: number, ok: (s: PcmkState) => boolean): Promise<PcmkState> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = await crmMon().catch(() => null);
    if (s && ok(s)) return s;
    if (Date.now() > end) throw new VmError(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(250);
  }
}


export async function vmCreate(plan: AgentPlan, v: VmCreate): Promise<VmInfo> {
  if (!VM_NAME.test(v.name)) throw new VmError(`VM name "${v.name}": use ${VM_NAME_RULE}`);
  onShared(plan, v.kernel, 'kernel'); onShared(plan, v.initrd, 'initrd'); onShared(plan, v.cdrom, 'ISO');
  const id = vmResourceId(v.name);
  if ((await cibQuery('resources')).includes(`id="${id}"`)) throw new VmError(`a VM named ${v.name} already exists`);
  const dir = vmDir(plan, v.name);
  const disk = join(dir, 'disk.qcow2');
  const xmlPath = join(dir, `${v.name}.xml`);
  if (await exists(xmlPath)) throw new VmError(`${xmlPath} already exists (a removed VM's files?): remove it or pick another name`);
  await mkdir(dir, { recursive: true });
  await chown(dir, LIBVIRT_QEMU_ID, LIBVIRT_QEMU_ID).catch(() => undefined);
  if (!(await exists(disk))) await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, v.diskSize ?? '10G']);
  await chown(disk, LIBVIRT_QEMU_ID, LIBVIRT_QEMU_ID).catch(() => undefined);
  await writeDurable(xmlPath, domainXml({
    name: v.name, memoryMiB: v.memoryMiB ?? 1024, vcpus: v.vcpus ?? 1, disk,
    ...(v.kernel ? { kernel: v.kernel } : {}), ...(v.initrd ? { initrd: v.initrd } : {}), ...(v.cmdline ? { cmdline: v.cmdline } : {}), ...(v.cdrom ? { cdrom: v.cdrom } : {}),
    networks: v.networks ?? [], serialLog: serialLog(v.name), domainType: v.domainType ?? 'kvm',
  }), 0o644);
  return vmRegister(v.name, xmlPath, v.opTimeoutS);
}

/** Hands a VM whose definition is in place to Pacemaker (a VirtualDomain resource) and waits for it to run. */
export async function vmRegister(name: string, xmlPath: string, opTimeoutS?: number): Promise<VmInfo> {
  const id = vmResourceId(name);
  await run('cibadmin', ['--create', '-o', 'resources', '--xml-text', vmPrimitiveXml(name, { configPath: xmlPath, ...(opTimeoutS ? { opTimeoutS } : {}) })], { timeoutMs: 30_000 });
  const st = await waitState(`${name} to start`, ((opTimeoutS ?? VM_OP_TIMEOUT_S) + 60) * 1000, (s) => whereRuns(s, id).length === 1);
  return vmList(st).find((x) => x.resource === id)!;
}

async function setTargetRole(id: string, role: 'Started' | 'Stopped'): Promise<void> {
  await run('crm_resource', ['--resource', id, '--meta', '--set-parameter', 'target-role', '--parameter-value', role], { timeoutMs: 30_000 });
}

async function known(name: string): Promise<string> {
  const id = vmResourceId(name);
  if (!(await cibQuery('resources')).includes(`id="${id}"`)) throw new VmError(`no VM named ${name}`);
  return id;
}

export async function vmStart(name: string): Promise<VmInfo> {
  const id = await known(name);
  await setTargetRole(id, 'Started');
  return vmList(await waitState(`${name} to start`, 180_000, (s) => whereRuns(s, id).length === 1)).find((x) => x.resource === id)!;
}

/** The VM resource's stop timeout (s) from the CIB: a guest that ignores the shutdown request is destroyed only then. */
async function stopTimeoutS(id: string): Promise<number> {
  const xml = await cibQuery('resources').catch(() => '');
  const prim = new RegExp(`<primitive id="${id}"[\\s\\S]*?</primitive>`).exec(xml)?.[0] ?? '';
  const t = /<op [^>]*name="stop"[^>]*timeout="(\d+)s?"/.exec(prim)?.[1];
  return t ? Number(t) : VM_OP_TIMEOUT_S;
}

export async function vmStop(name: string): Promise<VmInfo> {
  const id = await known(name);
  const timeoutS = await stopTimeoutS(id);
  await setTargetRole(id, 'Stopped');
  // (stopped, not merely not started: while Pacemaker says "Stopping" QEMU still holds the disk)
  return vmList(await waitState(`${name} to stop`, (timeoutS + 60) * 1000, (s) => { const r = s.resources.find((x) => x.id === id); return !r || (!r.active && r.role === 'Stopped'); })).find((x) => x.resource === id)!;
}

export async function vmRemove(plan: AgentPlan, name: string, deleteDisk = false): Promise<{ removed: string; diskKept?: string }> {
  const id = await known(name);
  await vmStop(name);
  await cibDelete('resources', `<primitive id="${id}"/>`);
  await run('crm_resource', ['--cleanup', '--resource', id], { allowFail: true });
  const dir = vmDir(plan, name);
  if (deleteDisk) { await run('rm', ['-rf', '--', dir]); return { removed: name }; }
  await run('mv', ['--', join(dir, `${name}.xml`), join(dir, `${name}.xml.removed-${Date.now()}`)], { allowFail: true });
  return { removed: name, diskKept: join(dir, 'disk.qcow2') };
}

/** Live migration through Pacemaker (VirtualDomain migrate_to/migrate_from), then the move constraint is cleared. */
export async function vmMigrate(name: string, node: string): Promise<VmInfo & { seconds: number }> {
  const id = await known(name);
  const t = Date.now();
  await run('crm_resource', ['--move', '--resource', id, '--node', node], { timeoutMs: 30_000 });
  try {
    const st = await waitState(`${name} to run on ${node}`, 180_000, (s) => { const w = whereRuns(s, id); return w.length === 1 && w[0] === node; });
    return { ...vmList(st).find((x) => x.resource === id)!, seconds: (Date.now() - t) / 1000 };
  } finally {
    await run('crm_resource', ['--clear', '--resource', id], { allowFail: true }); // stickiness keeps it there
  }
}

/** Maintenance: standby makes Pacemaker live-migrate every VM off the node; resume lifts it (VMs stay put). */
export async function nodeDrain(node: string, on: boolean): Promise<{ node: string; standby: boolean; vmsOnNode: string[] }> {
  const st0 = await crmMon();
  if (!st0.nodes.some((n) => n.name === node)) throw new VmError(`no cluster node named ${node} (nodes: ${st0.nodes.map((n) => n.name).join(', ')})`);
  await run('crm_attribute', ['--node', node, '--name', 'standby', '--update', on ? 'on' : 'off'], { timeoutMs: 30_000 });
  const st = await waitState(on ? `every VM off ${node}` : `${node} to leave standby`, 300_000, (s) => {
    const n = s.nodes.find((x) => x.name === node);
    return on ? Boolean(n?.standby) && vmList(s).every((v) => !v.nodes.includes(node)) : !n?.standby;
  });
  return { node, standby: on, vmsOnNode: vmList(st).filter((v) => v.nodes.includes(node)).map((v) => v.name) };
}

export async function handleVm(plan: AgentPlan, r: VmRequest): Promise<unknown> {
  if (!plan.ha?.enabled) throw new VmError('the HA VM stack is disabled in cluster.yaml');
  switch (r.action) {
    case 'create': return vmCreate(plan, r.vm);
    case 'list': return vmList(await crmMon());
    case 'start': return vmStart(r.name);
    case 'stop': return vmStop(r.name);
    case 'remove': return vmRemove(plan, r.name, r.deleteDisk);
    case 'migrate': return vmMigrate(r.name, r.node);
    default: throw new VmError(`unknown vm action ${(r as { action: string }).action}`);
  }
}

export async function handleNode(r: NodeRequest): Promise<unknown> {
  if (r.action !== 'drain' && r.action !== 'resume') throw new VmError(`unknown node action ${r.action}`);
  return nodeDrain(r.node, r.action === 'drain');
}
