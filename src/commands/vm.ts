// `personal-cloud vm …`: VMs of the HA cluster, through any node's agent (authenticated
// channel). From the admin machine the key is derived from cluster.yaml's secret; on a node
// the agent's own files (/etc/personal-cloud: cluster.json + join.key) are used.
import type { Command } from './command.js';
import { parseCommandArgs, writeJson } from './command.js';
import { loadConfig } from '../config/load.js';
import { deriveJoinKey } from '../plan/keys.js';
import { plan as makePlan } from '../plan/plan.js';
import type { Plan } from '../plan/types.js';
import { EXIT, UserError } from '../util/errors.js';
import { call, CallError } from '../../firstboot/channel.js';
import { loadAgentConfig } from '../../firstboot/config.js';
import { AGENT_CONFIG_DIR } from '../render/agent-files.js';
import { AGENT_PORT } from '../../firstboot/env.js';
import type { VmCreate, VmInfo, VmRequest } from '../../firstboot/virt/vm.js';

export interface AgentTarget { key: string; from: string; plan: Plan; local?: string }

export const TARGET_OPTIONS = {
  config: { type: 'string', short: 'c' }, 'agent-dir': { type: 'string' }, via: { type: 'string' }, port: { type: 'string' }, json: { type: 'boolean' },
} as const;

export const TARGET_HELP = `Reaching the cluster:
  -c, --config FILE    cluster.yaml (admin machine; the key is derived from its secret)
      --agent-dir DIR  on a node: the agent's files (default ${AGENT_CONFIG_DIR} when --config is absent)
      --via NODE       ask this node's agent (default: this node, then each node in turn)
      --port N         agent port (default ${AGENT_PORT})
      --json           machine-readable output`;

export async function resolveTarget(v: { config?: string; 'agent-dir'?: string }): Promise<AgentTarget> {
  if (v.config) {
    const { config } = await loadConfig(v.config);
    return { key: deriveJoinKey(config.secret, config.name), from: 'admin', plan: makePlan(config) };
  }
  const dir = v['agent-dir'] ?? AGENT_CONFIG_DIR;
  try {
    const c = await loadAgentConfig(dir);
    return { key: c.key, from: c.node.name, plan: c.plan, local: c.node.name };
  } catch (e) {
    throw new UserError(`no --config given and this is not a configured node (${(e as Error).message})`, EXIT.usage);
  }
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

export function parsePort(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const p = Number(v);
  if (!(Number.isInteger(p) && p > 0 && p < 65536)) throw new UserError(`--port must be 1-65535, got "${v}"`, EXIT.usage);
  return p;
}

const HELP = `Usage: personal-cloud vm <create|list|start|stop|migrate|remove> [ARGS] [OPTIONS]

  vm create NAME [--memory MIB] [--vcpus N] [--disk-size SIZE] [--kernel PATH --initrd PATH --cmdline TEXT]
                 [--cdrom PATH] [--network NAME]... [--tcg]
      a qcow2 disk and the domain XML in /mnt/gv0/vm/NAME/ (on Gluster), and a Pacemaker
      VirtualDomain resource (allow-migrate, monitored): Pacemaker starts it on a node
  vm list                     every VM, its state and the node it runs on
  vm start|stop NAME          let Pacemaker start it / stop it (it stays stopped)
  vm migrate NAME NODE        live-migrate NAME to NODE
  vm remove NAME [--delete-disk]  stop it and remove its resource (the disk is kept unless asked)

Paths (kernel, initrd, ISO) must be on a replicated volume, e.g. /mnt/gv1/iso/debian.iso.
--tcg makes a domain of type qemu (no KVM), as in the test harness.

${TARGET_HELP}
`;

function printVms(vms: VmInfo[]): void {
  if (!vms.length) { process.stdout.write('no VMs\n'); return; }
  for (const v of vms) process.stdout.write(`${v.name.padEnd(20)} ${(v.failed ? 'FAILED' : v.role).padEnd(10)} ${v.nodes.join(',') || '-'}\n`);
}

export const vmCommand: Command = {
  name: 'vm',
  summary: 'create, list, start, stop, migrate and remove VMs of the HA cluster',
  help: HELP,
  async run(argv) {
    const args = parseCommandArgs(vmCommand, argv, {
      ...TARGET_OPTIONS, memory: { type: 'string' }, vcpus: { type: 'string' }, 'disk-size': { type: 'string' }, kernel: { type: 'string' }, initrd: { type: 'string' },
      cmdline: { type: 'string' }, cdrom: { type: 'string' }, network: { type: 'string', multiple: true }, tcg: { type: 'boolean' }, 'delete-disk': { type: 'boolean' },
    });
    if (!args) return EXIT.ok;
    const v = args.values;
    const [action, name, node] = args.positionals;
    const need = (n: number, usage: string) => { if (args.positionals.length !== n) throw new UserError(`vm ${action}: usage: personal-cloud vm ${usage}`, EXIT.usage); };
    const int = (s: string | undefined, what: string) => {
      if (s === undefined) return undefined;
      const n = Number(s);
      if (!Number.isInteger(n) || n <= 0) throw new UserError(`vm create: --${what} must be a positive whole number, got "${s}"`, EXIT.usage);
      return n;
    };
    let req: VmRequest;
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
        };
        req = { action: 'create', vm };
        break;
      }
      case 'list': need(1, 'list'); req = { action: 'list' }; break;
      case 'start': case 'stop': need(2, `${action} NAME`); req = { action, name }; break;
      case 'remove': need(2, 'remove NAME [--delete-disk]'); req = { action, name, deleteDisk: Boolean(v['delete-disk']) }; break;
      case 'migrate': need(3, 'migrate NAME NODE'); req = { action, name, node }; break;
      default: throw new UserError(`vm: ${action ? `unknown action "${action}"` : 'an action is required'} (create, list, start, stop, migrate, remove)\nRun \`personal-cloud vm --help\` for usage.`, EXIT.usage);
    }
    const t = await resolveTarget(v);
    const r = await callCluster<unknown>(t, 'vm', req, { ...(v.via ? { via: v.via } : {}), ...(v.port ? { port: parsePort(v.port) } : {}), timeoutMs: 330_000 });
    if (v.json) writeJson(r.data);
    else if (action === 'list') printVms(r.data as VmInfo[]);
    else if (action === 'remove') process.stdout.write(`removed ${name}${(r.data as { diskKept?: string }).diskKept ? ` (disk kept: ${(r.data as { diskKept?: string }).diskKept})` : ''}\n`);
    else {
      const i = r.data as VmInfo & { seconds?: number };
      process.stdout.write(`${i.name}: ${i.role}${i.nodes.length ? ` on ${i.nodes.join(',')}` : ''}${i.seconds !== undefined ? ` (${i.seconds.toFixed(1)} s)` : ''}\n`);
    }
    return EXIT.ok;
  },
};
