// Reading a clevis binding (the JWE `clevis encrypt sss` writes, or the one in a LUKS2 clevis
// token) against tang servers' current advertisements: which tang shares still match their
// server's keys. A reinstalled node has new tang keys: its share in every other node's binding
// no longer unlocks anything, and with threshold 1 nothing says so until the last other pin
// fails. The agent rebinds such a brick (while the threshold is still met) so the policy's
// threshold is never silently lost.
import { createHash } from 'node:crypto';

type Jwk = Record<string, unknown>;

/** RFC 7638 members per key type: the thumbprint hashes exactly these, in this order. */
const THP_MEMBERS: Record<string, string[]> = { EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'], RSA: ['e', 'kty', 'n'] };

/** RFC 7638 JWK thumbprint, base64url (what tang names its key files by, and clevis puts in `kid`). */
export function jwkThumbprint(jwk: Jwk, hash: 'sha256' | 'sha1' = 'sha256'): string {
  const members = THP_MEMBERS[String(jwk.kty)];
  if (!members) throw new Error(`unsupported key type ${String(jwk.kty)}`);
  const canonical = `{${members.map((m) => `${JSON.stringify(m)}:${JSON.stringify(jwk[m])}`).join(',')}}`;
  return createHash(hash).update(canonical).digest('base64url');
}

const b64json = (s: string): Record<string, unknown> => JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;

/** The keys a tang advertisement (a JWS in general or flattened JSON form) carries. */
export function advKeys(adv: Record<string, unknown>): Jwk[] {
  if (typeof adv.payload !== 'string') throw new Error('not a tang advertisement (no payload)');
  const keys = b64json(adv.payload).keys;
  if (!Array.isArray(keys)) throw new Error('tang advertisement without keys');
  return keys as Jwk[];
}

/** Thumbprints (SHA-256 and SHA-1) of the key-exchange keys a server advertises now. */
export function advExchangeThumbprints(adv: Record<string, unknown>): Set<string> {
  const out = new Set<string>();
  for (const k of advKeys(adv)) {
    if (!(Array.isArray(k.key_ops) && k.key_ops.includes('deriveKey'))) continue;
    out.add(jwkThumbprint(k, 'sha256'));
    out.add(jwkThumbprint(k, 'sha1'));
  }
  return out;
}

export interface BindingShares {
  t: number;
  /** One per tang share: its server and the thumbprint of the key it was made with. */
  tang: { url: string; kid: string }[];
  tpm2: number;
}

/** The protected header of a JWE in compact form (a.b.c.d.e) or flattened JSON form (LUKS2 token). */
function protectedHeader(jwe: string | Record<string, unknown>): Record<string, unknown> {
  if (typeof jwe === 'string') {
    const s = jwe.trim();
    return s.startsWith('{') ? protectedHeader(JSON.parse(s) as Record<string, unknown>) : b64json(s.split('.')[0]);
  }
  const inner = (jwe.jwe ?? jwe) as Record<string, unknown>;
  if (typeof inner.protected !== 'string') throw new Error('not a JWE (no protected header)');
  return b64json(inner.protected);
}

/** The shares of a clevis `sss` binding. */
export function bindingShares(jwe: string | Record<string, unknown>): BindingShares {
  const clevis = protectedHeader(jwe).clevis as { pin?: string; sss?: { t: number; jwe: string[] } } | undefined;
  if (clevis?.pin !== 'sss' || !clevis.sss) throw new Error(`not a clevis sss binding (pin ${clevis?.pin ?? 'none'})`);
  const out: BindingShares = { t: clevis.sss.t, tang: [], tpm2: 0 };
  for (const share of clevis.sss.jwe) {
    const h = protectedHeader(share);
    const c = h.clevis as { pin: string; tang?: { url: string } };
    if (c.pin === 'tang') out.tang.push({ url: c.tang!.url, kid: String(h.kid) });
    else if (c.pin === 'tpm2') out.tpm2++;
    else throw new Error(`unexpected clevis pin ${c.pin} in an sss share`);
  }
  return out;
}

/**
 * The tang shares of `binding` whose server no longer advertises the key they were made with
 * (keys regenerated or rotated). `advs` holds the current advertisement per URL; a server with
 * none (unreachable) is not judged.
 */
export function staleShares(binding: BindingShares, advs: ReadonlyMap<string, Record<string, unknown>>): string[] {
  return binding.tang.filter((s) => advs.has(s.url) && !advExchangeThumbprints(advs.get(s.url)!).has(s.kid)).map((s) => s.url);
}

export interface BindingHealth {
  /** Shares whose server answers with the key they were made with. */
  good: string[];
  /** Shares made with a key their server no longer has: rebind. */
  stale: string[];
  /** Shares whose server did not answer (not judged). */
  silent: string[];
  /** What the agent does: nothing, rebind now (the threshold is still met by good shares, so the key can be had), or wait. */
  verdict: 'ok' | 'rebind' | 'wait';
  detail: string;
}

/**
 * A brick's binding against its servers' current advertisements (`advs`: only servers that
 * answered). Stale shares are rebound while enough good ones remain to unlock; the TPM2 shares
 * are counted as good (a changed PCR 7 shows as a failed unlock, not here).
 */
export function bindingHealth(binding: BindingShares, advs: ReadonlyMap<string, Record<string, unknown>>): BindingHealth {
  const stale = staleShares(binding, advs);
  const silent = binding.tang.filter((s) => !advs.has(s.url)).map((s) => s.url);
  const good = binding.tang.filter((s) => advs.has(s.url) && !stale.includes(s.url)).map((s) => s.url);
  const usable = good.length + binding.tpm2;
  if (!stale.length) {
    return { good, stale, silent, verdict: 'ok', detail: `${usable} of ${binding.tang.length + binding.tpm2} pins answer (threshold ${binding.t})${silent.length ? `; silent: ${silent.join(', ')}` : ''}` };
  }
  if (usable >= binding.t) return { good, stale, silent, verdict: 'rebind', detail: `rebinding: ${stale.join(', ')} changed keys` };
  return { good, stale, silent, verdict: 'wait', detail: `${stale.join(', ')} changed keys and only ${usable} good pin(s) answer (threshold ${binding.t}): waiting to rebind` };
}

/** One clevis token of a brick's LUKS2 header as observed: its key slot, its shares, and which tang shares are stale. */
export interface TokenSeen { slot: number; t: number; tang: string[]; tpm2: number; stale: string[] }

/** The binding a brick should have now: the policy's pins over the current nodes. */
export interface BindingWant { tang: string[]; tpm2: number; threshold: number }

export type RebindAction =
  | { do: 'ok' }
  | { do: 'rebind'; from: number; why: string }
  | { do: 'unbind'; slots: number[]; why: string }
  | { do: 'wait'; why: string };

const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x) => b.includes(x));

/**
 * What an open brick's clevis tokens need: nothing while one matches the wanted pins with no
 * stale share; else a new binding made with the key from a token that still unlocks (enough
 * answering, non-stale shares), and only then the old token removed (bind before unbind: a
 * crash in between leaves two working tokens, never none). A share whose server is silent is
 * not judged stale: a peer that is down is not a reason to rebind.
 */
export function rebindDecision(tokens: TokenSeen[], want: BindingWant, answering: ReadonlySet<string>): RebindAction {
  if (!tokens.length) return { do: 'ok' };
  const current = tokens.find((t) => sameSet(t.tang, want.tang) && t.tpm2 === want.tpm2 && t.t === want.threshold && !t.stale.length);
  if (current) {
    const extra = tokens.filter((t) => t !== current).map((t) => t.slot);
    return extra.length ? { do: 'unbind', slots: extra, why: `slot ${current.slot} holds the current binding: removing the old one${extra.length > 1 ? 's' : ''} (slot ${extra.join(', ')})` } : { do: 'ok' };
  }
  const stale = [...new Set(tokens.flatMap((t) => t.stale))];
  const why = stale.length ? `${stale.join(', ')} changed keys` : `its pins are now ${[...want.tang, ...(want.tpm2 ? ['tpm2'] : [])].join(', ')} (threshold ${want.threshold})`;
  for (const t of tokens) {
    const usable = t.tang.filter((u) => answering.has(u) && !t.stale.includes(u)).length + t.tpm2;
    if (usable >= t.t) return { do: 'rebind', from: t.slot, why };
  }
  return { do: 'wait', why: `${why}, but too few of its pins answer to rebind it now (retried every pass)` };
}
