// The safety check of `node remove`, pure: from the running plan, the plan cluster.yaml gives
// without the named nodes, and what the live cluster looks like, decide whether anything could be
// lost (data, redundancy, quorum) and, if not, what will be done. Golden fixtures:
// test/fixtures/removal/ (test/removal-plan.test.ts).
import type { AgentNodePlan, AgentPlan, VolumePlan } from './plan-types.js';
import type { RemovalDecision, RemovalSeen } from './removal-types.js';

export interface ReplicaSet { bricks: string[]; nodes: string[]; arbiter: boolean[] }

/** A replicated volume's replica sets in plan order (consecutive groups of `replica` bricks). */
export function planSets(v: VolumePlan): ReplicaSet[] {
  const out: ReplicaSet[] = [];
  for (let i = 0; i < v.bricks.length; i += v.replica) {
    const group = v.bricks.slice(i, i + v.replica).filter(Boolean); // a builder plan of an invalid layout may have holes
    out.push({ bricks: group.map((b) => `${b.node}:${b.path}`), nodes: group.map((b) => b.node), arbiter: group.map((b) => b.arbiter) });
  }
  return out;
}

const and = (xs: string[]) => (xs.length < 2 ? xs.join('') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const qnetdOf = (p: AgentPlan) => (p.ha?.enabled ? p.ha.qdevice?.node : undefined);
/** corosync/Pacemaker members: every node but the quorum device's. */
export const haMembersOf = (p: AgentPlan) => (p.ha?.enabled ? p.nodes.filter((n) => n.name !== qnetdOf(p)).map((n) => n.name) : []);

/** A plan's HA settings without the sealed BMC passwords (those are per node: they shrink with the node list). */
function haShape(p: AgentPlan): string {
  if (!p.ha) return 'none';
  const f = p.ha.fencing.kind === 'ipmi' ? { kind: 'ipmi' } : p.ha.fencing;
  return JSON.stringify({ ...p.ha, fencing: f });
}

const nodeFields = (n: AgentNodePlan) => Object.keys({ ...n }).sort();

/** Why `target` is not the running plan with `gone` taken out (a whole replica set each); [] when it is. */
export function targetProblems(plan: AgentPlan, target: AgentPlan, gone: Set<string>, removed: Set<string> = new Set()): string[] {
  const out: string[] = [];
  const names = [...gone];
  const without = `cluster.yaml without ${and(names)}`;
  if (target.cluster.name !== plan.cluster.name || target.cluster.keyId !== plan.cluster.keyId) {
    return [`${without} describes another cluster (${target.cluster.name}, key id ${target.cluster.keyId}; running: ${plan.cluster.name}, key id ${plan.cluster.keyId})`];
  }
  const survivors = plan.nodes.filter((n) => !gone.has(n.name));
  const extra = target.nodes.filter((n) => !survivors.some((s) => s.name === n.name)).map((n) => n.name);
  const lacks = survivors.filter((s) => !target.nodes.some((n) => n.name === s.name)).map((n) => n.name);
  if (extra.length) out.push(`${without} also lists ${and(extra)}, which the running cluster does not have: add nodes separately (scale-out)`);
  if (lacks.length) out.push(`${without} also lacks ${and(lacks)}: name every node to remove on the command line`);
  const renumbered = survivors.map((s) => ({ s, t: target.nodes.find((n) => n.name === s.name) })).filter(({ s, t }) => plan.ha?.enabled && t && t.nodeId !== s.nodeId);
  if (renumbered.length) {
    out.push(`HA: corosync node ids follow the order of cluster.yaml's nodes: without ${and(names)}, ${and(renumbered.map(({ s, t }) => `${s.name} would be node ${t!.nodeId} instead of ${s.nodeId}`))}, which corosync cannot change on running members; while HA is on, only the last nodes of the list can be removed`);
  }
  for (const s0 of survivors) {
    const t = target.nodes.find((n) => n.name === s0.name);
    if (!t || renumbered.some((r) => r.s === s0)) continue;
    // an arbiter node that stays loses the arbiter bricks of the sets that go
    const s = { ...s0, bricks: s0.bricks.filter((b) => !removed.has(`${s0.name}:${b.path}`)) };
    const changed = [...new Set([...nodeFields(s), ...nodeFields(t)])].filter((k) => k !== 'nodeId' && JSON.stringify((s as unknown as Record<string, unknown>)[k]) !== JSON.stringify((t as unknown as Record<string, unknown>)[k]));
    if (changed.length) out.push(`${without} changes ${s.name} (${changed.join(', ')}) besides the removal: make that change on its own`);
  }
  for (const v of plan.volumes) {
    const w = target.volumes.find((x) => x.name === v.name);
    if (!w) { out.push(`${without} has no volume ${v.name}`); continue; }
    if (w.kind !== v.kind || w.replica !== v.replica || w.arbiterCount !== v.arbiterCount) { out.push(`${without} changes the layout of ${v.name}`); continue; }
    if (JSON.stringify(w.options) !== JSON.stringify(v.options) || JSON.stringify(w.folders) !== JSON.stringify(v.folders) || w.mountPoint !== v.mountPoint) out.push(`${without} changes the options or folders of ${v.name} besides the removal`);
    if (v.kind !== 'replicated') continue;
    const keep = planSets(v).filter((s) => !s.nodes.some((n) => gone.has(n))).map((s) => s.bricks.join(' '));
    const got = planSets(w).map((s) => s.bricks.join(' '));
    if (JSON.stringify(keep) !== JSON.stringify(got)) {
      out.push(`${v.name}: ${without} lays out its replica sets differently from what the running volume keeps (would be: ${got.map((s) => `[${s}]`).join(' ') || 'none'}; running keeps: ${keep.map((s) => `[${s}]`).join(' ') || 'none'}): a layout the volume cannot be moved to by removing bricks`);
    }
  }
  for (const v of target.volumes) if (!plan.volumes.some((x) => x.name === v.name)) out.push(`${without} adds volume ${v.name}`);
  if (haShape(plan) !== haShape(target)) out.push(`${without} changes the HA settings besides the removal`);
  return out;
}

export function decideRemoval(s: RemovalSeen): RemovalDecision {
  const nodes = [...new Set(s.nodes)];
  const gone = new Set(nodes);
  const names = s.plan.nodes.map((n) => n.name);
  const refusals: string[] = [];
  const unknown = nodes.filter((n) => !names.includes(n));
  if (!nodes.length) refusals.push('no node named');
  if (unknown.length) refusals.push(`unknown ${unknown.length === 1 ? 'node' : 'nodes'} ${and(unknown)} (the cluster's nodes: ${names.join(', ')})`);
  if (s.recorded && JSON.stringify([...s.recorded.nodes].sort()) !== JSON.stringify([...nodes].sort())) {
    refusals.push(`the removal of ${and(s.recorded.nodes)} is under way (phase ${s.recorded.phase}): finish it first with \`node remove ${s.recorded.nodes.join(' ')}\``);
  }
  const survivors = names.filter((n) => !gone.has(n));
  const leaving = names.filter((n) => gone.has(n));
  const everyNode = leaving.length > 0 && !survivors.length;
  if (everyNode) refusals.push('that is every node of the cluster: at least one must remain');

  // data: whole replica sets only, never below the copies, somewhere for the files to go
  const removeBricks: RemovalDecision['removeBricks'] = [];
  const dataSurvivors = s.plan.nodes.filter((n) => !gone.has(n.name) && !n.arbiter).map((n) => n.name);
  for (const v of s.plan.volumes.filter((x) => x.kind === 'replicated')) {
    const sets = planSets(v);
    const what = v.arbiterCount ? 'bricks (2 copies + arbiter)' : 'copies';
    // a set goes whole when all its data bricks leave: its arbiter brick (on a node that stays
    // and arbitrates other sets too) goes with it
    const goes = (set: ReplicaSet) => set.nodes.every((n, i) => gone.has(n) || set.arbiter[i]);
    for (const set of sets) {
      const out = set.nodes.filter((n) => gone.has(n));
      if (!out.length || goes(set)) continue;
      const named = set.nodes.filter((n, i) => !set.arbiter[i] || gone.has(n));
      refusals.push(`${v.name}: replica set ${set.bricks.join(' ')} would keep ${set.nodes.length - out.length} of its ${set.nodes.length} ${what} (${and(out)} leaving): name ${and(named)} together to remove the whole set (its files then move to the other sets)`);
    }
    const whole = sets.filter((set) => set.nodes.some((n) => gone.has(n)) && goes(set));
    if (whole.length && whole.length === sets.length && !everyNode) refusals.push(`${v.name}: every replica set would go: its files would have nowhere to move`);
    const copies = v.arbiterCount ? v.replica - v.arbiterCount : v.replica;
    if (leaving.length && !everyNode && dataSurvivors.length < copies) refusals.push(`${v.name} keeps ${copies} copies of every file on different nodes: only ${plural(dataSurvivors.length, 'data node')} would remain${dataSurvivors.length ? ` (${and(dataSurvivors)})` : ''}`);
    if (whole.length) removeBricks.push({ volume: v.name, bricks: whole.flatMap((set) => set.bricks) });
  }

  // cluster.yaml's layout without them is checked only for a removal that is otherwise whole
  const structural = refusals.length;

  // Gluster skips a file a running VM holds locks on (QEMU's image locking): its disk cannot move
  const leavingBricks = new Set(removeBricks.flatMap((r) => r.bricks));
  const busy = (s.runningVms ?? []).filter((v) => v.bricks.some((b) => leavingBricks.has(b)));
  if (busy.length && !s.stopVms) {
    for (const v of busy) refusals.push(`VM ${v.vm} runs with its disk ${v.file} on the replica set leaving (${v.bricks.filter((b) => leavingBricks.has(b)).join(' ')}): Gluster does not move a file a running VM holds locks on; add --stop-vms to stop it while its disk moves (it is started again right after), or stop it yourself first`);
  }
  const stopVms = s.stopVms ? busy.map((v) => v.vm) : [];

  // quorum and things held by one node only
  const q = qnetdOf(s.plan);
  if (q && gone.has(q)) refusals.push(`${q} runs the quorum device (corosync-qnetd) of the HA cluster: the members would lose their deciding vote; change ha.qdevice first`);
  const haMembers = haMembersOf(s.plan).filter((n) => gone.has(n));
  const haLeft = haMembersOf(s.plan).filter((n) => !gone.has(n));
  if (s.plan.ha?.enabled && haMembers.length && haLeft.length < 3 && !s.plan.ha.qdevice) {
    refusals.push(`HA: ${plural(haLeft.length, 'corosync member')} would remain without a quorum device: the cluster needs 3 members, or 2 and a quorum device, to keep quorum when one fails`);
  }
  for (const f of s.localFiles) {
    if (gone.has(f.node) && f.files > 0) refusals.push(`${f.node} holds ${plural(f.files, 'file')} on its local volume ${f.volume}, which is not replicated (that node has the only copy): move them to a replicated volume first`);
  }

  // the cluster must be whole: migrating data off a set while another is degraded is unsafe
  if (s.unreachable.length) refusals.push(`degraded: the agent of ${and(s.unreachable)} does not answer; every node must be up before data is moved`);
  if (s.notInPool.length) refusals.push(`degraded: ${and(s.notInPool)} ${s.notInPool.length === 1 ? 'is' : 'are'} not a connected member of the Gluster pool`);
  for (const v of s.volumes) {
    if (!v.exists) { refusals.push(`${v.name} does not exist yet: let the cluster finish forming first`); continue; }
    const off = v.bricks.filter((b) => !b.online).map((b) => b.brick);
    if (off.length) refusals.push(`degraded: ${v.name}: brick ${off.join(', ')} offline`);
    const pending = v.bricks.filter((b) => b.heal > 0);
    if (pending.length) refusals.push(`degraded: ${v.name}: ${pending.map((b) => `${plural(b.heal, 'entry', 'entries')} on ${b.brick}`).join(', ')} wait for heal`);
    const unknownHeal = v.bricks.filter((b) => b.online && b.heal < 0).map((b) => b.brick);
    if (unknownHeal.length) refusals.push(`degraded: ${v.name}: heal state of ${unknownHeal.join(', ')} unknown`);
    for (const t of v.tasks) refusals.push(`${v.name}: ${t}: wait for it to finish`);
  }
  if (s.plan.ha?.enabled && s.ha) {
    if (s.ha.error) refusals.push(`degraded: HA: ${s.ha.error}`);
    else {
      if (!s.ha.quorate) refusals.push('degraded: HA: corosync is not quorate');
      const missing = haMembersOf(s.plan).filter((n) => !s.ha!.members.includes(n));
      if (missing.length) refusals.push(`degraded: HA: ${and(missing)} not in corosync's membership`);
    }
  }

  if (s.targetProblem) refusals.push(`cluster.yaml without ${and(nodes)} is not a valid cluster:\n    ${s.targetProblem.split('\n').join('\n    ')}`);
  else if (s.target && !structural && leaving.length) refusals.push(...targetProblems(s.plan, s.target, gone, new Set(removeBricks.flatMap((r) => r.bricks))));

  const actions: string[] = [];
  if (haMembers.length) actions.push(`drain ${and(haMembers)}: Pacemaker standby live-migrates their VMs to the other members`);
  if (stopVms.length) actions.push(`stop VM ${and(stopVms)} (${stopVms.length === 1 ? 'its disk moves' : 'their disks move'} with the leaving set), start ${stopVms.length === 1 ? 'it' : 'them'} again after the commit`);
  for (const r of removeBricks) actions.push(`${r.volume}: remove-brick ${r.bricks.join(' ')} start, wait until their files have moved to the other replica sets, commit`);
  if (haMembers.length) actions.push(`stop Pacemaker and corosync on ${and(haMembers)}`);
  if (leaving.length) actions.push(`gluster peer detach ${leaving.join(' ')}`);
  if (leaving.length) actions.push(`${and(survivors)} adopt cluster.yaml's plan without ${and(leaving)}: their CA bundle and auth.ssl-allow drop ${leaving.length === 1 ? 'its certificate' : 'their certificates'}${haMembers.length ? ', corosync.conf loses them (corosync-cfgtool -R)' : ''}`);
  if (haMembers.length) actions.push(`crm_node --force -R ${haMembers.join(' ')}: Pacemaker forgets them (and their fence devices)`);
  return { nodes, refusals, actions, removeBricks, haMembers, stopVms };
}

export function formatDecision(d: RemovalDecision, dryRun = false): string {
  const who = d.nodes.join(' ');
  if (d.refusals.length) return `node remove ${who}: refused\n${d.refusals.map((r) => `  - ${r}\n`).join('')}`;
  return `node remove ${who}${dryRun ? ' would' : ':'}\n${d.actions.map((a, i) => `  ${i + 1}. ${a}\n`).join('')}`;
}
