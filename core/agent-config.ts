// The agent's inputs, written by the installer (src/render/node-files.ts), all 0600: cluster.json
// (the AgentPlan), node.json ({node}) and join.key (the derived key — never the raw cluster secret).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { agentPlan } from './agent-plan.js';
import type { AgentNodePlan, AgentPlan } from './plan-types.js';
import { readText } from './read-text.js';

export interface AgentConfig {
  plan: AgentPlan;
  node: AgentNodePlan;
  /** The derived join key (hex, used as the HMAC key as keys.ts does); memory only, never logged or sent. */
  key: string;
}

export class ConfigError extends Error {}

async function readJson(path: string): Promise<unknown> {
  const text = await readText(path);
  if (text === null) throw new ConfigError(`${path} is missing (the installer writes it)`);
  try { return JSON.parse(text); } catch (e) { throw new ConfigError(`${path}: not valid JSON (${(e as Error).message})`); }
}

export async function loadAgentConfig(dir: string): Promise<AgentConfig> {
  const doc = (await readJson(join(dir, 'cluster.json'))) as AgentPlan;
  if (doc?.schemaVersion !== 1 || !Array.isArray(doc.nodes)) throw new ConfigError(`${join(dir, 'cluster.json')}: not a personal-cloud plan (schemaVersion 1)`);
  // a cluster.json written by an older builder holds the whole Plan: only the agent's part is kept
  const plan = agentPlan(doc);
  const nodeDoc = (await readJson(join(dir, 'node.json'))) as { node?: string };
  const node = plan.nodes.find((n) => n.name === nodeDoc?.node);
  if (!node) throw new ConfigError(`${join(dir, 'node.json')}: node "${nodeDoc?.node}" is not in cluster.json (members: ${plan.nodes.map((n) => n.name).join(', ')})`);
  const keyPath = join(dir, 'join.key');
  const keyText = (await readText(keyPath))?.trim();
  if (!keyText || !/^[0-9a-f]{64}$/.test(keyText)) throw new ConfigError(`${keyPath}: missing or not a 64-hex-digit join key`);
  const st = await stat(keyPath);
  if ((st.mode & 0o077) !== 0) throw new ConfigError(`${keyPath}: mode ${(st.mode & 0o777).toString(8)} is too open; it must be 0600`);
  return { plan, node, key: keyText };
}
