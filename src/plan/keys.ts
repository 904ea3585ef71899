import { createHmac, randomBytes } from 'node:crypto';

// Nodes never hold the raw cluster secret: each gets the join key derived from it, so a
// leaked image reveals neither the token the admin typed nor keys of other clusters.

const SECRET_PREFIX = 'pcs1_';

export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64url');
}

/** 32-byte key that agents use for challenge-response (HMAC-SHA256); hex encoded. */
export function deriveJoinKey(secret: string, cluster: string): string {
  return createHmac('sha256', secret).update(`personal-cloud/join/v1/${cluster}`).digest('hex');
}

/** A short public identifier of the join key: safe to show in status and manifests. */
export function deriveKeyId(secret: string, cluster: string): string {
  return createHmac('sha256', deriveJoinKey(secret, cluster)).update('key-id').digest('hex').slice(0, 16);
}
