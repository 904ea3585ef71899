// Durable agent state in /var/lib/personal-cloud/state.json. Only facts that cannot be read
// back from the system live here — chiefly *intents* recorded before a destructive action
// (e.g. "about to mkfs this disk with this UUID"), so a crash half-way is recognised as ours.
import { join } from 'node:path';
import { readText, writeDurable } from './fsx.js';
import type { RemovalRecord } from '../core/removal-types.js';
import type { SealedRecoveryKey } from '../core/recovery-key.js';

export interface DiskIntent {
  device: string; uuid: string; layout: string; vg?: string;
  /** LUKS2 under the layers (decided when the intent was recorded: a brick never changes between clear and encrypted). */
  encrypted?: boolean;
  /** The key slot of the recovery passphrase, recorded (with its sealed copy) before cryptsetup adds it. */
  recoverySlot?: number;
}

/**
 * A reinstalled node taking its old place in the pool: the glusterd UUID it adopts and the peer
 * entries (every other member by its own UUID) glusterd needs to reconnect.
 */
export interface IdentityIntent { uuid: string; peers: { uuid: string; name: string }[] }

export interface DurableState {
  version: 1;
  disks: Record<string, DiskIntent>; // by brick mount point
  rebalancePending: string[];
  identity?: IdentityIntent;
  /** Blank bricks brought back into their volume, by `node:path`: `reset` until glusterd took the brick back, then `healing` until healed. */
  brickResets?: Record<string, { volume: string; since: string; phase: 'reset' | 'healing' }>;
  /** A `node remove` recorded before acting (kept, phase done, once finished). */
  removal?: RemovalRecord;
  /** Nodes removed from this cluster: never probed, re-added or adopted back (firstboot/removal-hooks.ts). */
  retired?: string[];
  /**
   * Each encrypted brick's recovery passphrase sealed to the cluster's recovery public key, by
   * brick mount point: the node cannot open them; `personal-cloud recovery-key` can.
   */
  recoveryKeys?: Record<string, SealedRecoveryKey>;
}

export class StateStore {
  data: DurableState = { version: 1, disks: {}, rebalancePending: [] };
  constructor(private dir: string) {}
  get path(): string { return join(this.dir, 'state.json'); }

  async load(): Promise<void> {
    const t = await readText(this.path);
    if (t) {
      try { this.data = { ...this.data, ...JSON.parse(t) }; } catch { /* a torn write is impossible (rename), a hand-edit is: start fresh */ }
    }
  }

  async save(): Promise<void> {
    await writeDurable(this.path, `${JSON.stringify(this.data, null, 2)}\n`, 0o600);
  }
}
