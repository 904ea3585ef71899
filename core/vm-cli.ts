// `vm …` and `node drain|resume` as command lines, shared by the builder CLI on the admin
// machine (src/commands/vm.ts, node.ts) and the agent's CLI on a node (firstboot/main.ts):
// the same options, requests, calls to an agent's authenticated channel and output.
import type { AgentPlan } from './plan-types.js';
import { EXIT, UserError } from './errors.js';
import { call, CallError } from './channel.js';
import { AGENT_PORT } from './paths.js';
import { requireNode } from './plan-nodes.js';
import { VM_OP_TIMEOUT_S, type NodeRequest, type VmCreate, type VmInfo, type VmRequest } from './vm-types.js';

/** Who we are to the cluster: the key (derived join key), our name in requests, the plan. */
export interface AgentTarget { key: string; from: string; plan: AgentPlan; local?: string }

export const TARGET_OPTIONS = { via: { type: 'string' }, port: { type: 'string' }, json: { type: 'boolean' } } as const;

export const VM_OPTIONS = {
  memory: { type: 'string' }, vcpus: { type: 'string' }, 'disk-size': { type: 'string' }, kernel: { type: 'string' }, initrd: { type: 'string' },
  cmdline: { type: 'string' }, cdrom: { type: 'string' }, network: { type: 'string', multiple: true }, tcg: { type: 'boolean' }, 'delete-disk': { type: 'boolean' }, 'op-timeout': { type: 'string' },
} as const;

export const TARGET_HELP = `      --via NODE       ask this node's agent (default: this node, then each node in turn)
      --port N         agent port (default ${AGENT_PORT})
      --json           machine-readable output`;

export function vmHelp(prog: string, reaching: string): string {
  return `Usage: ${prog} vm <create|list|start|stop|migrate|remove> [ARGS] [OPTIONS]

  vm create NAME [--memory MIB] [--vcpus N] [--disk-size SIZE] [--kernel PATH --initrd PATH --cmdline TEXT]
                 [--cdrom PATH] [--network NAME]... [--tcg] [--op-timeout SECONDS]
      a qcow2 disk and the domain XML in /mnt/gv0/vm/NAME/ (on Gluster), and a Pacemaker
      VirtualDomain resource (allow-migrate, monitored): Pacemaker starts it on a node
  vm list                     every VM, its state and the node it runs on
  vm start|stop NAME          let Pacemaker start it / stop it (it stays stopped)
  vm migrate NAME NODE        live-migrate NAME to NODE
  vm remove NAME [--delete-disk]  stop it and remove its resource (the disk is kept unless asked)

Paths (kernel, initrd, ISO) must be on a replicated volume, e.g. /mnt/gv1/iso/debian.iso.
--tcg makes a domain of type qemu (no KVM), as in the test harness.
--op-timeout bounds Pacemaker's start, stop and live migration of the VM (default ${VM_OP_TIMEOUT_S} s):
raise it for VMs with much memory (a migration copies all of it) or slow nodes.

Reaching the cluster:
${reaching}
`;
}

export function nodeHelp(prog: string, reaching: string): string {
  return `Usage: ${prog} node <drain|resume> NAME [OPTIONS]

  node drain NAME    live-migrate every VM off NAME and keep new ones away (maintenance)
  node resume NAME   NAME may run VMs again (running VMs are not moved back)

Reaching the cluster:
${reaching}
`;
}

type Values = { [K in keyof typeof VM_OPTIONS]?: (typeof VM_OPTIONS)[K] extends { multiple: true } ? string[] : (typeof VM_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** The request a `vm` command line asks for; usage errors name what is wrong. */
export function vmRequest(prog: string, positionals: string[], v: Values): VmRequest {
  const [action, name, node] = positionals;
  const need = (n: number, usage: string) => { if (positionals.length !== n) throw new UserError(`vm ${action}: usage: ${prog} vm ${usage}`, EXIT.usage); };
  const int = (s: string | undefined, what: string) => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isInteger(n) || n <= 0) throw new UserError(`vm create: --${what} must be a positive whole number, got "${s}"`, EXIT.usage);
    return n;
  };
  switch (action) {
    case 'create': {
      need(2, 'create NAME [OPTIONS]');
      if (v['disk-size'] !== undefined && !/^\d+[KMGT]?$/.test(v['disk-size'])) throw new UserError(`vm create: --disk-size must look like 20G, 512M, got "${v['disk-size']}"`, EXIT.usage);
      if ((v.initrd || v.cmdline) && !v.kernel) throw new UserError('vm create: --initrd and --cmdline need --kernel', EXIT.usage);
      const vm: VmCreate = {
        name,
        ...(v.memory ? { memoryMiB: int(v.memory, 'memory') } : {}), ...(v.vcpus ? { vcpus: int(v.vcpus, 'vcpus') } : {}),
        ...(v['disk-size'] ? { diskSize: v['disk-size'] } : {}), ...(v.kernel ? { kernel: v.kernel } : {}), ...(v.initrd ? { initrd: v.initrd } : {}),
        ...(v.cmdline ? { cmdline: v.cmdline } : {}), ...(v.cdrom ? { cdrom: v.cdrom } : {}), networks: v.network ?? [], domainType: v.tcg ? 'qemu' : 'kvm',
        ...(v['op-timeout'] ? { opTimeoutS: int(v['op-timeout'], 'op-timeout') } : {}),
      };
      return { action: 'create', vm };
    }
    case 'list': need(1, 'list'); return { action: 'list' };
    case 'start': case 'stop': need(2, `${action} NAME`); return { action, name };
    case 'remove': need(2, 'remove NAME [--delete-disk]'); return { action, name, deleteDisk: Boolean(v['delete-disk']) };
    case 'migrate': need(3, 'migrate NAME NODE'); return { action, name, node };
    default: throw new UserError(`vm: ${action ? `unknown action "${action}"` : 'an action is required'} (create, list, start, stop, migrate, remove)\nRun \`${prog} vm --help\` for usage.`, EXIT.usage);
  }
}

/** Without a plan only the command line's shape is checked (before reaching for the cluster's key). */
export function nodeRequest(prog: string, positionals: string[], plan?: AgentPlan): NodeRequest {
  const [action, name] = positionals;
  if ((action !== 'drain' && action !== 'resume') || positionals.length !== 2) {
    throw new UserError(`node: usage: ${prog} node <drain|resume> NAME\nRun \`${prog} node --help\` for usage.`, EXIT.usage);
  }
  if (plan) requireNode(plan, name, `node ${action}`);
  return { action, node: name };
}

export function parsePort(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const p = Number(v);
  if (!(Number.isInteger(p) && p > 0 && p < 65536)) throw new UserError(`--port must be 1-65535, got "${v}"`, EXIT.usage);
  return p;
}

/** Sends one request to the first agent that answers: --via, else this node, else every node in turn. */
export async function callCluster<T>(t: AgentTarget, op: string, body: unknown, o: { via?: string; port?: number; timeoutMs: number }): Promise<{ node: string; data: T }> {
  const order = t.plan.nodes.filter((n) => !o.via || n.name === o.via).sort((a, b) => Number(b.name === t.local) - Number(a.name === t.local));
  if (!order.length) throw new UserError(`--via ${o.via}: no such node (nodes: ${t.plan.nodes.map((n) => n.name).join(', ')})`, EXIT.usage);
  const errors: string[] = [];
  for (const n of order) {
    const address = n.name === t.local ? '127.0.0.1' : n.network.dhcp ? n.fqdn : n.network.address;
    try {
      return await call<T>(t.key, t.from, address, o.port ?? AGENT_PORT, op, body, o.timeoutMs);
    } catch (e) {
      if (e instanceof CallError && e.kind === 'error') throw new UserError(`${n.name}: ${e.message.replace(/^[^:]*: /, '')}`, EXIT.failure);
      errors.push(`${n.name}: ${(e as Error).message}`);
    }
  }
  throw new UserError(`no agent answered: ${errors.join('; ')}`, EXIT.failure);
}

export function formatVms(vms: VmInfo[]): string {
  if (!vms.length) return 'no VMs\n';
  return vms.map((v) => `${v.name.padEnd(20)} ${(v.failed ? 'FAILED' : v.role).padEnd(10)} ${v.nodes.join(',') || '-'}\n`).join('');
}

function formatVmResult(r: VmRequest, data: unknown): string {
  if (r.action === 'list') return formatVms(data as VmInfo[]);
  if (r.action === 'remove') { const kept = (data as { diskKept?: string }).diskKept; return `removed ${r.name}${kept ? ` (disk kept: ${kept})` : ''}\n`; }
  const i = data as VmInfo & { seconds?: number };
  return `${i.name}: ${i.role}${i.nodes.length ? ` on ${i.nodes.join(',')}` : ''}${i.seconds !== undefined ? ` (${i.seconds.toFixed(1)} s)` : ''}\n`;
}

const CALL_MS = 330_000;

interface RunOptions { via?: string; port?: string; json?: boolean }

export async function runVm(t: AgentTarget, r: VmRequest, o: RunOptions): Promise<void> {
  // create waits for Pacemaker's start, bounded by the VM's own op timeout
  const timeoutMs = r.action === 'create' ? Math.max(CALL_MS, ((r.vm.opTimeoutS ?? VM_OP_TIMEOUT_S) + 120) * 1000) : CALL_MS;
  const res = await callCluster<unknown>(t, 'vm', r, { ...(o.via ? { via: o.via } : {}), ...(o.port ? { port: parsePort(o.port) } : {}), timeoutMs });
  process.stdout.write(o.json ? `${JSON.stringify(res.data, null, 2)}\n` : formatVmResult(r, res.data));
}

export async function runNode(t: AgentTarget, r: NodeRequest, o: RunOptions): Promise<void> {
  const res = await callCluster<{ node: string; standby: boolean; vmsOnNode: string[] }>(t, 'node', r, { ...(o.via ? { via: o.via } : {}), ...(o.port ? { port: parsePort(o.port) } : {}), timeoutMs: CALL_MS });
  process.stdout.write(o.json ? `${JSON.stringify(res.data, null, 2)}\n`
    : r.action === 'drain' ? `${r.node} drained: no VM runs there (standby)\n` : `${r.node} resumed: it may run VMs again\n`);
}

/** On an installed node `personal-cloud …` runs the agent bundle's CLI (vm, node, status). */
export const cliWrapper = (agent: string) => `#!/bin/sh\n# Written by personal-cloud-agent: the cluster's CLI on this node (vm, node, status).\nexec /usr/bin/node ${agent} "$@"\n`;
