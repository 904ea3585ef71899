// The files that configure the first-boot agent on one node. The installer's late_command,
// the disk-image builder and `personal-cloud render` all write exactly these.
import type { Plan } from '../../core/plan-types.js';
import { AGENT_CONFIG_DIR } from '../../core/paths.js';


export interface RenderedFile {
  /** Absolute path on the node. */
  path: string;
  content: string | Buffer;
  mode: number;
}

/**
 * cluster.json: the whole plan (public facts only); node.json: who this node is;
 * join.key: the derived join key (0600) — never the raw cluster secret.
 */
export function agentFiles(plan: Plan, node: string, joinKey: string): RenderedFile[] {
  if (!plan.nodes.some((n) => n.name === node)) throw new Error(`no node named ${node} in the plan`);
  return [
    { path: `${AGENT_CONFIG_DIR}/cluster.json`, content: `${JSON.stringify(plan, null, 2)}\n`, mode: 0o644 },
    { path: `${AGENT_CONFIG_DIR}/node.json`, content: `${JSON.stringify({ node }, null, 2)}\n`, mode: 0o644 },
    { path: `${AGENT_CONFIG_DIR}/join.key`, content: `${joinKey}\n`, mode: 0o600 },
  ];
}
