// This node's libvirt and QEMU TLS material, signed by the cluster CA (ha/secrets.ts): one EC
// key and certificate (CN = node name, SANs = name, FQDN, address) for server and client use.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentNodePlan } from '../../core/plan-types.js';
import { run } from '../exec.js';
import { readText, writeDurable } from '../fsx.js';
import type { HaSecrets } from '../ha/secrets.js';

export const PKI = {
  ca: '/etc/pki/CA/cacert.pem',
  serverCert: '/etc/pki/libvirt/servercert.pem',
  serverKey: '/etc/pki/libvirt/private/serverkey.pem',
  clientCert: '/etc/pki/libvirt/clientcert.pem',
  clientKey: '/etc/pki/libvirt/private/clientkey.pem',
  qemuDir: '/etc/pki/qemu',
};

const QEMU_FILES = ['ca-cert.pem', 'server-cert.pem', 'server-key.pem', 'client-cert.pem', 'client-key.pem'];

/** True when `pem` names this node, was issued by the cluster CA and is good for 30 more days. */
export function issuedToNode(pem: string, self: AgentNodePlan, caCert: string): boolean {
  try {
    const c = new X509Certificate(pem);
    return c.subject.includes(`CN=${self.name}`) && c.verify(new X509Certificate(caCert).publicKey) && new Date(c.validTo).getTime() > Date.now() + 30 * 86400_000;
  } catch { return false; }
}

/** True when our certificate exists, names this node and was issued by the cluster CA. */
export async function certValid(self: AgentNodePlan, s: HaSecrets): Promise<boolean> {
  const pem = await readText(PKI.serverCert);
  const ca = await readText(PKI.ca);
  if (!pem || ca?.trim() !== s.caCert.trim()) return false;
  for (const f of QEMU_FILES) if (!(await readText(join(PKI.qemuDir, f)))) return false;
  return issuedToNode(pem, self, s.caCert);
}

/**
 * A new EC key and a certificate for it signed by the cluster CA (CN = node name, SANs = name,
 * FQDN, static address), for server and client use: libvirt/QEMU and the web console.
 */
export async function signNodeCert(self: AgentNodePlan, s: HaSecrets): Promise<{ key: string; cert: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'pc-pki-'));
  try {
    const sans = [`DNS:${self.name}`, `DNS:${self.fqdn}`, ...(!self.network.dhcp ? [`IP:${self.network.address}`] : [])];
    await writeFile(join(dir, 'ca.key'), s.caKey, { mode: 0o600 });
    await writeFile(join(dir, 'ca.pem'), s.caCert);
    await writeFile(join(dir, 'ext.cnf'), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${sans.join(',')}\n`);
    await run('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'node.key'), '-out', join(dir, 'node.csr'), '-subj', `/CN=${self.name}`]);
    await run('openssl', ['x509', '-req', '-in', join(dir, 'node.csr'), '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'), '-set_serial', `0x${Date.now().toString(16)}${Math.floor(Math.random() * 1e6).toString(16)}`,
      '-days', '3650', '-extfile', join(dir, 'ext.cnf'), '-out', join(dir, 'node.pem')]);
    return { key: (await readText(join(dir, 'node.key')))!, cert: (await readText(join(dir, 'node.pem')))! };
  } finally { await rm(dir, { recursive: true, force: true }); }
}

export async function issueCert(self: AgentNodePlan, s: HaSecrets): Promise<void> {
  const { key, cert } = await signNodeCert(self, s);
  await writeDurable(PKI.ca, s.caCert, 0o644);
  await writeDurable(PKI.serverKey, key, 0o600);
  await writeDurable(PKI.clientKey, key, 0o600);
  await writeDurable(PKI.serverCert, cert, 0o644);
  await writeDurable(PKI.clientCert, cert, 0o644);
  // QEMU (user libvirt-qemu on a real node) reads its own copies for migration TLS
  const files: Record<string, [string, number]> = { 'ca-cert.pem': [s.caCert, 0o644], 'server-cert.pem': [cert, 0o644], 'client-cert.pem': [cert, 0o644], 'server-key.pem': [key, 0o640], 'client-key.pem': [key, 0o640] };
  for (const [f, [text, mode]] of Object.entries(files)) await writeDurable(join(PKI.qemuDir, f), text, mode);
  await run('chgrp', ['-R', 'libvirt-qemu', PKI.qemuDir], { allowFail: true });
}
