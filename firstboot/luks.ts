// The LUKS2 layer of an encrypted brick on a real disk: what cryptsetup and clevis report
// (observe), the commands behind each decision of luks-plan.ts, and which of a brick's clevis
// pins answer now (unlock at boot, status). The format key lives only in /run (tmpfs, 0600)
// until the clevis binding and the sealed recovery slot exist; then it is removed from the
// header and the file deleted. The recovery passphrase reaches cryptsetup through a pipe and
// is kept only sealed to the admin's key (core/recovery-key.ts).
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import type { BrickPlan } from '../core/plan-types.js';
import { bindingShares, staleShares, type BindingShares, type TokenSeen } from '../core/clevis-binding.js';
import { newRecoveryPassphrase, sealRecoveryKey } from '../core/recovery-key.js';
import { peerTangUrl, pinId, type Pin, type SssConfig, type TangAdv } from '../core/encryption-policy.js';
import { run } from './exec.js';
import { exists } from './fsx.js';
import type { LuksHeader, LuksObserved } from './luks-plan.js';

/** tmpfs: a reboot forgets the format key (luks-plan.ts relies on that). */
export const LUKS_KEY_DIR = '/run/personal-cloud/luks';

/** The mapper name of a brick, as README's by-hand unlock and `recovery-key --disk` name it (gv0b1). */
export const mapperName = (b: Pick<BrickPlan, 'volume' | 'index'>) => `${b.volume}b${b.index}`;
export const mapperPath = (b: Pick<BrickPlan, 'volume' | 'index'>) => `/dev/mapper/${mapperName(b)}`;
/** What the LUKS2 commands need of a brick's plan: its name (mapper, key file) and mount point (recovery key). */
export type LuksBrick = Pick<BrickPlan, 'volume' | 'index' | 'mountPoint'>;
const keyFile = (b: Pick<BrickPlan, 'volume' | 'index'>) => `${LUKS_KEY_DIR}/${mapperName(b)}.key`;

interface DumpJson {
  keyslots?: Record<string, unknown>;
  tokens?: Record<string, { type: string; keyslots?: string[]; jwe?: Record<string, unknown> }>;
}

/**
 * The LUKS2 header of `device` (null: none), with the binding of each clevis token by its key
 * slot (`binding`: the first one's, what unlocks the brick).
 */
export async function readHeader(device: string): Promise<{ header: LuksHeader; binding: BindingShares | null; clevis: { slot: number; binding: BindingShares }[] } | null> {
  const isLuks = await run('cryptsetup', ['isLuks', '--type', 'luks2', device], { allowFail: true });
  if (isLuks.code !== 0) return null;
  const text = await run('cryptsetup', ['luksDump', device]);
  const label = /^Label:\s*(.*)$/m.exec(text.stdout)?.[1].trim();
  const json = JSON.parse((await run('cryptsetup', ['luksDump', '--dump-json-metadata', device])).stdout) as DumpJson;
  const tokens = Object.values(json.tokens ?? {}).map((t) => ({ type: t.type, keyslots: (t.keyslots ?? []).map(Number), jwe: t.jwe }));
  const clevis = tokens.flatMap((t) => {
    if (t.type !== 'clevis' || !t.jwe || t.keyslots.length !== 1) return [];
    try { return [{ slot: t.keyslots[0], binding: bindingShares(t.jwe) }]; } catch { return []; }
  });
  return {
    header: { label: label && label !== '(no label)' ? label : null, keyslots: Object.keys(json.keyslots ?? {}).map(Number).sort((a, b) => a - b), tokens: tokens.map(({ type, keyslots }) => ({ type, keyslots })) },
    binding: clevis[0]?.binding ?? null,
    clevis,
  };
}

/** Each clevis token with the tang shares whose server now advertises other keys (`advs`: the servers that answered). */
export function tokensSeen(clevis: { slot: number; binding: BindingShares }[], advs: ReadonlyMap<string, TangAdv>): TokenSeen[] {
  return clevis.map(({ slot, binding }) => ({ slot, t: binding.t, tang: binding.tang.map((s) => s.url), tpm2: binding.tpm2, stale: staleShares(binding, advs) }));
}

/** Whether /dev/mapper/NAME is open on `device`. */
export async function mapperOpenOn(b: LuksBrick, device: string): Promise<boolean> {
  const r = await run('cryptsetup', ['status', mapperName(b)], { allowFail: true });
  if (r.code !== 0) return false;
  const dev = /^\s*device:\s*(\S+)/m.exec(r.stdout)?.[1];
  return dev === device;
}

export async function observeLuks(b: LuksBrick, device: string, recoverySlot: number | null): Promise<LuksObserved & { binding: BindingShares | null }> {
  const sig = await run('blkid', ['-p', '-s', 'TYPE', '-o', 'value', device], { allowFail: true });
  const h = await readHeader(device);
  return {
    device,
    deviceSignature: sig.code === 0 ? sig.stdout.trim() || null : null,
    header: h?.header ?? null,
    keyFile: await exists(keyFile(b)),
    recoverySlot,
    open: await mapperOpenOn(b, device),
    binding: h?.binding ?? null,
  };
}

/** luksFormat with a fresh random key kept in /run only; the label names the brick's intent. */
export async function luksFormat(b: LuksBrick, device: string, label: string): Promise<void> {
  await mkdir(LUKS_KEY_DIR, { recursive: true, mode: 0o700 });
  // text, not raw bytes: clevis handles the existing key in shell variables (no NUL bytes)
  await writeFile(keyFile(b), randomBytes(48).toString('base64url'), { mode: 0o600 });
  await run('cryptsetup', ['luksFormat', '--type', 'luks2', '--batch-mode', '--label', label, '--key-file', keyFile(b), device], { timeoutMs: 300_000 });
}

/** clevis luks bind with the brick's sss policy (every tang share carries its verified adv or thumbprint). */
export async function clevisBind(b: LuksBrick, device: string, sss: SssConfig): Promise<void> {
  await run('clevis', ['luks', 'bind', '-y', '-d', device, '-k', keyFile(b), 'sss', JSON.stringify(sss)], { timeoutMs: 300_000 });
}

/** The passphrase of the clevis slot (from the pins), for one luksAddKey when the format key is gone. */
async function clevisPassFile(b: LuksBrick, device: string, slot: number): Promise<string> {
  const r = await run('clevis', ['luks', 'pass', '-d', device, '-s', String(slot)], { timeoutMs: 120_000 });
  const f = `${LUKS_KEY_DIR}/${mapperName(b)}.pass`;
  await mkdir(LUKS_KEY_DIR, { recursive: true, mode: 0o700 });
  await writeFile(f, r.stdout, { mode: 0o600 });
  return f;
}

/**
 * The recovery slot: a passphrase a person can type, sealed to the cluster's recovery public
 * key and recorded (`record`, with the slot it goes to) BEFORE cryptsetup adds it: a crash in
 * between leaves a recorded slot the header lacks, and the next pass makes a new one there.
 */
export async function addRecoverySlot(
  b: LuksBrick, device: string, o: { node: string; publicKey: string; header: LuksHeader; clevisSlot: number | null },
  record: (slot: number, sealed: ReturnType<typeof sealRecoveryKey>) => Promise<void>,
): Promise<void> {
  const slot = [...Array(32).keys()].find((s) => !o.header.keyslots.includes(s))!;
  const passphrase = newRecoveryPassphrase();
  await record(slot, sealRecoveryKey(o.publicKey, o.node, b.mountPoint, passphrase));
  let existing = keyFile(b);
  let temp: string | null = null;
  if (!(await exists(existing))) {
    if (o.clevisSlot === null) throw new Error(`${device}: no key to add the recovery slot with (no format key, no clevis slot)`);
    existing = temp = await clevisPassFile(b, device, o.clevisSlot);
  }
  try {
    await run('cryptsetup', ['luksAddKey', '--batch-mode', '--key-file', existing, '--key-slot', String(slot), device, '-'], { input: passphrase, timeoutMs: 300_000 });
  } finally {
    if (temp) await rm(temp, { force: true });
  }
}

/** Removes the format key's slot from the header, then the key file: the pins and the recovery passphrase remain. */
export async function forgetFormatKey(b: LuksBrick, device: string): Promise<void> {
  // already removed (a crash after this command): cryptsetup says no key matches, which is the goal
  await run('cryptsetup', ['luksRemoveKey', '--batch-mode', '--key-file', keyFile(b), device], { allowFail: true, timeoutMs: 120_000 });
  await rm(keyFile(b), { force: true });
}

/** Opens the brick with its clevis pins (fails while too few answer). */
export async function clevisUnlock(b: LuksBrick, device: string): Promise<void> {
  await run('clevis', ['luks', 'unlock', '-d', device, '-n', mapperName(b)], { timeoutMs: 180_000 });
}

/** The pins a binding holds, named as the policy names them (a peer's tang by its node). */
export function bindingPins(binding: BindingShares, nodes: { name: string; address: string }[]): Pin[] {
  const byUrl = new Map(nodes.map((n) => [peerTangUrl(n.address), n.name]));
  return [
    ...binding.tang.map((s): Pin => (byUrl.has(s.url) ? { kind: 'peer', node: byUrl.get(s.url)!, url: s.url } : { kind: 'tang', url: s.url })),
    ...Array.from({ length: binding.tpm2 }, (): Pin => ({ kind: 'tpm2' })),
  ];
}

/** A tang server's advertisement over plain HTTP (null: no answer). */
export function fetchAdv(url: string, timeoutMs = 3000): Promise<TangAdv | null> {
  return new Promise((resolve) => {
    const req = request(`${url.replace(/\/$/, '')}/adv`, { timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => { try { resolve(res.statusCode === 200 ? (JSON.parse(body) as TangAdv) : null); } catch { resolve(null); } });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

/** pinId of each pin that answers now (tang: its /adv; TPM2: the device is there), and the advertisements fetched. */
export async function answeringPins(pins: Pin[], timeoutMs = 2000): Promise<{ answering: Set<string>; advs: Map<string, TangAdv> }> {
  const answering = new Set<string>();
  const advs = new Map<string, TangAdv>();
  await Promise.all(pins.map(async (p) => {
    if (p.kind === 'tpm2') { if (await exists('/dev/tpmrm0')) answering.add(pinId(p)); return; }
    const adv = await fetchAdv(p.url, timeoutMs);
    if (adv) { answering.add(pinId(p)); advs.set(p.url, adv); }
  }));
  return { answering, advs };
}

/**
 * A new clevis binding made with the passphrase of a token that still unlocks (`fromSlot`);
 * the old token stays until rebindDecision sees the new one and asks for the old one's removal.
 */
export async function clevisRebind(b: LuksBrick, device: string, fromSlot: number, sss: SssConfig): Promise<void> {
  const pass = await clevisPassFile(b, device, fromSlot);
  try {
    await run('clevis', ['luks', 'bind', '-y', '-d', device, '-k', pass, 'sss', JSON.stringify(sss)], { timeoutMs: 300_000 });
  } finally { await rm(pass, { force: true }); }
}

/** Removes an old clevis token and its key slot (only once another binding exists). */
export async function clevisUnbind(device: string, slot: number): Promise<void> {
  await run('clevis', ['luks', 'unbind', '-f', '-d', device, '-s', String(slot)], { timeoutMs: 120_000 });
}
