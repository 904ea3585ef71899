// The cluster's secrets: the corosync authkey and the CA that signs every node's libvirt /
// QEMU TLS certificate (migration) and web console certificate (HA on or off). The leader creates
// them once; every other node fetches them sealed (seal.ts) over the agent's authenticated
// channel from any member that has them.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call } from '../../core/channel.js';
import { run } from '../exec.js';
import { readText, writeDurable } from '../fsx.js';
import { log } from '../log.js';
import type { Ctx } from '../steps/step.js';
import { seal, unseal, type Sealed } from '../../core/seal.js';

export interface HaSecrets { authkey: string /* base64, 256 bytes */; caKey: string; caCert: string }

const PURPOSE = 'ha-secrets';
export const secretsPath = (stateDir: string) => join(stateDir, 'ha-secrets.json');

export async function loadSecrets(stateDir: string): Promise<HaSecrets | null> {
  const t = await readText(secretsPath(stateDir));
  return t ? (JSON.parse(t) as HaSecrets) : null;
}

async function saveSecrets(stateDir: string, s: HaSecrets): Promise<void> {
  await writeDurable(secretsPath(stateDir), `${JSON.stringify(s)}\n`, 0o600);
}

async function createSecrets(cluster: string): Promise<HaSecrets> {
  const dir = await mkdtemp(join(tmpdir(), 'pc-ca-'));
  try {
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'),
      '-days', '7300', '-subj', `/O=personal-cloud/CN=${cluster} cluster CA`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    return { authkey: randomBytes(256).toString('base64'), caKey: (await readText(join(dir, 'ca.key')))!, caCert: (await readText(join(dir, 'ca.pem')))! };
  } finally { await rm(dir, { recursive: true, force: true }); }
}

/** Channel handler: our secrets, sealed, or {none: true}. */
export async function serveSecrets(joinKey: string, stateDir: string): Promise<{ sealed?: Sealed; none?: true }> {
  const s = await loadSecrets(stateDir);
  return s ? { sealed: seal(joinKey, PURPOSE, JSON.stringify(s)) } : { none: true };
}

/** Makes sure this node holds the secrets; returns them, or null while waiting for the leader. */
export async function ensureSecrets(ctx: Ctx): Promise<HaSecrets | null> {
  const have = await loadSecrets(ctx.env.stateDir);
  if (have) return have;
  const live = ctx.members.live().filter((m) => ctx.plan.nodes.some((n) => n.name === m.name));
  let anyAnswered = false;
  for (const m of live) {
    try {
      const r = await call<{ sealed?: Sealed; none?: true }>(ctx.key, ctx.self.name, m.address, m.port, 'ha-secrets', null, 5000);
      anyAnswered = true;
      if (r.data.sealed) {
        const s = JSON.parse(unseal(ctx.key, PURPOSE, r.data.sealed).toString('utf8')) as HaSecrets;
        await saveSecrets(ctx.env.stateDir, s);
        log.info(`ha: cluster secrets (corosync authkey, migration CA) received from ${m.name}`);
        return s;
      }
    } catch (e) { log.debug(`ha-secrets from ${m.name}: ${(e as Error).message}`); }
  }
  // only the leader creates, and only when every live member it could ask has none
  if (ctx.leader === ctx.self.name && ctx.leaderStable && (anyAnswered || live.length === 0)) {
    const s = await createSecrets(ctx.plan.cluster.name);
    await saveSecrets(ctx.env.stateDir, s);
    log.info('ha: created the cluster secrets (corosync authkey, migration CA)');
    return s;
  }
  return null;
}
