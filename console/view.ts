// What the web console shows, decided from one `personal-cloud status --json` (StatusReport) of
// the node whose Cockpit is open: a pure function, so the page only draws and the decisions are
// unit-tested (test/console-view.test.ts).
import { binaryBytes } from '../core/bytes.js';
import { spaceText } from '../core/status-format.js';
import type { PcmkNode } from '../core/ha-status.js';
import type { Degradation, StatusReport, StepStatus } from '../core/status-types.js';

/** `draining`: standby with VMs still on it; `standby`: drained, for maintenance. */
export type NodeState = 'up' | 'down' | 'fenced' | 'draining' | 'standby' | 'unknown';

export interface NodeView {
  name: string;
  state: NodeState;
  /** In plain words: why this state (an error, what the node waits for). */
  why: string;
  self: boolean;
  leader: boolean;
  address?: string;
  converged?: boolean;
  steps: StepStatus[];
  vms: string[];
}

export interface BrickView { node: string; path: string; online?: boolean; heal?: number }

export interface VolumeView {
  name: string;
  state: 'healthy' | 'degraded' | 'stopped' | 'absent';
  type?: string;
  mounted: boolean;
  /** "12.0 GiB free of 40.0 GiB", as this node's mount sees it. */
  space?: string;
  bricks: BrickView[];
  healPending: number;
  problems: Degradation[];
}

export interface VmView {
  name: string; running: boolean; state: string; node?: string; failed: boolean;
  /** "2.0 GiB · 2 vCPUs" from its definition, when known. */
  size?: string;
}

export type Verdict = 'healthy' | 'degraded' | 'converging' | 'stale';

export interface ConsoleView {
  cluster: string;
  self: string;
  leader: string | null;
  verdict: Verdict;
  headline: string;
  /** The local agent did not answer: what is shown is its last saved status. */
  stale?: string;
  quorum: string;
  nodes: NodeView[];
  volumes: VolumeView[];
  /** null: HA is off on this cluster (no VMs). */
  vms: VmView[] | null;
  haError?: string;
  /** Everything wrong, in plain words, causes first. */
  problems: { subject: string; detail: string }[];
}

/** A channel error as a person reads it. */
export function plainError(message: string): string {
  if (/ECONNREFUSED/.test(message)) return 'its agent is not running (connection refused)';
  if (/EHOSTUNREACH|ENETUNREACH/.test(message)) return 'unreachable on the network (powered off or cable out?)';
  if (/timed? ?out|ETIMEDOUT/i.test(message)) return 'does not answer (powered off, hung, or the network is down)';
  return message;
}

function peerConnected(s: StatusReport, name: string): boolean | undefined {
  const p = s.glusterd.peers.find((x) => x.name === name || x.names?.includes(name));
  return p?.connected;
}

function pcmkState(n: PcmkNode, vmsOn: string[]): { state: NodeState; why: string } | null {
  if (n.unclean) return { state: 'fenced', why: 'lost and fenced (or being fenced) by the cluster: its VMs restart elsewhere' };
  if (!n.online) return null;
  if (n.standby) return vmsOn.length ? { state: 'draining', why: `draining: moving ${vmsOn.join(', ')} away` } : { state: 'standby', why: 'drained for maintenance (resume it to run VMs again)' };
  return null;
}

function nodeViews(s: StatusReport): NodeView[] {
  const names = s.planNodes.length ? s.planNodes : [s.node, ...s.members.map((m) => m.name)];
  const ha = s.ha && 'pacemaker' in s.ha ? s.ha : undefined;
  const pcmk = ha?.pacemaker.ok ? ha.pacemaker : undefined;
  const vmsOn = (n: string) => (ha?.vms ?? []).filter((v) => v.nodes.includes(n)).map((v) => v.name);
  return names.map((name) => {
    const self = name === s.node;
    const m = s.members.find((x) => x.name === name);
    const base = { name, self, leader: s.leader === name, vms: vmsOn(name), address: m?.address };
    let view: NodeView;
    if (self) {
      view = { ...base, state: s.unanswered ? 'unknown' : 'up', why: s.unanswered ? 'this node, its agent is not answering' : 'this node', converged: s.converged, steps: s.steps };
    } else if (m?.error) {
      view = { ...base, state: 'down', why: plainError(m.error), converged: m.converged, steps: m.steps ?? [] };
    } else if (!m?.lastSeen) {
      view = { ...base, state: 'unknown', why: 'not heard from yet', steps: [] };
    } else if (peerConnected(s, name) === false) {
      view = { ...base, state: 'down', why: 'its storage (glusterd) is disconnected', converged: m.converged, steps: m.steps ?? [] };
    } else {
      view = { ...base, state: 'up', why: m.admitted ? 'answering' : 'answering, not yet admitted', converged: m.converged, steps: m.steps ?? [] };
    }
    const p = pcmk?.nodes.find((x) => x.name === name);
    const special = p && pcmkState(p, base.vms);
    return special ? { ...view, ...special } : view;
  });
}

function volumeViews(s: StatusReport): VolumeView[] {
  const degraded = s.health?.degraded ?? [];
  // the leader asks `volume status` every 10 s: a brick named offline, or on a disconnected peer, is offline now
  const offline = (vol: string, brick: string) => degraded.some((d) => d.what === 'brick-offline' && d.subject === `${vol} ${brick}`)
    || peerConnected(s, brick.slice(0, brick.indexOf(':'))) === false;
  return s.volumes.map((v) => {
    const online = s.brickStatus?.volumes[v.name];
    const bricks: BrickView[] = v.bricks.map((b) => {
      const i = b.indexOf(':');
      const heal = v.heal?.find((x) => x.brick === b);
      const up = offline(v.name, b) ? false : online?.find((x) => x.brick === b)?.online ?? heal?.connected;
      return { node: b.slice(0, i), path: b.slice(i + 1), ...(up === undefined ? {} : { online: up }), ...(heal ? { heal: Math.max(0, heal.entries) } : {}) };
    });
    const problems = degraded.filter((d) => d.subject === v.name || d.subject.startsWith(`${v.name} `));
    const healPending = bricks.reduce((a, b) => a + (b.heal ?? 0), 0);
    const state = !v.exists ? 'absent' : !v.started ? 'stopped' : problems.length || bricks.some((b) => b.online === false) || healPending ? 'degraded' : 'healthy';
    return { name: v.name, state, type: v.type, mounted: v.mounted, ...(v.space ? { space: spaceText(v.space) } : {}), bricks, healPending, problems };
  });
}

export function consoleView(s: StatusReport): ConsoleView {
  const nodes = nodeViews(s);
  const volumes = volumeViews(s);
  const ha = s.ha && 'pacemaker' in s.ha ? s.ha : undefined;
  const vms = ha ? ha.vms.map((v) => {
    const running = v.role === 'Started' && v.nodes.length > 0;
    const size = v.memoryMiB !== undefined && v.vcpus !== undefined ? `${binaryBytes(v.memoryMiB * 2 ** 20)} · ${v.vcpus} vCPU${v.vcpus === 1 ? '' : 's'}` : undefined;
    return { name: v.name, running, state: v.failed ? 'failed' : running ? 'running' : v.targetRole === 'Stopped' ? 'stopped' : v.role.toLowerCase(), node: v.nodes[0], failed: v.failed, ...(size ? { size } : {}) };
  }) : null;

  const problems: ConsoleView['problems'] = [];
  if (s.unanswered) problems.push({ subject: s.node, detail: `The agent on ${s.node} is not answering (${plainError(s.unanswered).replace(/^its /, '')}): this page shows the status it saved last. Check it with \`systemctl status personal-cloud-agent\` on ${s.node}.` });
  for (const n of nodes) if (n.state === 'down' || n.state === 'fenced') problems.push({ subject: n.name, detail: `${n.name} is ${n.state}: ${n.why}.` });
  for (const d of s.health?.degraded ?? []) problems.push({ subject: d.subject, detail: d.detail });
  for (const n of nodes) {
    for (const st of n.steps) if (st.state === 'error' || st.state === 'attention') problems.push({ subject: `${n.name} ${st.name}`, detail: st.detail });
  }
  if (s.lastError && !problems.some((p) => p.detail === s.lastError!.message)) problems.push({ subject: `${s.node} ${s.lastError.step}`, detail: `last error (${s.lastError.at}): ${s.lastError.message}` });
  const haError = s.ha && !('pacemaker' in s.ha) ? s.ha.error : ha && !ha.pacemaker.ok ? ha.pacemaker.error : undefined;
  if (haError) problems.push({ subject: 'HA', detail: `the HA stack did not answer: ${haError}` });
  // a node out of quorum sees too little to act on: say what that means here, and where to look instead
  if (ha?.corosync.running && ha.corosync.quorate === false) problems.push({ subject: s.node, detail: `${s.node} is out of quorum (${ha.corosync.totalVotes ?? '?'} of ${ha.corosync.expectedVotes ?? '?'} votes): Pacemaker here runs no VMs and actions from this page will not take effect; open the console of a node that is in the majority.` });
  for (const v of vms ?? []) if (v.failed) problems.push({ subject: v.name, detail: `VM ${v.name} failed: Pacemaker could not run it; see \`personal-cloud vm list\` and the node's journal.` });

  let quorum: string;
  if (ha?.corosync.running && ha.corosync.totalVotes !== undefined) {
    quorum = `${ha.corosync.quorate ? 'quorate' : 'NOT quorate'}: ${ha.corosync.totalVotes} of ${ha.corosync.expectedVotes ?? '?'} votes`;
  } else if (s.unanswered) {
    quorum = 'storage: unknown (this node\'s agent is not answering)';
  } else {
    const up = nodes.filter((n) => n.state === 'up').length;
    quorum = `storage: ${up} of ${nodes.length} nodes up${up * 2 > nodes.length ? '' : ' — no majority'}`;
  }

  const verdict: Verdict = s.unanswered ? 'stale' : problems.length ? 'degraded' : s.converged ? 'healthy' : 'converging';
  const headline = {
    healthy: `Cluster ${s.cluster} is healthy`,
    degraded: `Cluster ${s.cluster}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`,
    converging: `Cluster ${s.cluster} is still setting itself up`,
    stale: `The agent on ${s.node} is not answering`,
  }[verdict];
  return { cluster: s.cluster, self: s.node, leader: s.leader, verdict, headline, ...(s.unanswered ? { stale: s.unanswered } : {}), quorum, nodes, volumes, vms, ...(haError ? { haError } : {}), problems };
}
