// The HA part of the plan: fencing, quorum device, knet links, bridges. Defaults: diskless
// SBD on the hardware watchdog; a 2-node cluster needs a quorum device (validate says so).
import type { ClusterConfig, HaConfig } from '../config/types.js';
import { sealFor } from '../../firstboot/ha/seal.js';
import { deriveJoinKey } from './keys.js';
import type { FencingPlan, HaPlan } from './types.js';

/** The purpose the BMC passwords are sealed for (firstboot/steps/ha.ts opens them). */
export const BMC_SEAL = 'bmc-passwords';

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
    ...(ha.qdevice ? { qdevice: { host: ha.qdevice.host, algorithm: 'ffsplit' as const } } : {}),
    links: config.nodes.length > 0 && config.nodes.every((n) => n.ring1Address) ? 2 : 1,
    bridges: ha.bridges,
    vmDir: '/mnt/gv0/vm',
    migration: 'tls',
  };
}

/** Every node's BMC password, sealed with the join key: reproducible, never plaintext in cluster.json. */
function bmcPasswords(config: ClusterConfig) {
  const pw = Object.fromEntries(config.nodes.filter((n) => n.bmc).map((n) => [n.name, n.bmc!.password]));
  return sealFor(deriveJoinKey(config.secret, config.name), BMC_SEAL, JSON.stringify(pw));
}

export function haPackages(config: ClusterConfig): string[] {
  const ha = config.ha;
  if (!ha?.enabled) return [];
  const pkgs = ['sbd', 'corosync-qdevice'];
  if (ha.fencing.kind !== 'sbd') pkgs.splice(0, 1);
  if (!ha.qdevice) pkgs.splice(pkgs.indexOf('corosync-qdevice'), 1);
  return pkgs;
}
