// The agent's view of a plan, made field by field (never by deleting from a copy), so a field
// added to Plan later reaches the nodes only when it is named here.
import type { AgentNodePlan, AgentPlan, NodePlan } from './plan-types.js';

type PlanLike = AgentPlan & { nodes: (AgentNodePlan | NodePlan)[] };

function agentNode(n: AgentNodePlan): AgentNodePlan {
  return {
    name: n.name, fqdn: n.fqdn, network: n.network, arbiter: n.arbiter, bricks: n.bricks,
    ...(n.nodeId !== undefined ? { nodeId: n.nodeId } : {}),
    ...(n.ring1Address !== undefined ? { ring1Address: n.ring1Address } : {}),
    ...(n.bmc !== undefined ? { bmc: n.bmc } : {}),
  };
}

/**
 * Pure. Also applied to a plan a peer serves (it may come from an older builder that wrote the
 * whole Plan), so plans compare and digest alike whichever builder made them.
 */
export function agentPlan(plan: PlanLike): AgentPlan {
  const { name, domain, release, keyId, encryption } = plan.cluster;
  return {
    schemaVersion: plan.schemaVersion,
    cluster: { name, domain, release, keyId, ...(encryption !== undefined ? { encryption } : {}) },
    nodes: plan.nodes.map(agentNode),
    volumes: plan.volumes,
    ...(plan.ha !== undefined ? { ha: plan.ha } : {}),
    ...(plan.backup !== undefined ? { backup: plan.backup } : {}),
  };
}
