// The LUKS2 layer of an encrypted brick as a pure decision, like brick-plan.ts for the layers
// above it: from what is on the disk now (its LUKS2 header, the clevis token, the key slots, the
// mapper device) to the single next action. The disks step follows it (firstboot/luks.ts runs
// the commands); golden fixtures and a crash-convergence model cover it.
//
// Order, and why a crash at any boundary converges without ever re-formatting a disk that holds
// a filesystem:
//   intent (recorded, with the LUKS label) → luksFormat (random key in /run, tmpfs) → clevis bind
//   → recovery slot (passphrase sealed to the admin) → forget the key → open → PV/VG/… as before.
// The container is opened only once bound, so a header of ours WITHOUT a clevis token was never
// opened and holds nothing: if its key was lost (a reboot wiped /run) it is formatted again.
// A header with a token is never formatted again, whatever happens; a header whose label is
// not ours is refused.

export interface LuksHeader {
  /** LUKS2 label (`cryptsetup luksFormat --label`); ours is luksLabel(intent uuid). */
  label: string | null;
  /** Key slots in use. */
  keyslots: number[];
  /** Tokens: clevis ones carry the key slot they unlock. */
  tokens: { type: string; keyslots: number[] }[];
}

export interface LuksObserved {
  device: string;
  /** What blkid finds on the raw device (crypto_LUKS, xfs, …), null for nothing. */
  deviceSignature: string | null;
  /** The LUKS2 header when the device has one (`cryptsetup luksDump --dump-json-metadata`). */
  header: LuksHeader | null;
  /** The format key is still in /run (this boot formatted the device and has not forgotten it). */
  keyFile: boolean;
  /** The recovery passphrase's key slot, as recorded in the state once it was added and sealed. */
  recoverySlot: number | null;
  /** /dev/mapper/NAME is open on this device. */
  open: boolean;
}

export interface LuksWant { uuid: string }

export type LuksAction =
  | { do: 'format' | 'bind' | 'add-recovery' | 'forget-key' | 'open' | 'done' }
  | { do: 'reformat'; why: string }
  | { do: 'refuse'; why: string };

export const luksLabel = (uuid: string) => `pc:${uuid}`;

export function nextLuksAction(o: LuksObserved, w: LuksWant): LuksAction {
  if (!o.header) {
    // a header cut short by a crash inside luksFormat reads as no signature (or a partial one blkid rejects)
    if (o.deviceSignature && o.deviceSignature !== 'crypto_LUKS') return { do: 'refuse', why: `${o.device} now holds ${o.deviceSignature}` };
    if (o.open) return { do: 'refuse', why: `${o.device} has no LUKS header but its mapper device is open` };
    return { do: 'format' };
  }
  if (o.header.label !== luksLabel(w.uuid)) {
    return { do: 'refuse', why: `${o.device} holds a LUKS container that is not this brick's (label ${o.header.label ?? 'none'})` };
  }
  const clevis = o.header.tokens.filter((t) => t.type === 'clevis');
  if (!clevis.length) {
    if (o.keyFile) return { do: 'bind' };
    if (o.open) return { do: 'refuse', why: `${o.device} is open without a clevis binding (opened by hand?)` };
    return { do: 'reformat', why: 'formatted but never bound or opened, and its key was lost (a restart wiped /run): it holds nothing' };
  }
  if (o.recoverySlot === null || !o.header.keyslots.includes(o.recoverySlot)) return { do: 'add-recovery' };
  if (o.keyFile) return { do: 'forget-key' };
  if (!o.open) return { do: 'open' };
  return { do: 'done' };
}
