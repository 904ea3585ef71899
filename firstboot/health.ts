// What keeps the cluster from being healthy although every step may be done: a peer rejected or
// gone, a brick offline, entries waiting for heal, a brick holding fewer entries than its
// replicas. A pure function of what the agent already knows (its observation, heal counts,
// `volume status`, every node's brick counts), covered by golden fixtures in test/fixtures/health/.
import type { BrickCount, Degradation, DegradationKind, ReturningBrick } from '../core/status-types.js';
import type { BrickProcess, HealBrick, Peer, VolumeBrick, VolumeInfo } from './gluster.js';

/** A brick as `gluster volume status` lists it; a brick it leaves out is on a node its glusterd cannot reach. */
export type BrickOnline = BrickProcess;

export interface HealthInput {
  /** This node's name and the planned nodes' names (peers are shown by them). */
  self: string;
  nodes: string[];
  peers: Pick<Peer, 'hostname' | 'names' | 'connected' | 'state'>[];
  volumes: (Pick<VolumeInfo, 'name' | 'started' | 'replica'> & { bricks: Pick<VolumeBrick, 'name' | 'host'>[] })[];
  /** Per started volume, from `volume status VOL --xml`; absent while not known. */
  brickStatus: Record<string, BrickOnline[]>;
  /** Per volume, from `volume heal VOL info summary`. */
  heal: Record<string, HealBrick[]>;
  /** The brick counts of this node and of every member that answers. */
  counts: BrickCount[];
  /** Blank bricks brought back and healing, this node's and every member's. */
  returning?: ReturningBrick[];
}

// the order status lists them in: causes first, consequences after
const ORDER: DegradationKind[] = ['peer-rejected', 'peer-disconnected', 'brick-offline', 'brick-returning', 'replica-incomplete', 'heal-pending'];

const peerName = (p: HealthInput['peers'][number], nodes: string[]) => p.names.find((n) => nodes.includes(n)) ?? p.hostname;

function peerProblems(h: HealthInput): Degradation[] {
  const out: Degradation[] = [];
  for (const p of h.peers) {
    const name = peerName(p, h.nodes);
    if (/rejected/i.test(p.state)) {
      out.push({
        what: 'peer-rejected', subject: name,
        detail: `glusterd on ${h.self} rejects ${name} (peer state "${p.state}"; \`gluster pool list\` still shows it ${p.connected ? 'Connected' : 'Disconnected'}): `
          + `its volume configuration or identity differs from the cluster's, e.g. it was reinstalled and has a new UUID. Its bricks take no writes until that is resolved; `
          + `the agent does not resolve it yet: compare \`gluster peer status\` on ${name} and ${h.self}`,
      });
    } else if (!p.connected) {
      out.push({
        what: 'peer-disconnected', subject: name,
        detail: `${name} is not connected to glusterd on ${h.self}: its bricks are offline and writes go to their other replicas. `
          + `Nothing to do if it is being restarted: it heals when it is back; otherwise check that ${name} is powered on and reachable`,
      });
    }
  }
  return out;
}

function hostDown(h: HealthInput, host: string): boolean {
  return h.peers.some((p) => !p.connected && peerName(p, h.nodes) === host);
}

/** Offline bricks of a started volume and who says so: `volume status` when known, else heal info. */
function offlineBricks(h: HealthInput, v: HealthInput['volumes'][number]): Map<string, 'status' | 'heal'> {
  const listed = h.brickStatus[v.name];
  const heal = h.heal[v.name];
  if (listed) return new Map(v.bricks.filter((b) => !listed.find((x) => x.brick === b.name)?.online).map((b) => [b.name, 'status']));
  if (heal) return new Map(heal.filter((b) => !b.connected).map((b) => [b.brick, 'heal']));
  return new Map();
}

function brickProblems(h: HealthInput, v: HealthInput['volumes'][number], offline: Map<string, 'status' | 'heal'>): Degradation[] {
  const restart = `run \`gluster volume start ${v.name} force\` on any node to start it now (it starts only stopped bricks)`;
  return v.bricks.filter((b) => offline.has(b.name)).map((b) => ({
    what: 'brick-offline' as const, subject: `${v.name} ${b.name}`,
    detail: hostDown(h, b.host)
      ? `${b.host} is not connected, so its brick of ${v.name} is offline: writes go to the other replicas and wait there for heal until it is back`
      : offline.get(b.name) === 'status'
        ? `the brick process (glusterfsd) of ${v.name} on ${b.host} is not running: writes go to the other replicas and wait there for heal. `
          + `The agent on ${b.host} starts it again once it has been down a while (its bricks step says when); to start it now, ${restart}`
        : `heal info cannot reach the brick of ${v.name} on ${b.host} (its process stopped or the network between): writes go to the other replicas and wait there for heal. `
          + `If its process is not running, ${restart}`,
  }));
}

function healProblems(v: HealthInput['volumes'][number], heal: HealBrick[] | undefined, offline: Map<string, unknown>): Degradation[] {
  const pending = (heal ?? []).filter((b) => b.entries > 0);
  if (!pending.length) return [];
  const away = [...offline.keys()];
  // (each replica that holds a change lists it: the counts overlap, their sum would overstate)
  return [{
    what: 'heal-pending', subject: v.name,
    detail: `entries wait for heal: ${pending.map((b) => `${b.entries} on ${b.brick}`).join(', ')} (changed while a replica was away). `
      + (away.length
        ? `They are copied when ${away.join(' and ')} ${away.length === 1 ? 'is' : 'are'} back`
        : 'The self-heal daemon is copying them (`gluster volume heal ' + `${v.name} info\` lists them)`),
  }];
}

const ms = (iso: string) => Date.parse(iso);

/**
 * A brick below its replica set: in both of its last two counts it holds fewer entries than
 * another brick of the set held in both of that one's last two counts, the counts overlapping in
 * time and each taken while heal info showed the volume settled (all bricks connected, nothing
 * pending: a brick counted during an outage or a heal is short for a known reason, and may be
 * whole by now). Growth while files are written never trips it (the newer count of a brick that
 * keeps up is at least the older count of the others), a deletion neither; only a brick that stays short.
 */
function replicaProblems(h: HealthInput, v: HealthInput['volumes'][number], offline: Map<string, unknown>, heal: HealBrick[] | undefined): Degradation[] {
  // heal info must have been asked: only its "nothing pending" makes a short brick a silent loss
  if (v.replica < 2 || !heal) return [];
  const out: Degradation[] = [];
  const count = (brick: string) => h.counts.find((c) => c.volume === v.name && c.brick === brick);
  const healing = new Set(heal.filter((b) => b.entries !== 0).map((b) => b.brick));
  for (let i = 0; i + v.replica <= v.bricks.length; i += v.replica) {
    const set = v.bricks.slice(i, i + v.replica).map((b) => b.name);
    // an offline brick or entries waiting for heal already say why the set differs
    if (set.some((b) => offline.has(b) || healing.has(b))) continue;
    const counts = set.map(count);
    if (counts.some((c) => !c || !c.previous || c.capped || !c.settled || !c.previous.settled)) continue;
    const cs = counts as (BrickCount & { previous: NonNullable<BrickCount['previous']> })[];
    for (const b of cs) {
      const most = Math.max(b.entries, b.previous.entries);
      const over = cs
        .filter((o) => o !== b && ms(b.at) >= ms(o.previous.at) && ms(o.at) >= ms(b.previous.at))
        .map((o) => ({ o, held: Math.min(o.entries, o.previous.entries) }))
        .filter((x) => x.held > most)
        .sort((x, y) => y.held - x.held)[0];
      if (!over) continue;
      out.push({
        what: 'replica-incomplete', subject: `${v.name} ${b.brick}`,
        // (`heal full` crawls one brick per set, the one on the node with the highest UUID: when that
        // is the short brick it copies nothing; a lookup of each name through a fresh client does,
        // and without readdirplus, whose answers spare the kernel those lookups)
        detail: `${b.brick} holds ${b.entries} entries where ${over.o.brick} holds ${over.o.entries} (two counts in a row), and heal info says nothing is pending, `
          + `so the self-heal daemon will not copy the missing ones on its own; a lookup of each name through a client does. On any node: `
          + `\`${lookupEveryName(v.name)}\` `
          + `(\`gluster volume heal ${v.name} full\` may not help: it crawls from one brick of the set, which can be this short one)`,
      });
    }
  }
  return out;
}

/**
 * The command that looks up every name of a volume through a fresh client. The lookups wait (up
 * to 30 s) until the client reaches every brick: a fresh mount answers as soon as one replica is
 * up, and a lookup that does not see the short brick heals nothing (seen on a slow machine).
 */
export function lookupEveryName(volume: string): string {
  const m = '/run/pc-heal';
  return `mkdir -p ${m} && mount -t glusterfs -o use-readdirp=no $(hostname):/${volume} ${m} && `
    + `for i in $(seq 30); do grep -qs '^child_up.* = 0$' ${m}/.meta/graphs/active/${volume}-replicate-*/private || break; sleep 1; done; `
    + `find ${m} -exec stat {} + >/dev/null; umount ${m}`;
}

/** Blank bricks healing back (a node replaced, a disk swapped), with how far along by entries against their replicas. */
function returningProblems(h: HealthInput): Degradation[] {
  return (h.returning ?? []).map((r) => {
    const v = h.volumes.find((x) => x.name === r.volume);
    const i = v ? v.bricks.findIndex((b) => b.name === r.brick) : -1;
    const set = v && i >= 0 ? v.bricks.slice(i - (i % v.replica), i - (i % v.replica) + v.replica).map((b) => b.name).filter((b) => b !== r.brick) : [];
    const most = Math.max(0, ...set.map((b) => h.counts.find((c) => c.volume === r.volume && c.brick === b)?.entries ?? 0));
    const pct = r.entries !== undefined && most > 0 ? `: heal ${Math.min(100, Math.floor((100 * r.entries) / most))} % (${r.entries} of about ${most} entries)` : '';
    const node = r.brick.slice(0, r.brick.indexOf(':'));
    return {
      what: 'brick-returning' as const, subject: `${r.volume} ${r.brick}`,
      detail: `${node} is being replaced (or got a new disk): its brick of ${r.volume} came back blank at ${r.since} and is healing from its replicas${pct}. Nothing to do; until it is whole the set has one copy less`,
    };
  });
}

export function degradations(h: HealthInput): Degradation[] {
  const out = [...peerProblems(h), ...returningProblems(h)];
  for (const v of h.volumes) {
    if (!v.started) continue;
    const offline = offlineBricks(h, v);
    const heal = h.heal[v.name];
    out.push(...brickProblems(h, v, offline), ...replicaProblems(h, v, offline, heal), ...healProblems(v, heal, offline));
  }
  return out.sort((a, b) => ORDER.indexOf(a.what) - ORDER.indexOf(b.what) || a.subject.localeCompare(b.subject));
}

/** A degradation's identity across evaluations (its detail may change, e.g. a count). */
export const degradationKey = (d: Degradation) => `${d.what} ${d.subject}`;
