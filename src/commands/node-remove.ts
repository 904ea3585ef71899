// `personal-cloud node remove NAME…`: retire nodes from the admin machine. The plan the survivors
// end with is made here from cluster.yaml without those nodes (so the edited cluster.yaml matches
// the running cluster exactly); a survivor's agent checks the live cluster, refuses anything that
// could lose data or quorum, records the removal on every node and carries it out while this
// command shows its progress (firstboot/removal.ts). Interrupted, the same command resumes.
import { writeFile, chmod } from 'node:fs/promises';
import { isMap, isSeq, parseDocument } from 'yaml';
import { agentPlan } from '../../core/agent-plan.js';
import { call, CallError } from '../../core/channel.js';
import { EXIT, UserError } from '../../core/errors.js';
import { AGENT_PORT } from '../../core/paths.js';
import type { AgentPlan } from '../../core/plan-types.js';
import { formatDecision } from '../../core/removal-plan.js';
import type { RemovalAnswer, RemovalProgress, RemovalRequest } from '../../core/removal-types.js';
import { parsePort } from '../../core/vm-cli.js';
import { formatIssue, validateConfigText } from '../config/validate.js';
import { invalidConfigError, readConfigText } from '../config/load.js';
import { deriveJoinKey } from '../plan/keys.js';
import { plan as makePlan } from '../plan/plan.js';

export const NODE_REMOVE_OPTIONS = { 'dry-run': { type: 'boolean' }, 'write-config': { type: 'string' }, 'stop-vms': { type: 'boolean' } } as const;

export const NODE_REMOVE_HELP = `
  node remove NAME... -c cluster.yaml [--dry-run] [--write-config FILE] [--stop-vms]
      retire nodes for good: their VMs are live-migrated away (HA), their bricks removed with
      their files moved to the other replica sets (remove-brick start, status, commit), they
      leave corosync and Pacemaker, are detached from the Gluster pool, and the survivors adopt
      the plan cluster.yaml gives without them. Refused, with the reason, when it could lose data
      or quorum: part of a replica set named (name a whole set together), fewer nodes than a
      volume's copies left, the quorum device's node, a node holding files on its local volume,
      unknown names, every node, or a cluster not healthy now (an agent silent, a brick offline,
      heal pending). Recorded on every node before anything changes: run the same command again
      after an interruption and it resumes. Nodes are not replaced onto other ones (replace-brick).
      --dry-run          print what would be done, or why it is refused, and change nothing
      --write-config F   write cluster.yaml without those nodes to F (mode 0600: it holds the secret)
      --stop-vms         a running VM whose disk lies on a leaving replica set is stopped while the
                         disk moves and started again right after (Gluster does not move a file a
                         running VM holds locked); without it such a removal is refused
`;

/** cluster.yaml's text with the named nodes taken out of `nodes:` (every other byte kept). */
export function configWithout(text: string, names: string[]): string {
  const doc = parseDocument(text);
  const nodes = isMap(doc.contents) ? doc.contents.get('nodes', true) : undefined;
  if (!isSeq(nodes)) return text;
  const gone = nodes.items.filter((item) => isMap(item) && names.includes(String(item.get('name'))));
  if (!gone.length) return text;
  if (nodes.flow || gone.some((item) => !(item as { range?: number[] }).range)) {
    nodes.items = nodes.items.filter((item) => !gone.includes(item));
    return doc.toString({ lineWidth: 0 });
  }
  // a block list: cut each item's lines, from its `-` to the end of its last line
  let out = text;
  for (const item of [...gone].reverse()) {
    const [startAt, , endAt] = (item as { range: [number, number, number] }).range;
    const start = out.lastIndexOf('\n', startAt - 1) + 1;
    const nl = out.indexOf('\n', Math.max(endAt - 1, startAt));
    out = out.slice(0, start) + out.slice(nl < 0 ? out.length : nl + 1);
  }
  return out;
}

/** Who to ask: the cluster's key and the surviving nodes' agents, in the order to try them. */
export interface Coordinator { key: string; order: { name: string; address: string }[]; port: number }

async function ask(c: Coordinator, body: RemovalRequest, timeoutMs: number, prefer?: string): Promise<{ node: string; data: RemovalAnswer }> {
  const errors: string[] = [];
  const order = prefer ? [...c.order.filter((n) => n.name === prefer), ...c.order.filter((n) => n.name !== prefer)] : c.order;
  for (const n of order) {
    try {
      return await call<RemovalAnswer>(c.key, 'admin', n.address, c.port, 'removal', body, timeoutMs);
    } catch (e) {
      if (e instanceof CallError && (e.kind === 'error' || e.kind === 'refused' || e.kind === 'bad-proof')) throw new UserError(`${n.name}: ${e.message.replace(/^[^:]*: /, '')}`, EXIT.failure);
      errors.push(`${n.name}: ${(e as Error).message}`);
    }
  }
  throw new UserError(`no surviving node's agent answered: ${errors.join('; ')}`, EXIT.failure);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runNodeRemove(names: string[], v: { config?: string; via?: string; port?: string; json?: boolean; 'dry-run'?: boolean; 'write-config'?: string; 'stop-vms'?: boolean }): Promise<number> {
  if (!names.length) throw new UserError('node remove: name at least one node\nRun `personal-cloud node --help` for usage.', EXIT.usage);
  if (!v.config) throw new UserError('node remove needs --config cluster.yaml: the survivors get the plan it gives without those nodes', EXIT.usage);
  const text = await readConfigText(v.config);
  const full = validateConfigText(text, v.config);
  if (!full.config) throw invalidConfigError(v.config, full.errors);
  const config = full.config;
  const reducedText = configWithout(text, names);
  const reduced = validateConfigText(reducedText, `${v.config} without ${names.join(', ')}`);
  let target: AgentPlan | undefined;
  let targetProblem: string | undefined;
  if (reduced.config) target = agentPlan(makePlan(reduced.config));
  else targetProblem = reduced.errors.map((e) => formatIssue(e)).join('\n');
  const running = makePlan(config);
  const port = parsePort(v.port) ?? AGENT_PORT;
  // any survivor coordinates; the nodes leaving never do
  const order = running.nodes.filter((n) => !names.includes(n.name) && (!v.via || n.name === v.via)).map((n) => ({ name: n.name, address: n.network.dhcp ? n.fqdn : n.network.address }));
  if (!order.length) {
    if (v.via) throw new UserError(`--via ${v.via}: not a surviving node of ${v.config}`, EXIT.usage);
    throw new UserError(`node remove ${names.join(' ')}: refused\n  - that is every node of the cluster: at least one must remain`, EXIT.refused);
  }
  const c: Coordinator = { key: deriveJoinKey(config.secret, config.name), order, port };
  const body: RemovalRequest = { action: v['dry-run'] ? 'check' : 'start', nodes: names, ...(target ? { target } : {}), ...(targetProblem ? { targetProblem } : {}), ...(v['stop-vms'] ? { stopVms: true } : {}) };
  const p = await driveRemoval(c, body, v);
  if (!p) return EXIT.ok;
  if (v['write-config']) {
    await writeFile(v['write-config'], reducedText, { mode: 0o600 });
    await chmod(v['write-config'], 0o600);
  }
  const left = running.nodes.filter((n) => names.includes(n.name)).map((n) => n.name);
  if (v.json) process.stdout.write(`${JSON.stringify({ nodes: p.nodes, phase: p.phase, done: true, ...(v['write-config'] ? { configWritten: v['write-config'] } : {}) }, null, 2)}\n`);
  else process.stdout.write(`removed ${p.nodes.join(', ')}.\n${left.length ? `Now delete ${left.join(', ')} from ${v.config}${v['write-config'] ? ` (${v['write-config']} is that file without them)` : ''}: the survivors run the plan it gives without them.\n` : ''}`);
  return EXIT.ok;
}

/**
 * Asks a survivor's agent to check (dry run) or start the removal, then follows its progress to
 * the end. Null after a dry run; the finished progress otherwise. Refusals and failures are
 * UserErrors (exit 6 and 1).
 */
export async function driveRemoval(c: Coordinator, body: RemovalRequest, v: { json?: boolean }): Promise<RemovalProgress | null> {
  const first = await ask(c, body, 300_000);
  const out = (s: string) => { if (!v.json) process.stdout.write(s); };
  if (first.data.kind === 'refused') {
    if (v.json) process.stdout.write(`${JSON.stringify({ refused: true, nodes: first.data.decision.nodes, reasons: first.data.decision.refusals }, null, 2)}\n`);
    throw new UserError(formatDecision(first.data.decision).trimEnd(), EXIT.refused);
  }
  if (first.data.kind === 'plan') {
    if (v.json) process.stdout.write(`${JSON.stringify({ dryRun: true, nodes: first.data.decision.nodes, actions: first.data.decision.actions, ...(first.data.recorded ? { recorded: first.data.recorded } : {}) }, null, 2)}\n`);
    out(formatDecision(first.data.decision, true));
    return null;
  }
  if (first.data.kind !== 'progress') throw new UserError(`${first.node}: unexpected answer`, EXIT.failure);
  out(`${first.node} coordinates the removal of ${first.data.progress.nodes.join(', ')} (recorded on every node; if this command is interrupted, run it again to resume)\n`);
  let p = first.data.progress;
  for (const l of p.lines) out(`  ${l}\n`);
  let seen = p.lines.length;
  let silentSince = 0;
  while (p.running) {
    try {
      const r = await ask(c, { action: 'status', nodes: body.nodes, since: seen }, 30_000, first.node);
      silentSince = 0;
      if (r.data.kind !== 'progress') throw new UserError(`${r.node}: it has no removal of ${body.nodes.join(', ')} in progress`, EXIT.failure);
      p = r.data.progress;
      for (const l of p.lines) out(`  ${l}\n`);
      seen += p.lines.length;
      if (!p.running) break;
    } catch (e) {
      if (!(e instanceof UserError) || !/no surviving node's agent answered/.test(e.message)) throw e;
      silentSince ||= Date.now();
      if (Date.now() - silentSince > 120_000) throw new UserError(`lost contact with the cluster (${e.message}); the removal goes on where it was recorded: run the same command again to follow or resume it`, EXIT.failure);
    }
    await sleep(2000);
  }
  if (p.error || !p.done) {
    if (v.json) process.stdout.write(`${JSON.stringify({ nodes: p.nodes, phase: p.phase, done: false, error: p.error ?? 'stopped' }, null, 2)}\n`);
    throw new UserError(`node remove ${p.nodes.join(' ')} stopped at phase ${p.phase}: ${p.error ?? 'the coordinator stopped'}\nFix that, then run the same command again: it resumes where it stopped.`, EXIT.failure);
  }
  return p;
}
