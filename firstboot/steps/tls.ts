// This node's key and certificate for Gluster's TLS (CN = node name), the CA bundle of every
// member's certificate, and management TLS (secure-access) switched on.
import { lstat, mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { boundary } from '../crash.js';
import { run } from '../exec.js';
import { exists, readText, writeDurable } from '../fsx.js';
import { CA, caBundle, CERT, commonName, KEY, OPENSSL_DIR, SECURE_ACCESS, splitPems } from '../tls.js';
import { done, todo, waiting, type Ctx, type Step } from './step.js';

const LINKS = ['glusterfs.key', 'glusterfs.pem', 'glusterfs.ca'];

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
  try { return (await readlink(`${OPENSSL_DIR}/${name}`)) === `/etc/ssl/${name}`; } catch { return false; }
}

export interface TlsSeen {
  cert: string | null;
  key: boolean;
  /** A certificate left as .new by a run killed between its two renames. */
  certNew: boolean;
  /** glusterfs' openssl links that do not point at /etc/ssl (none where the directory does not exist). */
  badLinks: string[];
  secureAccess: boolean;
  ca: string | null;
}

export type TlsAction =
  | { do: 'finish-cert' } | { do: 'make-key' } | { do: 'link'; name: string }
  | { do: 'write-ca'; text: string } | { do: 'secure-access' };

export const tlsStep: Step<TlsSeen, TlsAction> = {
  name: 'tls',
  loop: 'storage',
  async observe() {
    const badLinks: string[] = [];
    if (await exists(OPENSSL_DIR)) for (const f of LINKS) if (!(await linkOk(f))) badLinks.push(f);
    return {
      cert: await readText(CERT), key: await exists(KEY), certNew: await exists(`${CERT}.new`),
      badLinks, secureAccess: await exists(SECURE_ACCESS), ca: await readText(CA),
    };
  },
  plan(ctx, seen) {
    const ownOk = Boolean(seen.cert && seen.key && commonName(seen.cert) === ctx.self.name);
    if (!ownOk) {
      // the CA bundle, then secure-access, follow once the certificate exists (the next round sees it)
      const first: TlsAction = !seen.cert && seen.key && seen.certNew ? { do: 'finish-cert' } : { do: 'make-key' };
      return todo([first], 'no key/certificate yet');
    }
    const actions: TlsAction[] = seen.badLinks.map((name) => ({ do: 'link', name }));
    const want = desiredCa(ctx, seen.cert!, seen.ca);
    if (seen.ca !== want) actions.push({ do: 'write-ca', text: want });
    if (!seen.secureAccess) actions.push({ do: 'secure-access' });
    if (actions.length) {
      const what = seen.badLinks.length ? `${OPENSSL_DIR}/${seen.badLinks[0]} link missing` : seen.ca !== want ? 'CA bundle out of date' : 'management TLS not enabled';
      return todo(actions, what);
    }
    const n = splitPems(want).length;
    return n < ctx.plan.nodes.length ? waiting(`CA bundle has ${n} of ${ctx.plan.nodes.length} members`) : done(`CA bundle has all ${n} members`);
  },
  async apply(ctx, actions) {
    for (const a of actions) {
      switch (a.do) {
        case 'finish-cert':
          await rename(`${CERT}.new`, CERT);
          boundary('tls:cert');
          break;
        case 'make-key':
          await mkdir('/etc/ssl', { recursive: true });
          await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '36500',
            '-subj', `/CN=${ctx.self.name}`, '-keyout', `${KEY}.new`, '-out', `${CERT}.new`]);
          await run('chmod', ['0600', `${KEY}.new`]);
          await rename(`${KEY}.new`, KEY);
          boundary('tls:key');
          await rename(`${CERT}.new`, CERT);
          boundary('tls:cert');
          break;
        case 'link':
          if (await lstat(`${OPENSSL_DIR}/${a.name}`).then(() => true, () => false)) await rm(`${OPENSSL_DIR}/${a.name}`);
          await symlink(`/etc/ssl/${a.name}`, `${OPENSSL_DIR}/${a.name}`);
          break;
        case 'write-ca':
          await writeDurable(CA, a.text, 0o644);
          boundary('tls:ca');
          break;
        case 'secure-access':
          await writeFile(SECURE_ACCESS, '');
          boundary('tls:secure-access');
          break;
      }
    }
  },
};
