import { lstat, mkdir, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { boundary } from '../crash.js';
import { run } from '../exec.js';
import { readText, writeDurable } from '../fsx.js';
import { CA, caBundle, CERT, commonName, KEY, OPENSSL_DIR, SECURE_ACCESS, splitPems } from '../tls.js';
import type { Ctx, Step } from './step.js';

const exists = (p: string) => stat(p).then(() => true, () => false);

/**
 * Own cert plus the certificates of admitted members of the plan. A planned node that is
 * unreachable keeps its certificate: dropping it would make every survivor restart glusterd
 * (server quorum lost, bricks stopped under running VMs) and refuse the node when it returns.
 */
function desiredCa(ctx: Ctx, own: string, current: string | null): string {
  const certs = new Map<string, string>([[ctx.self.name, own]]);
  for (const pem of splitPems(current ?? '')) {
    const cn = commonName(pem);
    if (cn && cn !== ctx.self.name && ctx.plan.nodes.some((n) => n.name === cn)) certs.set(cn, pem);
  }
  for (const n of ctx.plan.nodes) {
    const pem = ctx.members.get(n.name)?.remote?.cert;
    if (pem && commonName(pem) === n.name) certs.set(n.name, pem);
  }
  return caBundle(certs);
}

async function linkOk(name: string): Promise<boolean> {
  if (!(await exists(OPENSSL_DIR))) return true;
  try { return (await readlink(`${OPENSSL_DIR}/${name}`)) === `/etc/ssl/${name}`; } catch { return false; }
}

export const tlsStep: Step = {
  name: 'tls',
  async check(ctx) {
    const own = await readText(CERT);
    if (!own || !(await exists(KEY)) || commonName(own) !== ctx.self.name) return { ok: false, detail: 'no key/certificate yet' };
    for (const f of ['glusterfs.key', 'glusterfs.pem', 'glusterfs.ca']) if (!(await linkOk(f))) return { ok: false, detail: `${OPENSSL_DIR}/${f} link missing` };
    if (!(await exists(SECURE_ACCESS))) return { ok: false, detail: 'management TLS not enabled' };
    const cur = await readText(CA);
    const want = desiredCa(ctx, own, cur);
    if (cur !== want) return { ok: false, detail: 'CA bundle out of date' };
    const n = want.split('BEGIN CERTIFICATE').length - 1;
    const missing = ctx.plan.nodes.length - n;
    return missing > 0 ? { ok: false, waiting: true, detail: `CA bundle has ${n} of ${ctx.plan.nodes.length} members` } : { ok: true, detail: `CA bundle has all ${n} members` };
  },
  async apply(ctx) {
    let own = await readText(CERT);
    // killed between the two renames below: the key is in place, its certificate still .new
    if (!own && (await exists(KEY)) && (await exists(`${CERT}.new`))) {
      await rename(`${CERT}.new`, CERT);
      boundary('tls:cert');
      own = await readText(CERT);
    }
    if (!own || !(await exists(KEY)) || commonName(own) !== ctx.self.name) {
      await mkdir('/etc/ssl', { recursive: true });
      await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '36500',
        '-subj', `/CN=${ctx.self.name}`, '-keyout', `${KEY}.new`, '-out', `${CERT}.new`]);
      await run('chmod', ['0600', `${KEY}.new`]);
      await rename(`${KEY}.new`, KEY);
      boundary('tls:key');
      await rename(`${CERT}.new`, CERT);
      boundary('tls:cert');
      own = (await readText(CERT))!;
    }
    if (await exists(OPENSSL_DIR)) {
      for (const f of ['glusterfs.key', 'glusterfs.pem', 'glusterfs.ca']) {
        if (await linkOk(f)) continue;
        if (await lstat(`${OPENSSL_DIR}/${f}`).then(() => true, () => false)) await rm(`${OPENSSL_DIR}/${f}`);
        await symlink(`/etc/ssl/${f}`, `${OPENSSL_DIR}/${f}`);
      }
    }
    const cur = await readText(CA);
    const want = desiredCa(ctx, own, cur);
    if (cur !== want) { await writeDurable(CA, want, 0o644); boundary('tls:ca'); }
    if (!(await exists(SECURE_ACCESS))) { await writeFile(SECURE_ACCESS, ''); boundary('tls:secure-access'); }
  },
};
