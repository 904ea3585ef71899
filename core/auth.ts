// Challenge-response with the join key (HMAC-SHA256). The key never crosses the wire:
// a request carries a fresh nonce and a MAC over (operation, sender, nonce, body); the
// answer carries a MAC over the same nonce, so each side proves knowledge of the key.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const PROTOCOL = 'pc1';

export function keyIdOf(key: string): string {
  return createHmac('sha256', key).update('key-id').digest('hex').slice(0, 16);
}

export function nonce(): string {
  return randomBytes(16).toString('hex');
}

const bodyHash = (body: string) => createHash('sha256').update(body).digest('hex');

export function requestMac(key: string, op: string, from: string, nonceHex: string, body: string): string {
  return createHmac('sha256', key).update(`${PROTOCOL} req|${op}|${from}|${nonceHex}|${bodyHash(body)}`).digest('hex');
}

export function responseMac(key: string, op: string, node: string, requestNonce: string, body: string): string {
  return createHmac('sha256', key).update(`${PROTOCOL} resp|${op}|${node}|${requestNonce}|${bodyHash(body)}`).digest('hex');
}

export function beaconMac(key: string, payload: string): string {
  return createHmac('sha256', key).update(`${PROTOCOL} beacon|${payload}`).digest('hex');
}

export function macEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** Remembers recently seen request nonces so a captured request cannot be replayed. */
export class ReplayGuard {
  private seen = new Map<string, number>();
  constructor(private ttlMs = 10 * 60_000) {}
  fresh(n: string): boolean {
    const now = Date.now();
    if (this.seen.size > 10_000) for (const [k, t] of this.seen) if (now - t > this.ttlMs) this.seen.delete(k);
    if (this.seen.has(n)) return false;
    this.seen.set(n, now);
    return true;
  }
}
