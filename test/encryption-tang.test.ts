// The brick encryption policy against real tang servers: every node of the namespace harness
// runs Debian's tangd (socket-activated per connection, as tangd.socket does, here with
// systemd-socket-activate) on its cluster address, its keys made at "first boot" by
// tangd-keygen in its own /var/lib/tang. The clevis `sss` configuration comes from
// core/encryption-policy.ts and real clevis encrypts/decrypts data with it (no LUKS: this
// kernel has no device-mapper; the LUKS layer is the QEMU e2e run's). Shown: a threshold met and
// unmet, a peer's tang down then back, the box cut off from the network, and key changes (a
// reinstalled node, a rotation) detected by core/clevis-binding.ts and repaired by rebinding so
// the threshold is never silently lost; with a software TPM (swtpm) in node1's namespace, the
// TPM2 share (PCR 7) counted in the threshold. Then the agents' own tang step in the namespaces.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advKeys, bindingHealth, bindingShares, staleShares } from '../core/clevis-binding.js';
import { peerTangUrl, pinsFor, sssConfig, TANG_PORT, type EncryptionConfig, type TangAdv } from '../core/encryption-policy.js';
import { BASE, Harness } from './harness/cluster.js';
import { planFor, testConfig } from './harness/plan.js';
import { sh, waitFor } from './harness/sh.js';

const NODES = ['node1', 'node2', 'node3'];
const TANGD = '/usr/libexec/tangd';
const SWTPM = '/usr/bin/swtpm';
const TPM_PORT = 23210;
const SECRET = 'brick master key 0123456789abcdef';
// in the default run: a missing package fails the file rather than passing it empty
for (const bin of [TANGD, SWTPM]) if (!existsSync(bin)) throw new Error(`${bin} missing: install Debian's tang, clevis, clevis-tpm2, jose, swtpm, tpm2-tools (scripts/deps.sh test)`);
let h: Harness;
const tang = new Map<string, ChildProcess>();

const addr = (n: string) => h.node(n).address;
const url = (n: string) => peerTangUrl(addr(n));

async function answers(from: string, n: string): Promise<boolean> {
  return (await h.on(from, 'curl', ['-sf', '--max-time', '2', `${url(n)}/adv`], { allowFail: true })).code === 0;
}

/** tangd as tangd.socket runs it: one tangd per connection (Accept=yes), on the node's cluster address. */
async function startTang(n: string): Promise<void> {
  const child = spawn('nsenter', [...h.nsenterArgs(n), 'systemd-socket-activate', '--inetd', '-a', '-l', `${addr(n)}:${TANG_PORT}`, TANGD, '/var/lib/tang'], { stdio: 'ignore' });
  tang.set(n, child);
  await waitFor(`${n}'s tang`, 10_000, () => answers(n, n), 200);
}

async function stopTang(n: string): Promise<void> {
  const child = tang.get(n);
  if (!child || child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
  tang.delete(n);
}

/** First boot: keys made once, kept across restarts (tangd-keygen only when the directory is empty). */
async function makeKeys(n: string): Promise<void> {
  await h.on(n, 'sh', ['-ec', `ls /var/lib/tang/*.jwk >/dev/null 2>&1 || /usr/libexec/tangd-keygen /var/lib/tang`]);
}

/**
 * A peer's advertisement as the agent would pass it on. In the cluster it crosses the
 * authenticated agent channel (the join key vouches for it); here it is read from the node itself.
 */
async function advOf(n: string): Promise<TangAdv> {
  return JSON.parse((await h.on(n, 'curl', ['-sf', '--max-time', '5', `${url(n)}/adv`])).stdout) as TangAdv;
}

async function bind(self: string, policy: EncryptionConfig, data = SECRET): Promise<string> {
  const pins = pinsFor(policy, self, NODES.map((name) => ({ name, address: addr(name) })));
  const advs = new Map<string, TangAdv>();
  for (const p of pins) if (p.kind === 'peer') advs.set(p.url, await advOf(p.node));
  const cfg = sssConfig(pins, policy.threshold, advs);
  return (await h.on(self, 'clevis', ['encrypt', 'sss', JSON.stringify(cfg)], { input: data })).stdout;
}

async function unlock(self: string, jwe: string): Promise<string | null> {
  const r = await h.on(self, 'clevis', ['decrypt'], { input: jwe, allowFail: true, timeoutMs: 60_000 });
  return r.code === 0 ? r.stdout : null;
}

async function currentAdvs(self: string, jwe: string): Promise<Map<string, TangAdv>> {
  const out = new Map<string, TangAdv>();
  for (const s of bindingShares(jwe).tang) {
    const r = await h.on(self, 'curl', ['-sf', '--max-time', '2', `${s.url}/adv`], { allowFail: true });
    if (r.code === 0) out.set(s.url, JSON.parse(r.stdout) as TangAdv);
  }
  return out;
}

const peers = (threshold: number): EncryptionConfig => ({ peers: true, tang: [], tpm2: false, threshold });

describe('brick encryption policy against real tangd in the node namespaces', () => {
  beforeAll(async () => {
    h = await Harness.create(NODES.map((name) => ({ name, disks: [] })), { id: 'pce', extras: { privateDirs: ['/var/lib/tang'] } });
    for (const n of NODES) { await makeKeys(n); await startTang(n); }
  }, 300_000);

  afterAll(async () => {
    for (const n of [...tang.keys()]) await stopTang(n);
    await h?.teardown();
  });

  it('each node has its own tang keys, kept across a restart of its tang', async () => {
    const thp = async (n: string) => (await h.on(n, 'sh', ['-c', 'ls /var/lib/tang/*.jwk | sort'])).stdout;
    const before = await Promise.all(NODES.map(thp));
    expect(new Set(before).size).toBe(3);
    await stopTang('node2');
    await makeKeys('node2');
    await startTang('node2');
    expect(await thp('node2')).toBe(before[1]);
  });

  it('threshold 1 over the other nodes: unlocks while one peer answers, not when none does; a peer back unlocks again', async () => {
    const jwe = await bind('node1', peers(1));
    expect(bindingShares(jwe)).toMatchObject({ t: 1, tang: [{ url: url('node2') }, { url: url('node3') }], tpm2: 0 });
    expect(jwe).not.toContain(SECRET);
    expect(await unlock('node1', jwe)).toBe(SECRET);
    await stopTang('node2');
    expect(await unlock('node1', jwe)).toBe(SECRET);
    await stopTang('node3');
    expect(await unlock('node1', jwe)).toBeNull();
    await startTang('node3');
    expect(await unlock('node1', jwe)).toBe(SECRET);
    await startTang('node2');
  });

  it('threshold 2 of 2: one peer down is not enough', async () => {
    const jwe = await bind('node1', peers(2));
    expect(await unlock('node1', jwe)).toBe(SECRET);
    await stopTang('node3');
    expect(await unlock('node1', jwe)).toBeNull();
    await startTang('node3');
    expect(await unlock('node1', jwe)).toBe(SECRET);
  });

  it('the box cut off from the network stays locked, and unlocks when the network returns', async () => {
    const jwe = await bind('node2', peers(1));
    await h.on('node2', 'ip', ['link', 'set', 'eth0', 'down']);
    try {
      expect(await unlock('node2', jwe)).toBeNull();
    } finally {
      await h.on('node2', 'ip', ['link', 'set', 'eth0', 'up']);
      await h.on('node2', 'ip', ['addr', 'replace', `${addr('node2')}/24`, 'dev', 'eth0']);
    }
    await waitFor('node2 to reach node1', 20_000, () => answers('node2', 'node1'));
    expect(await unlock('node2', jwe)).toBe(SECRET);
  });

  it('a peer reinstalled (new tang keys): its share is detected as stale, and a rebind restores the threshold', async () => {
    const jwe = await bind('node1', peers(1));
    expect(staleShares(bindingShares(jwe), await currentAdvs('node1', jwe))).toEqual([]);
    // node2 reinstalled: its old keys are gone, new ones made at its first boot
    await stopTang('node2');
    await h.on('node2', 'sh', ['-ec', 'rm -f /var/lib/tang/*.jwk /var/lib/tang/.*.jwk']);
    await makeKeys('node2');
    await startTang('node2');
    expect(staleShares(bindingShares(jwe), await currentAdvs('node1', jwe))).toEqual([url('node2')]);
    expect(bindingHealth(bindingShares(jwe), await currentAdvs('node1', jwe)).verdict).toBe('rebind');
    // the silent loss the check prevents: node2 answers, yet with node3 away nothing unlocks
    await stopTang('node3');
    expect(await unlock('node1', jwe)).toBeNull();
    await startTang('node3');
    // rebind while the threshold is still met (node3): unlock, bind again with the current keys
    const key = await unlock('node1', jwe);
    expect(key).toBe(SECRET);
    const rebound = await bind('node1', peers(1), key!);
    expect(staleShares(bindingShares(rebound), await currentAdvs('node1', rebound))).toEqual([]);
    await stopTang('node3');
    expect(await unlock('node1', rebound)).toBe(SECRET);
    await startTang('node3');
  });

  it('a rotation (tangd-rotate-keys): old bindings still unlock but are flagged for rebinding', async () => {
    const jwe = await bind('node1', peers(2));
    await h.on('node3', '/usr/libexec/tangd-rotate-keys', ['-d', '/var/lib/tang']);
    expect(staleShares(bindingShares(jwe), await currentAdvs('node1', jwe))).toEqual([url('node3')]);
    expect(await unlock('node1', jwe)).toBe(SECRET);
    const rebound = await bind('node1', peers(2), SECRET);
    expect(staleShares(bindingShares(rebound), await currentAdvs('node1', rebound))).toEqual([]);
    expect(await unlock('node1', rebound)).toBe(SECRET);
  });

  describe('with a TPM2 share (swtpm, a software TPM, in node1\'s namespace)', () => {
    let swtpm: ChildProcess | undefined;
    const tpmEnv = () => ({ ...process.env, TPM2TOOLS_TCTI: `swtpm:host=127.0.0.1,port=${TPM_PORT}` });
    const tpmUnlock = async (jwe: string) => {
      const r = await h.on('node1', 'clevis', ['decrypt'], { input: jwe, allowFail: true, timeoutMs: 60_000, env: tpmEnv() });
      return r.code === 0 ? r.stdout : null;
    };
    const tpmBind = async (policy: EncryptionConfig) => {
      const pins = pinsFor(policy, 'node1', NODES.map((name) => ({ name, address: addr(name) })));
      const advs = new Map<string, TangAdv>();
      for (const p of pins) if (p.kind === 'peer') advs.set(p.url, await advOf(p.node));
      return (await h.on('node1', 'clevis', ['encrypt', 'sss', JSON.stringify(sssConfig(pins, policy.threshold, advs))], { input: SECRET, env: tpmEnv() })).stdout;
    };

    beforeAll(async () => {
      const state = join(BASE, 'swtpm-node1');
      await h.on('node1', 'mkdir', ['-p', state]);
      swtpm = spawn('nsenter', [...h.nsenterArgs('node1'), SWTPM, 'socket', '--tpm2', '--tpmstate', `dir=${state}`,
        '--server', `type=tcp,port=${TPM_PORT},bindaddr=127.0.0.1`, '--ctrl', `type=tcp,port=${TPM_PORT + 1},bindaddr=127.0.0.1`, '--flags', 'not-need-init,startup-clear'], { stdio: 'ignore' });
      await waitFor('swtpm', 10_000, async () => (await h.on('node1', 'tpm2_pcrread', ['sha256:7'], { allowFail: true, env: tpmEnv() })).code === 0, 200);
    });
    afterAll(async () => {
      if (swtpm && swtpm.exitCode === null) { const gone = new Promise((r) => swtpm!.once('exit', r)); swtpm.kill('SIGTERM'); await gone; }
    });

    it('peers + tpm2, threshold 2: the TPM alone does not unlock (the box taken away), the TPM and one peer do', async () => {
      const jwe = await tpmBind({ peers: true, tang: [], tpm2: true, threshold: 2 });
      expect(bindingShares(jwe)).toMatchObject({ t: 2, tpm2: 1 });
      try {
        await stopTang('node2');
        await stopTang('node3');
        expect(await tpmUnlock(jwe)).toBeNull();
        await startTang('node3');
        expect(await tpmUnlock(jwe)).toBe(SECRET);
      } finally {
        for (const n of ['node2', 'node3']) if (!tang.has(n)) await startTang(n);
      }
    });

    it('tpm2 alone (the policy validate warns about) unlocks with every tang down, until the boot chain in PCR 7 changes', async () => {
      const jwe = await tpmBind({ peers: false, tang: [], tpm2: true, threshold: 1 });
      try {
        await stopTang('node2');
        await stopTang('node3');
        expect(await tpmUnlock(jwe)).toBe(SECRET);
        // another boot chain (Secure Boot off, another loader) measures differently into PCR 7
        await h.on('node1', 'tpm2_pcrextend', [`7:sha256=${'ab'.repeat(32)}`], { env: tpmEnv() });
        expect(await tpmUnlock(jwe)).toBeNull();
      } finally {
        for (const n of ['node2', 'node3']) if (!tang.has(n)) await startTang(n);
      }
    });
  });

  it('a binding names only verified keys: a peer\'s tang replaced by an impostor does not unlock it', async () => {
    const jwe = await bind('node3', peers(1));
    // both peers' tang swapped for servers with other keys (e.g. a thief's stand-ins at the same addresses)
    for (const n of ['node1', 'node2']) {
      await stopTang(n);
      await h.on(n, 'sh', ['-ec', 'mkdir -p /var/lib/tang/real && mv /var/lib/tang/*.jwk /var/lib/tang/real/ && /usr/libexec/tangd-keygen /var/lib/tang']);
      await startTang(n);
    }
    expect(await unlock('node3', jwe)).toBeNull();
    for (const n of ['node1', 'node2']) {
      await stopTang(n);
      await h.on(n, 'sh', ['-ec', 'rm -f /var/lib/tang/*.jwk && mv /var/lib/tang/real/*.jwk /var/lib/tang/ && rmdir /var/lib/tang/real']);
      await startTang(n);
    }
    expect(await unlock('node3', jwe)).toBe(SECRET);
  });
});

describe('the agents\' tang step (encryption.peers) in the node namespaces', () => {
  let joinKey = '';
  let caller = '';

  beforeAll(async () => {
    h = await Harness.create(NODES.map((name) => ({ name, disks: [{}] })), { id: 'pce', extras: { privateDirs: ['/var/lib/tang'] } });
    const cfg = testConfig(NODES.map((name, i) => ({ name, hostPart: 11 + i, gv0: [h.node(name).disks[0]] })));
    // straight into the plan: validate still refuses encryption: until the images encrypt
    cfg.encryption = { peers: true, tang: [], tpm2: false, threshold: 1 };
    const p = planFor(cfg);
    joinKey = p.joinKey;
    for (const n of NODES) h.writeAgentConfig(n, p.plan, p.joinKey);
    caller = join(BASE, 'channel-call.mjs');
    await build({ entryPoints: [join(import.meta.dirname, 'harness/channel-call.ts')], outfile: caller, bundle: true, platform: 'node', format: 'esm', target: 'node18', logLevel: 'error' });
    for (const n of NODES) h.startAgent(n);
  }, 300_000);

  afterAll(async () => { await h?.teardown(); });

  const tangDone = (n: string) => h.snapshot(n)?.steps.find((s) => s.name === 'tang')?.state === 'done';
  const keyFiles = async (n: string) => (await h.on(n, 'sh', ['-c', 'ls /var/lib/tang/ | sort'])).stdout;

  async function advThroughChannel(from: string, to: string): Promise<{ node: string; data: TangAdv }> {
    const req = join(BASE, `call-${from}-${to}.json`);
    writeFileSync(req, JSON.stringify({ key: joinKey, from, address: addr(to), op: 'tang-adv' }), { mode: 0o600 });
    return JSON.parse((await h.on(from, process.execPath, [caller, req])).stdout) as { node: string; data: TangAdv };
  }

  it('every agent makes its tang keys and serves tang on its cluster address', async () => {
    await waitFor('the tang step done on every node', 180_000, async () => NODES.every(tangDone));
    for (const n of NODES) {
      expect(await keyFiles(n)).toMatch(/^\S+\.jwk\n\S+\.jwk\n$/);
      expect(await answers('node1', n)).toBe(true);
    }
    // only on the cluster address: not on loopback
    expect((await h.on('node1', 'curl', ['-sf', '--max-time', '2', `http://127.0.0.1:${TANG_PORT}/adv`], { allowFail: true })).code).not.toBe(0);
  });

  it('peers get each node\'s advertisement through the authenticated channel; clevis binds and unlocks with it', async () => {
    const got = await advThroughChannel('node1', 'node2');
    expect(got.node).toBe('node2');
    const direct = JSON.parse((await h.on('node1', 'curl', ['-sf', `${url('node2')}/adv`])).stdout) as TangAdv;
    expect(advKeys(got.data)).toEqual(advKeys(direct));
    const pins = pinsFor(peers(1), 'node1', NODES.map((name) => ({ name, address: addr(name) })));
    const advs = new Map<string, TangAdv>();
    for (const p of pins) if (p.kind === 'peer') advs.set(p.url, (await advThroughChannel('node1', p.node)).data);
    const jwe = (await h.on('node1', 'clevis', ['encrypt', 'sss', JSON.stringify(sssConfig(pins, 1, advs))], { input: SECRET })).stdout;
    expect(await unlock('node1', jwe)).toBe(SECRET);
    // a wrong join key gets nothing
    const bad = join(BASE, 'call-bad.json');
    writeFileSync(bad, JSON.stringify({ key: 'ab'.repeat(32), from: 'node1', address: addr('node2'), op: 'tang-adv' }), { mode: 0o600 });
    expect((await h.on('node1', process.execPath, [caller, bad], { allowFail: true })).code).not.toBe(0);
  });

  it('tang killed: the agent starts it again with the same keys; an agent restart keeps them too', async () => {
    const before = await keyFiles('node2');
    // by pid: the socket activation the agent started in node2's namespace, nothing else on this machine
    const pids = (await sh('ip', ['netns', 'pids', h.node('node2').netns])).stdout.split('\n').filter(Boolean)
      .filter((p) => { try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(`${addr('node2')}:${TANG_PORT}`); } catch { return false; } });
    expect(pids).toHaveLength(1);
    await sh('kill', pids);
    expect(await answers('node1', 'node2')).toBe(false);
    await waitFor('node2\'s agent to restart its tang', 120_000, () => answers('node1', 'node2'));
    await h.stopAgent('node2');
    h.startAgent('node2');
    await waitFor('node2\'s tang step done again', 120_000, async () => tangDone('node2') && answers('node1', 'node2'));
    expect(await keyFiles('node2')).toBe(before);
  });
});
