// Gluster TLS material as in the how-to: a key and a self-signed certificate per node
// (CN = node name), and a CA bundle holding the certificates of all admitted members.
import { X509Certificate } from 'node:crypto';

export const SSL_DIR = '/etc/ssl';
export const KEY = `${SSL_DIR}/glusterfs.key`;
export const CERT = `${SSL_DIR}/glusterfs.pem`;
export const CA = `${SSL_DIR}/glusterfs.ca`;
export const SECURE_ACCESS = '/var/lib/glusterd/secure-access';
/** Debian's glusterfs is built with OpenSSL's directory, so it also looks here. */
export const OPENSSL_DIR = '/usr/lib/ssl';

// Every pass looks at the same few certificates (ours, the bundle, each member's): parse each once.
const parsed = new Map<string, X509Certificate>();

function certOf(pem: string): X509Certificate {
  let c = parsed.get(pem);
  if (!c) {
    c = new X509Certificate(pem);
    if (parsed.size > 256) parsed.clear();
    parsed.set(pem, c);
  }
  return c;
}

export function fingerprint(pem: string): string {
  return certOf(pem).fingerprint256;
}

export function commonName(pem: string): string | undefined {
  return /CN\s*=\s*([^\n,]+)/.exec(certOf(pem).subject)?.[1]?.trim();
}

export function splitPems(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** The bundle: certificates ordered by node name, each once (duplicates break Gluster's CA loading). */
export function caBundle(certsByNode: Map<string, string>): string {
  return [...certsByNode.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, pem]) => `${pem.trim()}\n`).join('');
}
