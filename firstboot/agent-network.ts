// The agent's face to the LAN: the authenticated channel server (status, plan, HA and VM
// operations) and the signed multicast beacon.
import type { Server } from 'node:http';
import { startChannelServer } from '../core/channel.js';
import type { AgentNodePlan, AgentPlan } from '../core/plan-types.js';
import type { NodeStatus } from '../core/status-types.js';
import { Discovery } from './discovery.js';
import type { AgentEnv } from './env.js';
import { haHandlers } from './ha/api.js';
import type { Members } from './members.js';
import { removalHandlers } from './removal.js';
import { localAdv } from './steps/tang.js';
import type { StateStore } from './state.js';

export interface NetworkInput {
  env: AgentEnv;
  key: string;
  self: () => AgentNodePlan;
  plan: () => AgentPlan;
  members: Members;
  state: StateStore;
  /** Resolves once the agent has looked at its node: an empty first answer would tell the leader its bricks vanished. */
  observed: Promise<void>;
  /** A status at most a moment old (every member polls every member while forming). */
  recentStatus: () => Promise<NodeStatus>;
  /** A status with heal counts fresh to a few seconds. */
  healedStatus: () => Promise<NodeStatus>;
}

export async function startAgentNetwork(o: NetworkInput): Promise<{ server: Server; discovery: Discovery }> {
  const self = o.self();
  const server = await startChannelServer({
    key: o.key, node: self.name, port: o.env.port,
    handlers: {
      status: async (_from, body) => {
        await o.observed;
        return (body as { heal?: boolean } | null)?.heal ? o.healedStatus() : o.recentStatus();
      },
      plan: async () => o.plan(),
      // sealed to the admin's key: useless to whoever reads them here or on the wire
      'recovery-keys': async () => o.state.data.recoveryKeys ?? {},
      // this node's tang advertisement for a peer binding its bricks: the channel's HMAC vouches for it
      'tang-adv': async () => {
        const n = o.self();
        if (!o.plan().cluster.encryption?.peers || n.network.dhcp) throw new Error('this node runs no tang for its peers (encryption.peers is off)');
        const adv = await localAdv(n.network.address);
        if (!adv) throw new Error(`tang on ${n.network.address} does not answer`);
        return adv;
      },
      ...haHandlers({ key: o.key, node: () => o.self().name, plan: o.plan, stateDir: o.env.stateDir }),
      ...removalHandlers({ key: o.key, self: () => o.self().name, plan: o.plan, members: o.members, state: o.state, port: o.env.port }),
    },
    onRefused: (r) => o.members.refuse(r.from, r.address, r.reason),
  });
  const discovery = new Discovery({
    key: o.key, cluster: o.plan().cluster.name, node: self.name, port: o.env.port, group: o.env.multicastGroup,
    ...(!self.network.dhcp ? { localAddress: self.network.address } : {}),
    onBeacon: (n, a, p) => o.members.beacon(n, a, p),
    onForged: (a, claimed, reason) => o.members.refuse(claimed, a, `beacon ${reason}`),
  });
  await discovery.start();
  return { server, discovery };
}
