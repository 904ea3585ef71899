// What a node receives from personal-cloud, whichever way it is installed: the installer payload
// (late.sh installs these by the payload's files.list), the disk image (src/disk/node-files.ts adds
// only what d-i would otherwise write) and `personal-cloud render` all take this one list.
import type { NodePlan } from '../../core/plan-types.js';
import { AGENT_SCRIPT_PATH, AGENT_UNIT_PATH, COCKPIT_PAGE_DIR } from '../../core/paths.js';
import type { NodeFilesContext } from '../build/context.js';
import { clusterAgentFiles, ownAgentFiles, type RenderedFile } from './agent-files.js';
import { systemFiles } from './system-files.js';

export type { RenderedFile };

/** The files that are the same on every node of the plan (a universal payload holds them once). */
export function clusterFiles(ctx: NodeFilesContext): RenderedFile[] {
  return [
    // run by `node` (the unit's ExecStart), never executed directly
    { path: AGENT_SCRIPT_PATH, content: ctx.agent.script, mode: 0o644 },
    { path: AGENT_UNIT_PATH, content: ctx.agent.unit, mode: 0o644 },
    // the web console's "Personal Cloud" page (Cockpit finds packages there)
    ...ctx.agent.console.map((f) => ({ path: `${COCKPIT_PAGE_DIR}/${f.name}`, content: f.content, mode: 0o644 })),
    ...clusterAgentFiles(ctx.plan, ctx.joinKey),
    ...systemFiles(ctx.plan),
  ];
}

/** The files only this node gets. */
export function ownFiles(_ctx: NodeFilesContext, node: NodePlan): RenderedFile[] {
  return ownAgentFiles(node);
}

/** Every file a node receives: path on the node, content, mode. */
export function nodeFiles(ctx: NodeFilesContext, node: NodePlan): RenderedFile[] {
  return [...clusterFiles(ctx), ...ownFiles(ctx, node)];
}
