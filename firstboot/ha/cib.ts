// Pacemaker configuration as CIB XML fragments (applied with cibadmin): cluster properties
// suited to VMs, fencing devices from the plan, and one VirtualDomain primitive per VM.
import { VM_OP_TIMEOUT_S } from '../../core/vm-types.js';
import type { AgentPlan } from '../../core/plan-types.js';
import { bmcPasswordScript } from './bmc.js';
import { clusterNodes } from './quorum-device.js';

export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const nv = (set: string, name: string, value: string) => `<nvpair id="${esc(`${set}-${name}`)}" name="${esc(name)}" value="${esc(value)}"/>`;

export const PROPS_ID = 'cib-bootstrap-options';

export function clusterProperties(plan: AgentPlan): Record<string, string> {
  const f = plan.ha!.fencing;
  return {
    'stonith-enabled': f.kind === 'none-unsafe' ? 'false' : 'true',
    // without quorum nothing runs: a partitioned minority stops its VMs instead of racing
    'no-quorum-policy': 'stop',
    'stonith-timeout': '30s',
    'cluster-recheck-interval': '1min',
    ...(f.kind === 'sbd' ? { 'stonith-watchdog-timeout': `${2 * f.watchdogTimeoutS}s` } : {}),
  };
}

export function propertiesXml(props: Record<string, string>): string {
  return `<cluster_property_set id="${PROPS_ID}">${Object.entries(props).map(([k, v]) => nv(PROPS_ID, k, v)).join('')}</cluster_property_set>`;
}

/** Resource defaults: a VM stays where it is (no bouncing back after a node returns). */
export function rscDefaultsXml(): string {
  const id = 'rsc-defaults-options';
  return `<rsc_defaults><meta_attributes id="${id}">${nv(id, 'resource-stickiness', '100')}${nv(id, 'migration-threshold', '3')}${nv(id, 'failure-timeout', '10min')}</meta_attributes></rsc_defaults>`;
}

export interface FenceDevice { id: string; xml: string; constraints: string[] }

/** Fence devices for the cluster members (a quorum device node is none: nothing fences it). */
export function fenceDevices(plan: AgentPlan): FenceDevice[] {
  const f = plan.ha!.fencing;
  const members = clusterNodes(plan);
  const names = members.map((n) => n.name);
  if (f.kind === 'agent') {
    const id = `fence-${f.agent.replace(/^fence_/, '')}`;
    const params = { ...f.params, pcmk_host_list: names.join(' ') };
    return [{ id, constraints: [], xml: `<primitive id="${esc(id)}" class="stonith" type="${esc(f.agent)}"><instance_attributes id="${esc(id)}-ia">${Object.entries(params).map(([k, v]) => nv(`${id}-ia`, k, v)).join('')}</instance_attributes><operations><op id="${esc(id)}-monitor" name="monitor" interval="60s" timeout="20s"/></operations></primitive>` }];
  }
  if (f.kind === 'ipmi') {
    return members.filter((n) => n.bmc).map((n) => {
      const id = `fence-ipmi-${n.name}`;
      const p = { ip: n.bmc!.address, username: n.bmc!.user, password_script: bmcPasswordScript(n.name), lanplus: '1', pcmk_host_list: n.name };
      return {
        id,
        xml: `<primitive id="${esc(id)}" class="stonith" type="fence_ipmilan"><instance_attributes id="${id}-ia">${Object.entries(p).map(([k, v]) => nv(`${id}-ia`, k, v)).join('')}</instance_attributes><operations><op id="${id}-monitor" name="monitor" interval="60s" timeout="20s"/></operations></primitive>`,
        // a node never runs the device that fences itself
        constraints: [`<rsc_location id="${id}-not-self" rsc="${id}" node="${esc(n.name)}" score="-INFINITY"/>`],
      };
    });
  }
  return []; // sbd: the watchdog fences (stonith-watchdog-timeout); none-unsafe: nothing
}

export const vmResourceId = (vm: string) => `vm-${vm}`;


export interface VmResourceOptions {
  configPath: string;
  monitorIntervalS?: number;
  /** start/stop/migrate timeout (s): a large VM's live migration can take minutes */
  opTimeoutS?: number;
}

export function vmPrimitiveXml(vm: string, o: VmResourceOptions): string {
  const id = vmResourceId(vm);
  const ia = `${id}-instance_attributes`;
  const ma = `${id}-meta_attributes`;
  const opTimeout = `${o.opTimeoutS ?? VM_OP_TIMEOUT_S}s`;
  const op = (name: string, interval: string, timeout: string) => `<op id="${id}-${name}-${interval}" name="${name}" interval="${interval}" timeout="${timeout}"/>`;
  return `<primitive id="${id}" class="ocf" provider="heartbeat" type="VirtualDomain">`
    + `<instance_attributes id="${ia}">${nv(ia, 'config', o.configPath)}${nv(ia, 'hypervisor', 'qemu:///system')}${nv(ia, 'migration_transport', 'tls')}${nv(ia, 'migrate_options', '--tls')}</instance_attributes>`
    + `<meta_attributes id="${ma}">${nv(ma, 'allow-migrate', 'true')}${nv(ma, 'target-role', 'Started')}</meta_attributes>`
    // generous timeouts: they bound only a hung operation (a dead node is fenced through corosync,
    // not found by a monitor), and a busy node (resync, many guests starting) can answer slowly
    + `<operations>${op('monitor', `${o.monitorIntervalS ?? 10}s`, '90s')}${op('start', '0s', opTimeout)}${op('stop', '0s', opTimeout)}${op('migrate_to', '0s', opTimeout)}${op('migrate_from', '0s', opTimeout)}</operations>`
    + '</primitive>';
}
