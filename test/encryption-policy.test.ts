// Brick encryption, the pure parts: the policy (core/encryption-policy.ts: which pins a node's
// bricks get, the clevis sss configuration, what a policy protects against, its weak spots, the
// status line), reading a binding against tang's current keys (core/clevis-binding.ts, on a
// JWE and advertisements recorded from real clevis 19 / tang 11), and the recovery key sealing
// (core/recovery-key.ts). The same configurations run through real clevis against real tangd
// in test/encryption-tang.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { advExchangeThumbprints, bindingHealth, bindingShares, jwkThumbprint, staleShares } from '../core/clevis-binding.js';
import { newRecoveryPassphrase, openRecoveryKey, recoveryKeyPair, sealRecoveryKey } from '../core/recovery-key.js';
import { agentPlan } from '../core/agent-plan.js';
import { startChannelServer } from '../core/channel.js';
import { EXIT, UserError } from '../core/errors.js';
import { deriveJoinKey } from '../src/plan/keys.js';
import { fetchRecoveryKeys, recoveryKeyCommand } from '../src/commands/recovery-key.js';
import { planFor, testConfig } from './harness/plan.js';
import {
  describePolicy, lockedMessage, pinsFor, policyWarnings, shareCount, sssConfig, type EncryptionConfig,
} from '../core/encryption-policy.js';

const nodes = [
  { name: 'node3', address: '10.0.0.13' },
  { name: 'node1', address: '10.0.0.11' },
  { name: 'node2', address: '10.0.0.12' },
];
const policy = (p: Partial<EncryptionConfig>): EncryptionConfig => ({ peers: false, tang: [], tpm2: false, threshold: 1, ...p });
const adv = (n: number) => ({ payload: `adv${n}`, signatures: [] });

describe('pins of a node', () => {
  it('are the OTHER nodes\' tang (never its own), by name, then external tang, then the TPM2', () => {
    const pins = pinsFor(policy({ peers: true, tang: [{ url: 'http://tang.example:7500', thp: 'x'.repeat(43) }], tpm2: true }), 'node2', nodes);
    expect(pins).toEqual([
      { kind: 'peer', node: 'node1', url: 'http://10.0.0.11:7500' },
      { kind: 'peer', node: 'node3', url: 'http://10.0.0.13:7500' },
      { kind: 'tang', url: 'http://tang.example:7500', thp: 'x'.repeat(43) },
      { kind: 'tpm2' },
    ]);
    expect(shareCount(policy({ peers: true, tang: [{ url: 'http://t' }], tpm2: true }), 3)).toBe(4);
  });
});

describe('clevis sss configuration', () => {
  const pins = pinsFor(policy({ peers: true, tang: [{ url: 'http://tang.example:7500', thp: 'T'.repeat(43) }], tpm2: true }), 'node1', nodes);

  it('carries each peer\'s verified advertisement, an external server\'s thumbprint, and PCR 7 of the SHA-256 bank', () => {
    const advs = new Map([['http://10.0.0.12:7500', adv(2)], ['http://10.0.0.13:7500', adv(3)]]);
    expect(sssConfig(pins, 2, advs)).toEqual({
      t: 2,
      pins: {
        tang: [
          { url: 'http://10.0.0.12:7500', adv: adv(2) },
          { url: 'http://10.0.0.13:7500', adv: adv(3) },
          { url: 'http://tang.example:7500', thp: 'T'.repeat(43) },
        ],
        tpm2: { pcr_bank: 'sha256', pcr_ids: '7' },
      },
    });
  });

  it('refuses a peer without a verified advertisement (no trust on first use) and an unmeetable threshold', () => {
    expect(() => sssConfig(pins, 1, new Map([['http://10.0.0.12:7500', adv(2)]]))).toThrow(/no verified advertisement for node3's tang at http:\/\/10.0.0.13:7500/);
    const advs = new Map([['http://10.0.0.12:7500', adv(2)], ['http://10.0.0.13:7500', adv(3)]]);
    expect(() => sssConfig(pins, 5, advs)).toThrow(/threshold 5 cannot be met by 4 pin/);
    expect(() => sssConfig(pins, 0, advs)).toThrow(/threshold 0/);
  });

  it('has no tang key when only the TPM2 is a pin', () => {
    expect(sssConfig(pinsFor(policy({ tpm2: true }), 'node1', nodes), 1, new Map())).toEqual({ t: 1, pins: { tpm2: { pcr_bank: 'sha256', pcr_ids: '7' } } });
  });
});

describe('what a policy protects against, and its weak spots', () => {
  it('peers, threshold 1: a box taken alone stays locked; nothing weak', () => {
    const p = policy({ peers: true });
    expect(describePolicy(p, 3)).toBe('a brick unlocks when 1 of 2 answer: the tang of 2 other nodes; a box (or its disks) taken away alone stays locked, unless the other nodes are reachable from where it is');
    expect(policyWarnings(p, 3)).toEqual([]);
  });

  it('tpm2 alone, or counted as the one share threshold 1 needs: the box unlocks itself', () => {
    for (const p of [policy({ tpm2: true }), policy({ tpm2: true, peers: true })]) {
      expect(describePolicy(p, 3)).toMatch(/a box unlocks on its own, so this protects only a disk taken out of its box/);
      expect(policyWarnings(p, 3).join('\n')).toMatch(/threshold 1 is met by the node's own TPM2 alone: a stolen box boots and unlocks/);
    }
    // tpm2 AND one peer: the box alone does not meet threshold 2
    expect(policyWarnings(policy({ tpm2: true, peers: true, threshold: 2 }), 3)).toEqual([]);
  });

  it('2 nodes with peers only: the boxes unlock each other', () => {
    expect(policyWarnings(policy({ peers: true }), 2).join('\n')).toMatch(/both boxes taken together unlock each other/);
    expect(policyWarnings(policy({ peers: true, tang: [{ url: 'http://t:1', thp: 'T'.repeat(43) }] }), 2).join('\n')).not.toMatch(/each other/);
  });

  it('a threshold that needs every pin, and an external server without thumbprint', () => {
    expect(policyWarnings(policy({ peers: true, threshold: 2 }), 3)).toEqual(['threshold 2 needs every one of the 2 pins: with any one of them down or changed, a rebooting node keeps its bricks locked']);
    expect(policyWarnings(policy({ tang: [{ url: 'http://t:7500' }] }), 3)).toEqual(['http://t:7500 has no thp: its key is trusted as first fetched over plain HTTP at bind time; pin it with { url, thp } (`tang-show-keys` on the server prints it)']);
  });
});

describe('status while bricks wait for their pins', () => {
  const pins = pinsFor(policy({ peers: true }), 'node2', nodes);
  it('names the pins that do not answer and how many more are needed', () => {
    expect(lockedMessage(pins, 1, new Set())).toBe('bricks locked: waiting for 1 of node1, node3 tang');
    expect(lockedMessage(pins, 2, new Set(['http://10.0.0.13:7500']))).toBe('bricks locked: waiting for 1 of node1 tang');
    const mixed = pinsFor(policy({ peers: true, tpm2: true, tang: [{ url: 'http://t:7500' }] }), 'node2', nodes);
    expect(lockedMessage(mixed, 3, new Set(['tpm2']))).toBe('bricks locked: waiting for 2 of node1, node3, http://t:7500');
  });
});

describe('a clevis binding against tang\'s current keys', () => {
  const dir = join(import.meta.dirname, 'fixtures/encryption');
  const jwe = readFileSync(join(dir, 'sss-one-tang.jwe'), 'utf8');
  const adv = JSON.parse(readFileSync(join(dir, 'tang-adv.json'), 'utf8')) as Record<string, unknown>;
  const rotated = JSON.parse(readFileSync(join(dir, 'tang-adv-rotated.json'), 'utf8')) as Record<string, unknown>;
  const URL = 'http://127.0.0.1:17500';

  it('reads the shares of an sss JWE: threshold, each tang server and the key it was made with', () => {
    // the key file tangd-keygen made was named x91bPZON9…DaV0.jwk: the thumbprint clevis put in kid
    expect(bindingShares(jwe)).toEqual({ t: 1, tang: [{ url: URL, kid: 'x91bPZON9_67fM-GnPC2BhB5XCDXmFyxS2VydR_DaV0' }], tpm2: 0 });
  });

  it('computes RFC 7638 thumbprints as tang names its keys', () => {
    expect(advExchangeThumbprints(adv).has('x91bPZON9_67fM-GnPC2BhB5XCDXmFyxS2VydR_DaV0')).toBe(true);
    expect(jwkThumbprint({ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' }))
      .toBe('oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U');
  });

  it('flags a share whose server no longer advertises its key (rotated or reinstalled), not one whose server did not answer', () => {
    expect(staleShares(bindingShares(jwe), new Map([[URL, adv]]))).toEqual([]);
    expect(staleShares(bindingShares(jwe), new Map([[URL, rotated]]))).toEqual([URL]);
    expect(staleShares(bindingShares(jwe), new Map())).toEqual([]);
  });

  it('decides: ok, rebind while the threshold is still met by good shares, or wait (never rebinding with too few)', () => {
    // 'http://a' answers with keys that lack the one its share was made with ('k'): stale
    const two = { t: 1, tang: [{ url: 'http://a', kid: 'k' }, { url: URL, kid: 'x91bPZON9_67fM-GnPC2BhB5XCDXmFyxS2VydR_DaV0' }], tpm2: 0 };
    const ok = bindingHealth(two, new Map([[URL, adv]]));
    expect(ok).toEqual({ good: [URL], stale: [], silent: ['http://a'], verdict: 'ok', detail: `1 of 2 pins answer (threshold 1); silent: http://a` });
    const both = new Map([[URL, adv], ['http://a', adv]]);
    expect(bindingHealth(two, both)).toEqual({ good: [URL], stale: ['http://a'], silent: [], verdict: 'rebind', detail: 'rebinding: http://a changed keys' });
    const wait = bindingHealth({ ...two, t: 2 }, both);
    expect(wait.verdict).toBe('wait');
    expect(wait.detail).toBe('http://a changed keys and only 1 good pin(s) answer (threshold 2): waiting to rebind');
    expect(bindingHealth({ ...two, t: 2, tpm2: 1 }, both).verdict).toBe('rebind');
  });

  it('reads the flattened JWE of a LUKS2 clevis token too, and refuses what is no sss binding', () => {
    const [prot] = jwe.trim().split('.');
    const token = JSON.stringify({ type: 'clevis', keyslots: ['1'], jwe: { protected: prot, ciphertext: '', encrypted_key: '', iv: '', tag: '' } });
    expect(bindingShares(token).tang).toHaveLength(1);
    const tangOnly = Buffer.from(JSON.stringify({ alg: 'dir', clevis: { pin: 'tang' } })).toString('base64url');
    expect(() => bindingShares(`${tangOnly}....`)).toThrow(/not a clevis sss binding \(pin tang\)/);
  });
});

describe('recovery keys', () => {
  const secret = 'pcs1_wJ8kw9iyBVLfeTN7WgsAXk4_TEfjzS21Dh_gJPk63Bw';
  const pair = recoveryKeyPair(secret, 'homelab');

  it('the node seals to the public half (all the plan carries); only the secret\'s holder opens it', () => {
    const pass = newRecoveryPassphrase();
    expect(pass).toMatch(/^([A-Z2-7]{5}-){7}[A-Z2-7]{5}$/);
    const sealed = sealRecoveryKey(pair.publicKey, 'node2', '/data/glusterfs/gv0/brick1', pass);
    expect(JSON.stringify(sealed)).not.toContain(pass);
    expect(openRecoveryKey(recoveryKeyPair(secret, 'homelab'), sealed)).toBe(pass);
    expect(() => openRecoveryKey(recoveryKeyPair(`${secret}x`, 'homelab'), sealed)).toThrow(/does not open with this cluster.yaml's secret/);
    expect(() => openRecoveryKey(recoveryKeyPair(secret, 'other'), sealed)).toThrow(/does not open/);
    // a blob of one brick does not pass for another's
    expect(() => openRecoveryKey(pair, { ...sealed, brick: '/data/glusterfs/gv1/brick1' })).toThrow(/does not open/);
  });

  it('derives the same public key every time from the secret, and a different one per cluster; the public key reveals no secret', () => {
    expect(recoveryKeyPair(secret, 'homelab').publicKey).toBe(pair.publicKey);
    expect(recoveryKeyPair(secret, 'other').publicKey).not.toBe(pair.publicKey);
    expect(pair.publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newRecoveryPassphrase()).not.toBe(newRecoveryPassphrase());
  });
});

describe('the plan of an encrypted cluster', () => {
  const cfg = testConfig([1, 2, 3].map((i) => ({ name: `node${i}`, hostPart: 10 + i, gv0: ['/dev/vdb'] })));
  const packages = (e: EncryptionConfig) => planFor({ ...cfg, encryption: e }).plan.packages.filter((p) => /clevis|tang|cryptsetup/.test(p));

  it('installs cryptsetup and clevis, tang only for peers, clevis-tpm2 only for tpm2; nothing for a cluster in clear', () => {
    expect(planFor(cfg).plan.packages.filter((p) => /clevis|tang|cryptsetup/.test(p))).toEqual([]);
    expect(packages(policy({ peers: true }))).toEqual(['cryptsetup', 'clevis', 'clevis-luks', 'tang']);
    expect(packages(policy({ tpm2: true, tang: [{ url: 'http://t:7500' }] }))).toEqual(['cryptsetup', 'clevis', 'clevis-luks', 'clevis-tpm2']);
  });

  it('gives the agents the policy and the recovery public key, never the secret', () => {
    const { plan } = planFor({ ...cfg, encryption: policy({ peers: true }) });
    const a = agentPlan(plan);
    expect(a.cluster.encryption).toEqual({ ...policy({ peers: true }), recoveryKey: recoveryKeyPair(cfg.secret, cfg.name).publicKey });
    expect(JSON.stringify(a)).not.toContain(cfg.secret);
  });
});

describe('personal-cloud recovery-key', () => {
  const secret = 'pcs1_wJ8kw9iyBVLfeTN7WgsAXk4_TEfjzS21Dh_gJPk63Bw';
  const pub = recoveryKeyPair(secret, 'homelab').publicKey;
  const b1 = '/data/glusterfs/gv0/brick1';
  const b2 = '/data/glusterfs/gv1/brick2';
  const p1 = newRecoveryPassphrase();
  const p2 = newRecoveryPassphrase();

  it('fetches the sealed keys over the channel (real HTTP on loopback) and opens them with the secret', async () => {
    // what the node serves: its state's sealed blobs, which it cannot open itself
    const served = { [b1]: sealRecoveryKey(pub, 'node2', b1, p1), [b2]: sealRecoveryKey(pub, 'node2', b2, p2) };
    const server = await startChannelServer({ key: deriveJoinKey(secret, 'homelab'), node: 'node2', port: 0, host: '127.0.0.1', handlers: { 'recovery-keys': async () => served }, onRefused: () => {} });
    const port = (server.address() as { port: number }).port;
    const ask = (o: { secret?: string; node?: string; disk?: string }) => fetchRecoveryKeys({ secret: o.secret ?? secret, cluster: 'homelab', node: o.node ?? 'node2', address: '127.0.0.1', port, timeoutMs: 5000, ...(o.disk ? { disk: o.disk } : {}) });
    try {
      expect(await ask({})).toEqual([{ brick: b1, passphrase: p1 }, { brick: b2, passphrase: p2 }]);
      expect(await ask({ disk: 'gv1b2' })).toEqual([{ brick: b2, passphrase: p2 }]);
      expect(await ask({ disk: b1 })).toEqual([{ brick: b1, passphrase: p1 }]);
      await expect(ask({ disk: 'bmv0b1' })).rejects.toThrow(/node2 has no encrypted brick bmv0b1 \(it has: gv0b1, gv1b2\)/);
      await expect(ask({ node: 'node3' })).rejects.toThrow(/answered as node2, not node3/);
      // another secret: the channel refuses it before any blob is sent
      await expect(ask({ secret: `${secret}x` })).rejects.toThrow(/did not answer.*wrong cluster secret/);
    } finally { server.close(); }
  });

  it('refuses a cluster.yaml without encryption, or an invalid one, with the reason, never a stack trace', async () => {
    const clear = join(import.meta.dirname, 'fixtures/config/valid/three-nodes.yaml');
    const c = await recoveryKeyCommand.run(['--config', clear, '--node', 'node1']).catch((x) => x as UserError);
    expect(c).toBeInstanceOf(UserError);
    expect((c as UserError).exitCode).toBe(EXIT.usage);
    expect((c as UserError).message).toMatch(/has no encryption: section; its bricks are not encrypted/);
    const bad = join(import.meta.dirname, 'fixtures/config/invalid/encryption-no-pin.yaml');
    const e = await recoveryKeyCommand.run(['--config', bad, '--node', 'node1']).catch((x) => x as UserError);
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).exitCode).toBe(EXIT.invalidConfig);
    expect((e as UserError).message).toMatch(/encryption: has no pin/);
    const file = join(import.meta.dirname, 'fixtures/config/valid/encryption-peers.yaml');
    const usage = await recoveryKeyCommand.run(['--config', file]).catch((x) => x as UserError);
    expect((usage as UserError).exitCode).toBe(EXIT.usage);
  });
});
