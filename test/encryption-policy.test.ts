// The brick encryption policy (core/encryption-policy.ts): which pins a node's bricks get, the
// clevis sss configuration, what a policy protects against, its weak spots, the status line.
// The same configurations are run through real clevis against real tangd in
// test/encryption-tang.test.ts.
import { describe, expect, it } from 'vitest';
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

  it('carries each peer\'s verified advertisement, an external server\'s thumbprint, and PCR 7', () => {
    const advs = new Map([['http://10.0.0.12:7500', adv(2)], ['http://10.0.0.13:7500', adv(3)]]);
    expect(sssConfig(pins, 2, advs)).toEqual({
      t: 2,
      pins: {
        tang: [
          { url: 'http://10.0.0.12:7500', adv: adv(2) },
          { url: 'http://10.0.0.13:7500', adv: adv(3) },
          { url: 'http://tang.example:7500', thp: 'T'.repeat(43) },
        ],
        tpm2: { pcr_ids: '7' },
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
    expect(sssConfig(pinsFor(policy({ tpm2: true }), 'node1', nodes), 1, new Map())).toEqual({ t: 1, pins: { tpm2: { pcr_ids: '7' } } });
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
