// The web console's TLS: Cockpit (cockpit.socket, port 9090) serves a certificate issued by the
// cluster CA (ha/secrets.ts), so one trust anchor covers every node's console and libvirt, and
// status can name the URL and the certificate's fingerprint for a person to compare. With HA off
// the cluster still has its CA (made by the leader for this step): never a self-signed console.
import { COCKPIT_PORT } from '../../core/paths.js';
import { run } from '../exec.js';
import { readText, writeDurable } from '../fsx.js';
import { log } from '../log.js';
import { underSystemd } from '../ha/procs.js';
import { ensureSecrets, loadSecrets } from '../ha/secrets.js';
import { fingerprint } from '../tls.js';
import { issuedToNode, signNodeCert } from '../virt/pki.js';
import { done, todo, type Step } from './step.js';

/** Cockpit uses the last `*.cert` of this folder by name (its own is 0-self-signed.cert), with the `.key` of the same name. */
export const COCKPIT_CERT = '/etc/cockpit/ws-certs.d/50-personal-cloud.cert';
export const COCKPIT_KEY = '/etc/cockpit/ws-certs.d/50-personal-cloud.key';

export interface CockpitSeen {
  secrets: boolean;
  /** Our certificate in ws-certs.d, when it has its key and was issued to this node by the cluster CA. */
  cert: string | null;
}

export type CockpitAction = { do: 'secrets' | 'cert' };

export const cockpitStep: Step<CockpitSeen, CockpitAction> = {
  name: 'cockpit',
  loop: 'virt',
  async observe(ctx) {
    const s = await loadSecrets(ctx.env.stateDir);
    if (!s) return { secrets: false, cert: null };
    const pem = await readText(COCKPIT_CERT);
    const ok = pem !== null && (await readText(COCKPIT_KEY)) !== null && issuedToNode(pem, ctx.self, s.caCert);
    return { secrets: true, cert: ok ? pem : null };
  },
  plan(ctx, seen) {
    if (!seen.secrets) return todo([{ do: 'secrets' }], 'cluster CA to obtain (the leader makes it, the others fetch it sealed)');
    if (!seen.cert) return todo([{ do: 'cert' }], 'web console certificate to issue from the cluster CA');
    return done(`https://${ctx.self.fqdn}:${COCKPIT_PORT}/ certificate sha256 ${fingerprint(seen.cert)}`);
  },
  async apply(ctx, actions) {
    if (actions.some((a) => a.do === 'secrets')) await ensureSecrets(ctx);
    const s = await loadSecrets(ctx.env.stateDir);
    if (!s) return;
    const { key, cert } = await signNodeCert(ctx.self, s);
    // the key first: a certificate without its key makes cockpit-tls refuse every connection
    await writeDurable(COCKPIT_KEY, key, 0o600);
    await writeDurable(COCKPIT_CERT, cert, 0o644);
    log.info(`cockpit: web console certificate issued by the cluster CA (sha256 ${fingerprint(cert)})`);
    // cockpit-tls reads its certificate when it starts; socket-activated, it may not be running
    if (underSystemd()) await run('systemctl', ['try-restart', 'cockpit.service'], { allowFail: true });
  },
};
