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

export function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}

export function commonName(pem: string): string | undefined {
  return /CN\s*=\s*([^\n,]+)/.exec(new X509Certificate(pem).subject)?.[1]?.trim();
}

export function splitPems(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

/** The bundle: certificates ordered by node name, each once (duplicates break Gluster's CA loading). */
export function caBundle(certsByNode: Map<string, string>): string {
  return [...certsByNode.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, pem]) => `${pem.trim()}\n`).join('');
}
