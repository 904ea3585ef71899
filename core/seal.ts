// Secrets sent over the agent's channel (corosync authkey, the libvirt CA key): the channel
// only authenticates, so these are sealed with AES-256-GCM under a key derived from the join
// key (HKDF, fresh salt per message). Only a holder of the join key can open them.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

export interface Sealed { salt: string; iv: string; data: string; tag: string }

function keyFor(joinKey: string, purpose: string, salt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(joinKey, 'hex'), salt, `pc1 seal|${purpose}`, 32));
}

export function seal(joinKey: string, purpose: string, plain: Buffer | string): Sealed {
  return sealWith(joinKey, purpose, plain, randomBytes(16), randomBytes(12));
}

/**
 * Deterministic sealing for built images (same inputs, same bytes): salt and IV come from an
 * HMAC of the plaintext under the join key, so an IV repeats only for the same plaintext.
 */
export function sealFor(joinKey: string, purpose: string, plain: string): Sealed {
  const mac = (what: string) => createHmac('sha256', Buffer.from(joinKey, 'hex')).update(`pc1 seal-${what}|${purpose}|`).update(plain).digest();
  return sealWith(joinKey, purpose, plain, mac('salt').subarray(0, 16), mac('iv').subarray(0, 12));
}

function sealWith(joinKey: string, purpose: string, plain: Buffer | string, salt: Buffer, iv: Buffer): Sealed {
  const c = createCipheriv('aes-256-gcm', keyFor(joinKey, purpose, salt), iv);
  const data = Buffer.concat([c.update(plain), c.final()]);
  return { salt: salt.toString('base64'), iv: iv.toString('base64'), data: data.toString('base64'), tag: c.getAuthTag().toString('base64') };
}

export function unseal(joinKey: string, purpose: string, s: Sealed): Buffer {
  const d = createDecipheriv('aes-256-gcm', keyFor(joinKey, purpose, Buffer.from(s.salt, 'base64')), Buffer.from(s.iv, 'base64'));
  d.setAuthTag(Buffer.from(s.tag, 'base64'));
  return Buffer.concat([d.update(Buffer.from(s.data, 'base64')), d.final()]);
}

/** The seal context of the BMC passwords in the plan (ipmi fencing). */
export const BMC_SEAL = 'bmc-passwords';
