// Where the agent keeps things and how it talks. Paths can be redirected by environment for
// debugging; the namespace harness uses the real paths inside each node's mount namespace.
import { AGENT_CONFIG_DIR, AGENT_PORT, AGENT_STATE_DIR, MULTICAST_GROUP } from '../core/paths.js';

export interface AgentEnv {
  configDir: string;
  stateDir: string;
  /** TCP port of the authenticated HTTP endpoint; the UDP beacon uses the same number. */
  port: number;
  multicastGroup: string;
  /** Seconds between reconcile passes once converged (faster while work is pending). */
  idleInterval: number;
  /** How long the leader waits for every planned node before forming volumes with the ready ones. */
  formGraceSeconds: number;
  /** Seconds between counts of this node's brick entries (replica completeness check). */
  countInterval: number;
  /** Seconds a brick of this node may stay down (its process not running) before the agent starts it again. */
  brickRestartSeconds: number;
  /** Fault injection for tests: SIGKILL self at named step boundaries (see crash.ts). */
  crashAt?: string;
}

function num(v: string | undefined, dflt: number): number {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isFinite(n) ? n : dflt;
}

export function agentEnv(env: NodeJS.ProcessEnv = process.env): AgentEnv {
  return {
    configDir: env.PERSONAL_CLOUD_CONFIG_DIR || AGENT_CONFIG_DIR,
    stateDir: env.PERSONAL_CLOUD_STATE_DIR || AGENT_STATE_DIR,
    port: num(env.PERSONAL_CLOUD_PORT, AGENT_PORT),
    multicastGroup: env.PERSONAL_CLOUD_MULTICAST || MULTICAST_GROUP,
    idleInterval: num(env.PERSONAL_CLOUD_IDLE_INTERVAL, 10),
    formGraceSeconds: num(env.PERSONAL_CLOUD_FORM_GRACE, 20),
    countInterval: num(env.PERSONAL_CLOUD_COUNT_INTERVAL, 300),
    brickRestartSeconds: num(env.PERSONAL_CLOUD_BRICK_RESTART, 30),
    ...(env.PERSONAL_CLOUD_CRASH_AT ? { crashAt: env.PERSONAL_CLOUD_CRASH_AT } : {}),
  };
}
