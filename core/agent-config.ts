// The agent's inputs, written by the installer (src/render/agent-files.ts): cluster.json (the
// Plan), node.json ({node}) and join.key (0600, derived key — never the raw cluster secret).
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodePlan, Plan } from './plan-types.js';
import { readText } from './read-text.js';

export interface AgentConfig {
  plan: Plan;
  node: NodePlan;
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
  const plan = (await readJson(join(dir, 'cluster.json'))) as Plan;
  if (plan?.schemaVersion !== 1 || !Array.isArray(plan.nodes)) throw new ConfigError(`${join(dir, 'cluster.json')}: not a personal-cloud plan (schemaVersion 1)`);
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
