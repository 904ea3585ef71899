// Preparing one brick disk as a pure decision: from what is on the disk now (LVM, filesystem,
// fstab, mount, directory) to the single next action. Every layer is checked, so a run killed
// half-way (by SIGKILL or power loss, even inside lvcreate or mkfs) is continued from whatever
// it left — recognised as ours by the brick's LVM names, the tag `personal-cloud:<uuid>` and
// the filesystem UUID chosen before the first write — while anything not made by us is refused.
// Runs only once the agent has recorded its intent for the device (it was blank, or wiping was allowed).

export interface LvmLv { name: string; attr: string; pool: string; tags: string[] }

export interface LvmObserved {
  /** The brick device as an LVM physical volume: its VG name ('' for none), or null when it is no PV. */
  pv: { vg: string } | null;
  /** The volume group with the brick's VG name, if it exists. */
  vg: { tags: string[]; pvs: string[] } | null;
  /** LVs of that VG, hidden ones (thin pool parts, pmspare) included, names without brackets. */
  lvs: LvmLv[];
}

export interface FsSeen { type: string | null; uuid: string | null }

export interface BrickObserved {
  layout: 'lvm-thin' | 'xfs';
  device: string;
  /** Signature blkid finds on the device itself (e.g. LVM2_member, xfs, ext4), null for none. */
  deviceSignature: string | null;
  lvm?: LvmObserved;
  /** Filesystem on the target (the thin LV, or the device for layout xfs); null when the target is absent or inactive. */
  fs: FsSeen | null;
  fstabOk: boolean;
  mounted: { fstype: string; source: string } | null;
  brickDir: boolean;
  /** Creating the thin LV failed in this agent's lifetime: the pool is suspect (half-made). */
  thinCreateFailed?: boolean;
}

export interface BrickWant { vg: string; pool: string; lv: string; uuid: string }

export type BrickAction =
  | { do: 'pvcreate' | 'vgcreate' | 'create-pool' | 'create-thin' | 'activate' | 'mkfs' | 'fstab' | 'mount' | 'brickdir' | 'done' }
  | { do: 'remove-lvs'; lvs: string[]; why: string }
  | { do: 'refuse'; why: string };

export const lvmTag = (uuid: string) => `personal-cloud:${uuid}`;
const OUR_TAG = /^personal-cloud:/;

function lvmAction(o: BrickObserved, w: BrickWant): BrickAction | null {
  const l = o.lvm ?? { pv: null, vg: null, lvs: [] };
  if (!l.vg) {
    if (l.pv) {
      if (l.pv.vg && l.pv.vg !== w.vg) return { do: 'refuse', why: `${o.device} belongs to volume group ${l.pv.vg}, not ${w.vg}` };
      return { do: 'vgcreate' };
    }
    // a label cut short by a crash reads as no signature or as LVM2_member without a PV
    if (o.deviceSignature && o.deviceSignature !== 'LVM2_member') return { do: 'refuse', why: `${o.device} now holds ${o.deviceSignature}` };
    return { do: 'pvcreate' };
  }
  if (l.vg.pvs.length !== 1 || l.vg.pvs[0] !== o.device) return { do: 'refuse', why: `volume group ${w.vg} exists on ${l.vg.pvs.join(', ') || 'no disk'}, not on ${o.device}` };
  const tags = l.vg.tags.filter((t) => OUR_TAG.test(t));
  if (tags.length && !tags.includes(lvmTag(w.uuid))) return { do: 'refuse', why: `volume group ${w.vg} was made for another brick (${tags.join(', ')})` };
  const thin = l.lvs.find((x) => x.name === w.lv);
  const pool = l.lvs.find((x) => x.name === w.pool);
  // top-level LVs: not the parts of a thin pool, not its spare metadata
  const top = l.lvs.filter((x) => !/_t(meta|data)\d*$|_pmspare$/.test(x.name)).map((x) => x.name);
  if (thin) {
    if (thin.attr[0] !== 'V' || thin.pool !== w.pool) return { do: 'remove-lvs', lvs: [w.lv], why: `${w.vg}/${w.lv} is not a thin volume of ${w.pool} (left by an interrupted lvcreate)` };
    if (thin.attr[4] !== 'a') return { do: 'activate' };
    return null;
  }
  // No thin LV yet, so no filesystem and no data in this VG: whatever else is in it is a
  // leftover of an interrupted lvcreate and is removed before building the pool again.
  const poolOk = pool && pool.attr[0] === 't' && !o.thinCreateFailed;
  if (!poolOk) {
    const leftovers = [...new Set([...top, ...(pool ? [w.pool] : [])])];
    if (leftovers.length) return { do: 'remove-lvs', lvs: leftovers, why: pool ? `thin pool ${w.vg}/${w.pool} is ${pool.attr[0] === 't' ? 'suspect (creating the thin volume in it failed)' : 'half-made'}` : `leftovers of an interrupted thin pool creation: ${leftovers.join(', ')}` };
    return { do: 'create-pool' };
  }
  const stray = top.filter((n) => n !== w.pool);
  if (stray.length) return { do: 'remove-lvs', lvs: stray, why: `leftovers of an interrupted lvcreate: ${stray.join(', ')}` };
  return { do: 'create-thin' };
}

export function nextBrickAction(o: BrickObserved, w: BrickWant): BrickAction {
  if (o.layout === 'lvm-thin') {
    const a = lvmAction(o, w);
    if (a) return a;
  }
  const ours = o.fs?.type === 'xfs' && o.fs.uuid === w.uuid;
  if (!ours) {
    if (o.mounted) return { do: 'refuse', why: `its mount point is mounted (${o.mounted.source}) but not from the disk this agent prepared` };
    if (o.fs === null && o.layout === 'lvm-thin') return { do: 'activate' };
    if (o.fs?.type) return { do: 'refuse', why: `${o.layout === 'lvm-thin' ? `${w.vg}/${w.lv}` : o.device} holds ${o.fs.type}${o.fs.uuid ? ` (UUID ${o.fs.uuid})` : ''}, not the filesystem this agent made (UUID ${w.uuid})` };
    return { do: 'mkfs' };
  }
  if (!o.fstabOk) return { do: 'fstab' };
  if (!o.mounted) return { do: 'mount' };
  if (o.mounted.fstype !== 'xfs') return { do: 'refuse', why: `its mount point is mounted from ${o.mounted.source} (${o.mounted.fstype}), not the brick filesystem` };
  if (!o.brickDir) return { do: 'brickdir' };
  return { do: 'done' };
}

/** `pvs`/`vgs`/`lvs --noheadings --separator '|'` rows as trimmed fields. */
export function lvmRows(out: string): string[][] {
  return out.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => l.split('|').map((f) => f.trim()));
}

/** `lvs -a --noheadings --separator '|' -o lv_name,lv_attr,pool_lv,lv_tags VG` */
export function parseLvs(out: string): LvmLv[] {
  return lvmRows(out).map(([name, attr = '', pool = '', tags = '']) => ({
    name: name.replace(/^\[|\]$/g, ''), attr, pool: pool.replace(/^\[|\]$/g, ''), tags: tags ? tags.split(',') : [],
  }));
}
