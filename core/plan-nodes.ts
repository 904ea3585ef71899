// The one lookup of a node by name, with the one "no node named X (nodes: …)" usage error.
import { EXIT, UserError } from './errors.js';

/** `who`: the command (e.g. "build disk"); `where`: the config file the plan came from, if any. */
export function requireNode<N extends { name: string }>(plan: { nodes: N[] }, name: string, who: string, where?: string): N {
  const node = plan.nodes.find((n) => n.name === name);
  if (!node) throw new UserError(`${who}: no node named '${name}'${where ? ` in ${where}` : ''} (nodes: ${plan.nodes.map((n) => n.name).join(', ')})`, EXIT.usage);
  return node;
}
