// The HA part of the plan: fencing, quorum device, knet links, bridges. Defaults: diskless
// SBD on the hardware watchdog; a 2-node cluster needs a quorum device (validate says so).
import type { ClusterConfig, HaConfig } from '../../core/config-types.js';
import { BMC_SEAL, sealFor } from '../../core/seal.js';
import { deriveJoinKey } from './keys.js';
import type { FencingPlan, HaPlan } from '../../core/plan-types.js';

/** The purpose the BMC passwords are sealed for (firstboot/steps/ha.ts opens them). */

export const HA_DEFAULTS: HaConfig = {
  enabled: true,
  fencing: { kind: 'sbd', watchdog: '/dev/watchdog' },
  bridges: [],
};

/** SBD's watchdog timeout; Pacemaker's stonith-watchdog-timeout is twice this. */
export const SBD_WATCHDOG_TIMEOUT_S = 5;

/** The validator always fills `ha` (HA_DEFAULTS); a config built without it (older callers) gets no HA. */
export function haPlan(config: ClusterConfig): HaPlan {
  const ha = config.ha ?? { ...HA_DEFAULTS, enabled: false };
  const fencing: FencingPlan = ha.fencing.kind === 'sbd' ? { ...ha.fencing, watchdogTimeoutS: SBD_WATCHDOG_TIMEOUT_S }
    : ha.fencing.kind === 'ipmi' ? { kind: 'ipmi', passwords: bmcPasswords(config) } : ha.fencing;
  return {
    enabled: ha.enabled,
    fencing,
    ...(ha.qdevice ? { qdevice: qdevicePlan(config, ha.qdevice) } : {}),
    links: config.nodes.length > 0 && config.nodes.every((n) => n.ring1Address) ? 2 : 1,
    bridges: ha.bridges,
    vmDir: '/mnt/gv0/vm',
    migration: 'tls',
  };
}

/**
 * A quorum device on a node of the plan: corosync-qdevice connects to that node's address (its
 * FQDN when it has no static one, resolved through /etc/hosts) and the node runs corosync-qnetd.
 */
function qdevicePlan(config: ClusterConfig, q: NonNullable<HaConfig['qdevice']>): NonNullable<HaPlan['qdevice']> {
  const n = q.node ? config.nodes.find((x) => x.name === q.node) : undefined;
  if (!n) return { host: q.host, algorithm: 'ffsplit' };
  return { host: n.network.dhcp ? `${n.name}.${config.domain}` : n.network.address, algorithm: 'ffsplit', node: n.name };
}

/** Every node's BMC password, sealed with the join key: reproducible, never plaintext in cluster.json. */
function bmcPasswords(config: ClusterConfig) {
  const pw = Object.fromEntries(config.nodes.filter((n) => n.bmc).map((n) => [n.name, n.bmc!.password]));
  return sealFor(deriveJoinKey(config.secret, config.name), BMC_SEAL, JSON.stringify(pw));
}

export function haPackages(config: ClusterConfig): string[] {
  const ha = config.ha;
  if (!ha?.enabled) return [];
  const pkgs: string[] = [];
  if (ha.fencing.kind === 'sbd') pkgs.push('sbd');
  if (ha.qdevice) pkgs.push('corosync-qdevice');
  // one package list for every node: the agent enables qnetd only on the node that runs it
  if (ha.qdevice?.node) pkgs.push('corosync-qnetd');
  return pkgs;
}
