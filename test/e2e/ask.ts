// Asks every e2e node's agent for its status over the authenticated channel, run inside the
// run's network namespace (`ip netns exec NS node ask.mjs CONFIG HEAL HA`). Unlike
// `personal-cloud status`, heal counts (glfsheal: many seconds of a TCG guest's CPU) and the HA
// status (crm_mon) are asked only when the run needs them. Prints NodeAnswer[] as JSON.
import { call, CallError } from '../../core/channel.js';
import { AGENT_PORT } from '../../core/paths.js';
import type { HaStatus } from '../../core/ha-status.js';
import type { NodeStatus } from '../../core/status-types.js';
import { loadConfig } from '../../src/config/load.js';
import { deriveJoinKey } from '../../src/plan/keys.js';
import { plan as makePlan } from '../../src/plan/plan.js';
import type { NodeAnswer } from '../../src/commands/status.js';

const [configPath, heal, ha] = process.argv.slice(2);
const TIMEOUT_MS = 20_000;
const { config } = await loadConfig(configPath);
const p = makePlan(config);
const key = deriveJoinKey(config.secret, config.name);
const answers = await Promise.all(p.nodes.map(async (n): Promise<NodeAnswer> => {
  const address = n.network.dhcp ? n.fqdn : n.network.address;
  try {
    const r = await call<NodeStatus>(key, 'admin', address, AGENT_PORT, 'status', { heal: heal === '1' }, TIMEOUT_MS);
    if (r.node !== n.name) return { node: n.name, address, ok: false, error: `answered as ${r.node}` };
    const h = ha === '1' ? await call<HaStatus>(key, 'admin', address, AGENT_PORT, 'ha-status', null, TIMEOUT_MS).then((x) => x.data, () => undefined) : undefined;
    return { node: n.name, address, ok: true, status: r.data, ...(h ? { ha: h } : {}) };
  } catch (e) {
    return { node: n.name, address, ok: false, error: e instanceof CallError ? e.message : String(e) };
  }
}));
process.stdout.write(`${JSON.stringify(answers)}\n`);
