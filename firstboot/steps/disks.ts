// Brick disks: refuse anything that holds data (unless `wipe: true`), then (encryption:) LUKS2
// bound to the clevis pins (luks-plan.ts), then VG + thin pool + thin LV (layout lvm-thin) or
// the bare disk (layout xfs) on the disk or its mapper device, XFS, fstab, mount, brick
// directory, one action at a time as brick-plan.ts decides from what is on the disk now. At
// boot an encrypted brick is unlocked here once enough of its pins answer; until then it stays
// locked (status says who is awaited), is retried every pass, and nothing above it is touched.
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import type { BrickPlan } from '../../core/plan-types.js';
import { boundary } from '../crash.js';
import { lvmRows, lvmTag, nextBrickAction, parseLvs, type BrickAction, type BrickObserved, type FsSeen, type LvmObserved } from '../brick-plan.js';
import { ARBITER_DISK_ID, type Signature, busyDevices, diskGone, mkfsXfsArgs, mountedAt, probeSignatures, resolveDisk, thinPoolSizes } from '../disks.js';
import { run } from '../exec.js';
import { fstabLine, setFstabLine } from '../fstab.js';
import { mountFromFstab } from '../mount.js';
import { log } from '../log.js';
import type { DiskIntent } from '../state.js';
import { done, NeedsAttention, todo, waiting, type Ctx, type Step } from './step.js';
import { call } from '../../core/channel.js';
import { lockedMessage, pinId, pinName, pinsFor, sssConfig, type Pin, type TangAdv } from '../../core/encryption-policy.js';
import { addRecoverySlot, answeringPins, bindingPins, clevisBind, clevisRebind, clevisUnbind, clevisUnlock, fetchAdv, forgetFormatKey, luksFormat, mapperOpenOn, mapperPath, observeLuks, readHeader, tokensSeen } from '../luks.js';
import { rebindDecision, type BindingWant, type TokenSeen } from '../../core/clevis-binding.js';
import { luksLabel, nextLuksAction } from '../luks-plan.js';
import { exists } from '../fsx.js';

const onOsDisk = (b: BrickPlan) => 'id' in b.disk && b.disk.id === ARBITER_DISK_ID;
const fstabFor = (uuid: string, b: BrickPlan) => `UUID=${uuid} ${b.mountPoint} xfs inode64,noatime,nofail 0 2`;

async function brickReady(ctx: Ctx, b: BrickPlan): Promise<string | null> {
  if (onOsDisk(b)) return (await exists(b.path)) ? null : 'brick directory missing';
  const intent = ctx.state.data.disks[b.mountPoint];
  if (!intent) return 'not prepared';
  const m = await mountedAt(b.mountPoint);
  if (!m || m.fstype !== 'xfs') return 'not mounted';
  if ((await fstabLine(b.mountPoint)) !== fstabFor(intent.uuid, b)) return 'fstab entry missing';
  if (!(await exists(b.path))) return 'brick directory missing';
  return null;
}

/** A brick's clevis pins as its LUKS2 header binds them, and which answer now (status, unlock at boot). */
export interface LockSeen {
  pins: Pin[]; answering: string[]; threshold: number; open: boolean;
  /** Every clevis token of the header (a rebind leaves two for a moment). */
  tokens?: TokenSeen[];
}

const brickName = (b: BrickPlan) => `${b.volume} brick${b.index}`;
const staticNodes = (ctx: Ctx) => ctx.plan.nodes.flatMap((n) => (n.network.dhcp ? [] : [{ name: n.name, address: n.network.address }]));
const pinsText = (l: LockSeen) => `${l.pins.map((p) => `${pinName(p)} ${l.answering.includes(pinId(p)) ? 'answers' : 'silent'}`).join(', ')} (${l.threshold} needed)`;

async function lockSeen(b: BrickPlan, device: string): Promise<LockSeen | undefined> {
  const h = await readHeader(device).catch(() => null);
  if (!h?.binding) return undefined;
  const pins = bindingPins(h.binding, []);
  const all = [...new Map(h.clevis.flatMap((c) => bindingPins(c.binding, [])).map((p) => [pinId(p), p])).values()];
  const { answering, advs } = await answeringPins(all);
  return {
    pins, answering: [...answering].sort(), threshold: h.binding.t, open: await mapperOpenOn(b, device),
    tokens: tokensSeen(h.clevis, advs),
  };
}

/** Names peers' tang pins by node (the binding holds URLs only). */
function namedLock(ctx: Ctx, l: LockSeen): LockSeen {
  const named = bindingPins({ t: l.threshold, tang: l.pins.flatMap((p) => (p.kind === 'tpm2' ? [] : [{ url: p.url, kid: '' }])), tpm2: l.pins.filter((p) => p.kind === 'tpm2').length }, staticNodes(ctx));
  return { ...l, pins: named };
}

/**
 * Each pin's advertisement for a new binding: a peer's through the authenticated agent
 * channel, an external server's over HTTP only when no thumbprint pins it (validate warned).
 */
async function bindAdvs(ctx: Ctx, pins: Pin[]): Promise<Map<string, TangAdv>> {
  const advs = new Map<string, TangAdv>();
  const missing: string[] = [];
  for (const p of pins) {
    if (p.kind === 'peer') {
      const n = ctx.plan.nodes.find((x) => x.name === p.node);
      if (!n || n.network.dhcp) { missing.push(p.node); continue; }
      try { advs.set(p.url, (await call<TangAdv>(ctx.key, ctx.self.name, n.network.address, ctx.env.port, 'tang-adv', null, 10_000)).data); } catch { missing.push(p.node); }
    } else if (p.kind === 'tang' && !p.thp) {
      const adv = await fetchAdv(p.url);
      if (adv) advs.set(p.url, adv); else missing.push(p.url);
    }
  }
  if (missing.length) throw new NeedsAttention(`waiting for the tang advertisement of ${missing.join(', ')} to bind the brick (their agent or tang does not answer yet)`);
  return advs;
}

/**
 * An encrypted brick's LUKS2 container, one decision of luks-plan.ts at a time, observed again
 * after each command; returns the mapper device the layers above live on. A brick whose pins
 * do not answer stays locked (NeedsAttention with who is awaited); nothing is formatted again
 * once bound.
 */
async function openEncryption(ctx: Ctx, b: BrickPlan, intent: DiskIntent): Promise<string> {
  const policy = ctx.plan.cluster.encryption;
  const seen: string[] = [];
  for (let i = 0; i < 10; i++) {
    const o = await observeLuks(b, intent.device, intent.recoverySlot ?? null);
    const a = nextLuksAction(o, { uuid: intent.uuid });
    if (a.do === 'done') return mapperPath(b);
    if (seen.filter((x) => x === a.do).length >= 2) throw new Error(`${brickName(b)}: ${a.do} did not take effect (actions so far: ${seen.join(', ')})`);
    seen.push(a.do);
    switch (a.do) {
      case 'refuse': throw new NeedsAttention(`${brickName(b)}: ${a.why}; left untouched`);
      case 'reformat': log.warn(`${brickName(b)}: ${a.why}: formatting it again`);
      // falls through
      case 'format':
        await luksFormat(b, intent.device, luksLabel(intent.uuid));
        boundary('disks:luksformat');
        break;
      case 'bind': {
        if (!policy) throw new NeedsAttention(`${brickName(b)}: formatted for encryption, but cluster.yaml has no encryption: section to bind it with`);
        const pins = pinsFor(policy, ctx.self.name, staticNodes(ctx));
        await clevisBind(b, intent.device, sssConfig(pins, policy.threshold, await bindAdvs(ctx, pins)));
        log.info(`${brickName(b)}: LUKS2 bound to ${pins.map(pinName).join(', ')} (${policy.threshold} needed)`);
        boundary('disks:bind');
        break;
      }
      case 'add-recovery': {
        if (!policy) throw new NeedsAttention(`${brickName(b)}: no encryption: section in the plan: no recovery key to seal the passphrase to`);
        const clevisSlot = o.header!.tokens.find((t) => t.type === 'clevis')?.keyslots[0] ?? null;
        await addRecoverySlot(b, intent.device, { node: ctx.self.name, publicKey: policy.recoveryKey, header: o.header!, clevisSlot }, async (slot, sealed) => {
          intent.recoverySlot = slot;
          ctx.state.data.recoveryKeys = { ...ctx.state.data.recoveryKeys, [b.mountPoint]: sealed };
          await ctx.state.save();
        });
        boundary('disks:recovery');
        break;
      }
      case 'forget-key': await forgetFormatKey(b, intent.device); boundary('disks:forgetkey'); break;
      case 'open': {
        const lock = await lockSeen(b, intent.device);
        const l = lock && namedLock(ctx, lock);
        if (l && l.answering.length < l.threshold) throw new NeedsAttention(`${brickName(b)}: ${lockedMessage(l.pins, l.threshold, new Set(l.answering))}`);
        try { await clevisUnlock(b, intent.device); } catch (e) {
          throw new NeedsAttention(`${brickName(b)}: locked: clevis could not unlock it${l ? ` (pins: ${pinsText(l)})` : ''}: ${(e as Error).message}`);
        }
        log.info(`${brickName(b)}: unlocked${l ? ` (pins: ${pinsText(l)})` : ''}`);
        boundary('disks:open');
        break;
      }
    }
  }
  throw new Error(`${brickName(b)}: LUKS2 layer not ready after ${seen.join(', ')}`);
}

async function observeLvm(device: string, b: BrickPlan): Promise<LvmObserved> {
  const q = (cmd: string, args: string[]) => run(cmd, ['--noheadings', '--separator', '|', ...args], { allowFail: true });
  const pv = await q('pvs', ['-o', 'pv_name,vg_name', device]);
  const vg = await q('vgs', ['-o', 'vg_name,vg_tags', b.vg]);
  const pvRow = pv.code === 0 ? lvmRows(pv.stdout)[0] : undefined;
  const vgRow = vg.code === 0 ? lvmRows(vg.stdout)[0] : undefined;
  const allPvs = vgRow ? lvmRows((await q('pvs', ['-o', 'pv_name,vg_name'])).stdout) : [];
  const lvs = vgRow ? await q('lvs', ['-a', '-o', 'lv_name,lv_attr,pool_lv,lv_tags', b.vg]) : null;
  return {
    pv: pvRow ? { vg: pvRow[1] ?? '' } : null,
    vg: vgRow ? { tags: (vgRow[1] ?? '').split(',').filter(Boolean), pvs: allPvs.filter((r) => r[1] === b.vg).map((r) => r[0]) } : null,
    lvs: lvs?.code === 0 ? parseLvs(lvs.stdout) : [],
  };
}

/** `known`: the signatures of `target` when already probed (a brick formatted directly on its disk). */
async function fsOn(target: string, known?: Signature[]): Promise<FsSeen | null> {
  if (!(await exists(target))) return null;
  const sig = (known ?? (await probeSignatures(target))).find((x) => x.kind !== 'partition-table');
  return { type: sig?.kind ?? null, uuid: sig?.uuid ?? null };
}

/** Mount points whose thin LV could not be created in this agent's life: the pool is rebuilt. */
type ThinFailures = Set<string>;

async function observeBrick(b: BrickPlan, intent: DiskIntent, device: string, thinCreateFailed: ThinFailures): Promise<BrickObserved> {
  const lvm = intent.layout === 'lvm-thin' ? await observeLvm(device, b) : undefined;
  const thin = lvm?.lvs.find((x) => x.name === b.lv);
  const active = !lvm || (thin?.attr[0] === 'V' && thin.attr[4] === 'a');
  const onDevice = await probeSignatures(device);
  return {
    layout: lvm ? 'lvm-thin' : 'xfs',
    device,
    deviceSignature: onDevice[0]?.kind ?? null,
    ...(lvm ? { lvm } : {}),
    fs: active ? await (lvm ? fsOn(`/dev/${b.vg}/${b.lv}`) : fsOn(device, onDevice)) : null,
    fstabOk: (await fstabLine(b.mountPoint)) === fstabFor(intent.uuid, b),
    mounted: await mountedAt(b.mountPoint),
    brickDir: await exists(b.path),
    thinCreateFailed: thinCreateFailed.has(b.mountPoint),
  };
}

async function act(b: BrickPlan, intent: DiskIntent, device: string, a: BrickAction, thinCreateFailed: ThinFailures): Promise<void> {
  const tag = lvmTag(intent.uuid);
  switch (a.do) {
    case 'pvcreate': await run('pvcreate', ['-y', device]); boundary('disks:pvcreate'); return;
    case 'vgcreate': await run('vgcreate', ['--addtag', tag, b.vg, device]); boundary('disks:vgcreate'); return;
    case 'remove-lvs':
      log.warn(`${b.volume} brick${b.index}: removing ${a.lvs.map((x) => `${b.vg}/${x}`).join(', ')}: ${a.why}`);
      try {
        await run('lvremove', ['-f', '-y', ...a.lvs.map((x) => `${b.vg}/${x}`)]);
      } catch (e) {
        // a pool too broken to remove on its own: the VG holds no thin volume yet, so no data
        log.warn(`${b.volume} brick${b.index}: ${(e as Error).message}; removing volume group ${b.vg} (ours, still empty) to start over`);
        await run('vgremove', ['-f', '-y', b.vg]);
      }
      thinCreateFailed.delete(b.mountPoint);
      boundary('disks:lvremove');
      return;
    case 'create-pool': {
      const free = Number((await run('vgs', ['--noheadings', '--units', 'b', '--nosuffix', '-o', 'vg_free', b.vg])).stdout.trim());
      const { metadataBytes, dataBytes } = thinPoolSizes(free);
      await run('lvcreate', ['-y', '--type', 'thin-pool', '-L', `${dataBytes}b`, '--chunksize', '256k', '--poolmetadatasize', `${metadataBytes}b`, '--zero', 'n', '--addtag', tag, '-n', b.thinPool, b.vg]);
      boundary('disks:thinpool');
      return;
    }
    case 'create-thin': {
      const size = Number((await run('lvs', ['--noheadings', '--units', 'b', '--nosuffix', '-o', 'lv_size', `${b.vg}/${b.thinPool}`])).stdout.trim());
      try {
        await run('lvcreate', ['-y', '--type', 'thin', '-V', `${size}b`, '--thinpool', b.thinPool, '--addtag', tag, '-n', b.lv, b.vg]);
      } catch (e) { thinCreateFailed.add(b.mountPoint); throw e; }
      boundary('disks:thinlv');
      return;
    }
    case 'activate': await run('lvchange', ['-ay', `${b.vg}/${b.lv}`]); boundary('disks:activate'); return;
    case 'mkfs': await run('mkfs.xfs', mkfsXfsArgs(intent.layout === 'lvm-thin' ? `/dev/${b.vg}/${b.lv}` : device, intent.uuid, `${b.volume}b${b.index}`)); boundary('disks:mkfs'); return;
    case 'fstab': await setFstabLine(b.mountPoint, fstabFor(intent.uuid, b)); boundary('disks:fstab'); return;
    case 'mount': await mkdir(b.mountPoint, { recursive: true }); await mountFromFstab(b.mountPoint); boundary('disks:mount'); return;
    case 'brickdir': await mkdir(b.path, { recursive: true }); boundary('disks:brickdir'); return;
    case 'refuse': throw new NeedsAttention(`${b.volume} brick${b.index} on ${device}: ${a.why}; left untouched`);
    case 'done': return;
  }
}

async function prepare(ctx: Ctx, b: BrickPlan, taken: Set<string>, thinCreateFailed: ThinFailures): Promise<void> {
  if (onOsDisk(b)) { await mkdir(b.path, { recursive: true }); boundary('disks:brickdir'); return; }
  let intent: DiskIntent | undefined = ctx.state.data.disks[b.mountPoint];
  if (intent && (await diskGone(intent.device)) && !(await mountedAt(b.mountPoint))) {
    // the disk it was made on is gone (died, pulled): a blank disk matching the selector takes its place
    const gone = intent.device;
    const next = await resolveDisk(b.disk, new Set([...taken, gone])).catch(() => null);
    if (!next || next === gone || (await diskGone(next))) {
      throw new NeedsAttention(`${b.volume} brick${b.index}: its disk ${gone} is gone; waiting for a blank disk ${'id' in b.disk ? `at ${b.disk.id} (this brick's disk is chosen by id: a disk with another id needs it selected in cluster.yaml)` : `matching ${JSON.stringify(b.disk.match)}`}`);
    }
    log.warn(`${b.volume} brick${b.index}: its disk ${gone} is gone; preparing ${next} in its place`);
    delete ctx.state.data.disks[b.mountPoint];
    await ctx.state.save();
    intent = undefined;
  }
  const device = intent?.device ?? await resolveDisk(b.disk, taken);
  taken.add(device);
  if (!intent) {
    const busy = await busyDevices();
    if (busy.has(device)) throw new NeedsAttention(`refusing ${device} for ${b.volume} brick${b.index}: it is in use (mounted)`);
    const sigs = await probeSignatures(device);
    if (sigs.length) {
      const what = sigs.map((s) => s.detail).join(', ');
      if (!b.disk.wipe) throw new NeedsAttention(`refusing ${device} for ${b.volume} brick${b.index}: it holds ${what}; left untouched (set wipe: true on this disk in cluster.yaml to allow erasing it)`);
      log.warn(`wiping ${device} (${what}) for ${b.volume} brick${b.index}: the config allows it (wipe: true)`);
      await run('wipefs', ['-a', device]);
      boundary('disks:wipe');
    }
    // Recorded before the first write: after a crash the half-made layout is known to be ours.
    intent = { device, uuid: randomUUID(), layout: b.layout, ...(b.layout === 'lvm-thin' ? { vg: b.vg } : {}), ...(ctx.plan.cluster.encryption ? { encrypted: true } : {}) };
    ctx.state.data.disks[b.mountPoint] = intent;
    await ctx.state.save();
    boundary('disks:intent');
  }
  const opened = intent.encrypted ? await openEncryption(ctx, b, intent) : intent.device;
  const want = { vg: b.vg, pool: b.thinPool, lv: b.lv, uuid: intent.uuid };
  // each action changes what the next observation sees; a bounded loop guards against a
  // decision that does not (it would otherwise spin)
  const seen: string[] = [];
  for (let i = 0; i < 12; i++) {
    const a = nextBrickAction(await observeBrick(b, intent, opened, thinCreateFailed), want);
    if (a.do === 'done') return;
    if (seen.filter((x) => x === a.do).length >= 2) throw new Error(`${b.volume} brick${b.index}: ${a.do} did not take effect (actions so far: ${seen.join(', ')})`);
    seen.push(a.do);
    await act(b, intent, opened, a, thinCreateFailed);
  }
  throw new Error(`${b.volume} brick${b.index}: not ready after ${seen.join(', ')}`);
}

/** This node's prepared bricks as `node:path` (a disk that needs attention holds back only its own bricks). */
export async function readyBrickRefs(ctx: Ctx): Promise<string[]> {
  const out: string[] = [];
  for (const b of ctx.self.bricks) if (!(await brickReady(ctx, b))) out.push(`${ctx.self.name}:${b.path}`);
  return out;
}

/**
 * Each unready brick is one action: its preparation is itself a sequence of decisions from
 * what is on the disk (brick-plan.ts), observed again after every command.
 */
export interface DisksSeen {
  unready: { brick: BrickPlan; why: string; lock?: LockSeen }[];
  /** Ready encrypted bricks with their pins and clevis tokens. */
  encrypted?: { brick: BrickPlan; lock: LockSeen }[];
}

/** A bound brick that is not open and whose answering pins cannot meet its threshold: it waits, locked. */
const shortOfPins = (l?: LockSeen) => Boolean(l && !l.open && l.answering.length < l.threshold);

/**
 * Each unready brick is one action: its preparation is itself a sequence of decisions from
 * what is on the disk (brick-plan.ts, luks-plan.ts), observed again after every command. An
 * encrypted brick whose pins do not answer is left locked, retried every pass.
 */
export type DisksAction = { prepare: BrickPlan } | { rebind: BrickPlan; from: number } | { unbind: BrickPlan; slots: number[] };

/** The binding an encrypted brick of this node should have now (the policy over the current nodes). */
function wantedBinding(ctx: Ctx): BindingWant | null {
  const policy = ctx.plan.cluster.encryption;
  if (!policy) return null;
  const pins = pinsFor(policy, ctx.self.name, staticNodes(ctx));
  return { tang: pins.flatMap((p) => (p.kind === 'tpm2' ? [] : [p.url])), tpm2: pins.filter((p) => p.kind === 'tpm2').length, threshold: policy.threshold };
}

/** A peer's tang is reinstalled (new keys), or the nodes changed: a new binding first, the old token removed after. */
async function rebind(ctx: Ctx, a: Exclude<DisksAction, { prepare: BrickPlan }>): Promise<void> {
  const b = 'rebind' in a ? a.rebind : a.unbind;
  const intent = ctx.state.data.disks[b.mountPoint];
  if (!intent?.encrypted) return;
  if ('unbind' in a) {
    for (const slot of a.slots) { await clevisUnbind(intent.device, slot); log.info(`${brickName(b)}: old clevis binding (slot ${slot}) removed`); }
    boundary('disks:unbind');
    return;
  }
  const policy = ctx.plan.cluster.encryption!;
  const pins = pinsFor(policy, ctx.self.name, staticNodes(ctx));
  await clevisRebind(b, intent.device, a.from, sssConfig(pins, policy.threshold, await bindAdvs(ctx, pins)));
  log.info(`${brickName(b)}: bound anew to ${pins.map(pinName).join(', ')} (${policy.threshold} needed), with the key of slot ${a.from}`);
  boundary('disks:rebind');
}

export const disksStep: Step<DisksSeen, DisksAction> & { thinCreateFailed: ThinFailures } = {
  name: 'disks',
  loop: 'storage',
  thinCreateFailed: new Set(),
  async observe(ctx) {
    const unready: DisksSeen['unready'] = [];
    const encrypted: NonNullable<DisksSeen['encrypted']> = [];
    for (const b of ctx.self.bricks) {
      const why = await brickReady(ctx, b);
      const intent = ctx.state.data.disks[b.mountPoint];
      const raw = intent?.encrypted && !onOsDisk(b) ? await lockSeen(b, intent.device) : undefined;
      const lock = raw && namedLock(ctx, raw);
      if (why) unready.push({ brick: b, why, ...(lock ? { lock } : {}) });
      else if (lock) encrypted.push({ brick: b, lock });
    }
    return { unready, ...(encrypted.length ? { encrypted } : {}) };
  },
  plan(ctx, { unready, encrypted = [] }) {
    const pins = encrypted.map((e) => `${brickName(e.brick)} encrypted, pins ${pinsText(e.lock)}`);
    const want = wantedBinding(ctx);
    const rebinds: DisksAction[] = [];
    for (const e of encrypted) {
      if (!want || !e.lock.tokens) continue;
      const r = rebindDecision(e.lock.tokens, want, new Set(e.lock.answering));
      if (r.do === 'ok') continue;
      pins.push(`${brickName(e.brick)}: ${r.why}`);
      if (r.do === 'rebind') rebinds.push({ rebind: e.brick, from: r.from });
      else if (r.do === 'unbind') rebinds.push({ unbind: e.brick, slots: r.slots });
    }
    const locked = unready.filter((u) => shortOfPins(u.lock));
    const lockedText = locked.map((u) => `${lockedMessage(u.lock!.pins, u.lock!.threshold, new Set(u.lock!.answering))} (${brickName(u.brick)})`);
    const rest = unready.filter((u) => !shortOfPins(u.lock));
    const actions: DisksAction[] = [...rest.map((u) => ({ prepare: u.brick })), ...rebinds];
    const detail = [...(unready.length ? [] : [`${ctx.self.bricks.length} bricks ready`]), ...rest.map((u) => `${brickName(u.brick)}: ${u.why}`), ...lockedText, ...pins].join('; ');
    if (actions.length) return todo(actions, detail);
    return locked.length ? waiting(detail) : done(detail);
  },
  async apply(ctx, actions) {
    const taken = await busyDevices();
    for (const i of Object.values(ctx.state.data.disks)) taken.add(i.device);
    const problems: string[] = [];
    for (const a of actions) {
      try {
        if ('prepare' in a) await prepare(ctx, a.prepare, taken, this.thinCreateFailed); else await rebind(ctx, a);
      } catch (e) { problems.push((e as Error).message); if (!(e instanceof NeedsAttention)) break; }
    }
    if (problems.length) throw new NeedsAttention(problems.join('; '));
  },
};
