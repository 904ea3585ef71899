// Brick recovery keys: every encrypted brick gets one more LUKS key slot with a random
// passphrase that a person can type. The node must not be able to read it back (its OS disk is
// not encrypted) and no image may hold it, yet the admin must get it with what they already
// hold, cluster.yaml. So the node seals the passphrase to an X25519 public key derived from the
// cluster secret (the plan carries the public half only) and forgets it; the admin's CLI derives
// the private half from the secret and opens the sealed blob.
import { createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';

/** PKCS#8 DER header of a raw 32-byte X25519 private key (RFC 8410). */
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
/** SPKI DER header of a raw 32-byte X25519 public key. */
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

const rawPublic = (k: KeyObject) => k.export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI.length);
const publicFromRaw = (raw: Buffer) => createPublicKey({ key: Buffer.concat([X25519_SPKI, raw]), format: 'der', type: 'spki' });

/** The cluster's recovery key pair; only the admin (who holds the secret) can call this. */
export function recoveryKeyPair(secret: string, cluster: string): { privateKey: KeyObject; publicKey: string } {
  const seed = Buffer.from(hkdfSync('sha256', secret, `personal-cloud/recovery/v1/${cluster}`, 'x25519 private key', 32));
  const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8, seed]), format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: rawPublic(createPublicKey(privateKey)).toString('base64url') };
}

export interface SealedRecoveryKey {
  v: 1;
  /** Which brick: node and brick mount point, bound into the ciphertext (a blob of one brick does not pass for another). */
  node: string;
  brick: string;
  epk: string;
  iv: string;
  data: string;
  tag: string;
}

function aeadKey(shared: Buffer, epk: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([epk, recipient]), 'pc1 brick recovery key', 32));
}
const context = (node: string, brick: string) => Buffer.from(`pc1 recovery|${node}|${brick}`);

/** A passphrase a person can type: 40 base32 characters (200 bits) in groups of five. */
export function newRecoveryPassphrase(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bytes = randomBytes(40);
  const chars = [...bytes].map((b) => alphabet[b & 31]).join('');
  return chars.match(/.{5}/g)!.join('-');
}

/** On the node: seal `passphrase` to the cluster's recovery public key (ephemeral X25519, HKDF, AES-256-GCM). */
export function sealRecoveryKey(publicKey: string, node: string, brick: string, passphrase: string): SealedRecoveryKey {
  const recipient = Buffer.from(publicKey, 'base64url');
  const eph = generateKeyPairSync('x25519');
  const epk = rawPublic(eph.publicKey);
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: publicFromRaw(recipient) });
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', aeadKey(shared, epk, recipient), iv);
  c.setAAD(context(node, brick));
  const data = Buffer.concat([c.update(passphrase, 'utf8'), c.final()]);
  return { v: 1, node, brick, epk: epk.toString('base64url'), iv: iv.toString('base64url'), data: data.toString('base64url'), tag: c.getAuthTag().toString('base64url') };
}

/** On the admin machine: open a sealed recovery key with the pair derived from the secret. */
export function openRecoveryKey(pair: { privateKey: KeyObject; publicKey: string }, s: SealedRecoveryKey): string {
  if (s.v !== 1) throw new Error(`unknown sealed recovery key version ${String(s.v)}`);
  const epk = Buffer.from(s.epk, 'base64url');
  const shared = diffieHellman({ privateKey: pair.privateKey, publicKey: publicFromRaw(epk) });
  const d = createDecipheriv('aes-256-gcm', aeadKey(shared, epk, Buffer.from(pair.publicKey, 'base64url')), Buffer.from(s.iv, 'base64url'));
  d.setAAD(context(s.node, s.brick));
  d.setAuthTag(Buffer.from(s.tag, 'base64url'));
  try {
    return Buffer.concat([d.update(Buffer.from(s.data, 'base64url')), d.final()]).toString('utf8');
  } catch {
    throw new Error(`the recovery key of ${s.node} ${s.brick} does not open with this cluster.yaml's secret (another cluster's, or altered)`);
  }
}
