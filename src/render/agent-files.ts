// The files that configure the first-boot agent on one node (src/render/node-files.ts puts them
// with the rest of what a node receives).
import { agentPlan } from '../../core/agent-plan.js';
import type { NodePlan, Plan } from '../../core/plan-types.js';
import { AGENT_CONFIG_DIR } from '../../core/paths.js';
import { requireNode } from '../../core/plan-nodes.js';

export interface RenderedFile {
  /** Absolute path on the node. */
  path: string;
  content: string | Buffer;
  mode: number;
}

/**
 * cluster.json: the agent's part of the plan (no password hash, no install-time facts) and
 * join.key, the derived join key — never the raw cluster secret — are the same on every node.
 * 0600 like all of /etc/personal-cloud: only root (the agent) reads it, and cluster.json may
 * hold sealed BMC passwords.
 */
export function clusterAgentFiles(plan: Plan, joinKey: string): RenderedFile[] {
  return [
    { path: `${AGENT_CONFIG_DIR}/cluster.json`, content: `${JSON.stringify(agentPlan(plan), null, 2)}\n`, mode: 0o600 },
    { path: `${AGENT_CONFIG_DIR}/join.key`, content: `${joinKey}\n`, mode: 0o600 },
  ];
}

/** node.json: who this node is. */
export function ownAgentFiles(node: NodePlan): RenderedFile[] {
  return [{ path: `${AGENT_CONFIG_DIR}/node.json`, content: `${JSON.stringify({ node: node.name }, null, 2)}\n`, mode: 0o600 }];
}

/** All of /etc/personal-cloud for one node (a test cluster's nodes get just these). */
export function agentFiles(plan: Plan, node: string, joinKey: string): RenderedFile[] {
  return [...clusterAgentFiles(plan, joinKey), ...ownAgentFiles(requireNode(plan, node, 'agent files'))];
}
