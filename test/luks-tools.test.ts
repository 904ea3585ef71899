// The disks step's LUKS2 commands (firstboot/luks.ts) against real cryptsetup, clevis and tangd,
// on a LUKS2 header in a plain file (no device-mapper needed: nothing is opened here; QEMU
// guests prove the open/unlock path, `make e2e-encrypted`): format with a key in /run, bind
// to two tang servers with their advertisements, a recovery slot whose passphrase exists only
// sealed, the format key removed; then one tang server reinstalled (new keys): the step's
// decision finds its share stale, binds anew with the key of the old slot, removes the old
// token, and the new binding decrypts through the reinstalled server.
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rebindDecision } from '../core/clevis-binding.js';
import { pinsFor, sssConfig, type TangAdv } from '../core/encryption-policy.js';
import { openRecoveryKey, recoveryKeyPair, type SealedRecoveryKey } from '../core/recovery-key.js';
import { addRecoverySlot, answeringPins, bindingPins, clevisBind, clevisRebind, clevisUnbind, fetchAdv, forgetFormatKey, LUKS_KEY_DIR, type LuksBrick, mapperName, luksFormat, observeLuks, readHeader, tokensSeen } from '../firstboot/luks.js';
import { luksLabel, nextLuksAction } from '../firstboot/luks-plan.js';

const have = (cmd: string) => { try { execFileSync('sh', ['-c', `command -v ${cmd}`]); return true; } catch { return false; } };
for (const c of ['cryptsetup', 'clevis', '/usr/libexec/tangd', '/usr/libexec/tangd-keygen', 'systemd-socket-activate']) {
  if (!have(c)) throw new Error(`${c} is missing: bash scripts/deps.sh test installs it`);
}

const dir = mkdtempSync(join(tmpdir(), 'pc-luks-'));
const img = join(dir, 'brick.img');
// an unusual brick number: its mapper name and /run key file cannot be a real brick's
const brick: LuksBrick = { volume: 'bmv0', index: 100 + (process.pid % 900), mountPoint: '/data/glusterfs/bmv0/brick1' };
const servers: { port: number; keys: string; proc?: ChildProcess }[] = [{ port: 17591, keys: join(dir, 'tang-a') }, { port: 17592, keys: join(dir, 'tang-b') }];
const url = (i: number) => `http://127.0.0.1:${servers[i].port}`;
// the policy's pins: as if node2 and node3 were the other nodes (their tang on 127.0.0.1, other ports)
const pins = () => pinsFor({ peers: false, tang: [{ url: url(0) }, { url: url(1) }], tpm2: false, threshold: 1 }, 'node1', []);

function startTang(i: number): void {
  const s = servers[i];
  mkdirSync(s.keys, { recursive: true });
  if (!readdirSync(s.keys).some((f) => f.endsWith('.jwk'))) execFileSync('/usr/libexec/tangd-keygen', [s.keys]);
  s.proc = spawn('systemd-socket-activate', ['--inetd', '--accept', '-l', `127.0.0.1:${s.port}`, '/usr/libexec/tangd', s.keys], { stdio: 'ignore' });
}
async function advs(): Promise<Map<string, TangAdv>> {
  const out = new Map<string, TangAdv>();
  for (const i of servers.keys()) { const a = await fetchAdv(url(i)); if (a) out.set(url(i), a); }
  return out;
}
async function untilAnswers(i: number): Promise<void> {
  for (let k = 0; k < 50 && !(await fetchAdv(url(i))); k++) await new Promise((r) => setTimeout(r, 100));
}

beforeAll(async () => {
  execFileSync('truncate', ['-s', '32M', img]);
  for (const i of servers.keys()) { startTang(i); await untilAnswers(i); }
});
afterAll(() => {
  for (const s of servers) s.proc?.kill();
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(LUKS_KEY_DIR, `${mapperName(brick)}.key`), { force: true });
});

describe('LUKS2 commands of the disks step, on a header in a file', () => {
  const uuid = '0b6f3c1e-5d7a-4e1b-9c2f-2a4b6c8d0e1f';
  const secret = 'pcs1_luks-tools-test-secret';
  const pair = recoveryKeyPair(secret, 'testcloud');
  let sealed: SealedRecoveryKey | undefined;
  let recoverySlot: number | null = null;

  it('format → bind → recovery slot → forget the key, each as nextLuksAction decides, and the header ends as the step wants it', async () => {
    const done: string[] = [];
    for (let i = 0; i < 8; i++) {
      const o = await observeLuks(brick, img, recoverySlot);
      const a = nextLuksAction(o, { uuid });
      if (a.do === 'open') break; // opening needs device-mapper: the QEMU run proves it
      done.push(a.do);
      if (a.do === 'format') await luksFormat(brick, img, luksLabel(uuid));
      else if (a.do === 'bind') await clevisBind(brick, img, sssConfig(pins(), 1, await advs()));
      else if (a.do === 'add-recovery') {
        await addRecoverySlot(brick, img, { node: 'node1', publicKey: pair.publicKey, header: o.header!, clevisSlot: o.header!.tokens[0].keyslots[0] }, async (slot, s) => { recoverySlot = slot; sealed = s; });
      } else if (a.do === 'forget-key') await forgetFormatKey(brick, img);
      else throw new Error(`unexpected ${JSON.stringify(a)}`);
      if (a.do === 'format') expect(statSync(join(LUKS_KEY_DIR, `${mapperName(brick)}.key`)).mode & 0o777).toBe(0o600);
    }
    expect(done).toEqual(['format', 'bind', 'add-recovery', 'forget-key']);
    expect(existsSync(join(LUKS_KEY_DIR, `${mapperName(brick)}.key`))).toBe(false);
    const h = (await readHeader(img))!;
    expect(h.header.label).toBe(luksLabel(uuid));
    // the clevis slot and the recovery slot; the format key's slot is gone
    expect(h.header.keyslots).toEqual([1, 2]);
    expect(h.clevis.map((c) => c.slot)).toEqual([1]);
    expect(h.binding!.tang.map((s) => s.url)).toEqual([url(0), url(1)]);
    expect(recoverySlot).toBe(2);
    // the sealed passphrase opens the header's slot 2; a wrong one does not
    const passphrase = openRecoveryKey(pair, sealed!);
    const test = (p: string) => { try { execFileSync('cryptsetup', ['open', '--test-passphrase', '--key-slot', '2', '--key-file', '-', img], { input: p, stdio: ['pipe', 'ignore', 'ignore'] }); return true; } catch { return false; } };
    expect(test(passphrase)).toBe(true);
    expect(test(`${passphrase}x`)).toBe(false);
  }, 180_000);

  it('a reinstalled tang server (new keys): its share is stale, the brick is bound anew with the old slot\'s key, then the old token removed', async () => {
    const want = { tang: [url(0), url(1)], tpm2: 0, threshold: 1 };
    const look = async () => {
      const h = (await readHeader(img))!;
      const { answering, advs: a } = await answeringPins(h.clevis.flatMap((c) => bindingPins(c.binding, [])));
      return { h, answering, tokens: tokensSeen(h.clevis, a) };
    };
    expect(rebindDecision((await look()).tokens, want, (await look()).answering)).toEqual({ do: 'ok' });
    // server A reinstalled: new keys, the old ones gone
    servers[0].proc!.kill();
    rmSync(servers[0].keys, { recursive: true, force: true });
    startTang(0);
    await untilAnswers(0);
    let seen = await look();
    const d = rebindDecision(seen.tokens, want, seen.answering);
    expect(d).toEqual({ do: 'rebind', from: 1, why: `${url(0)} changed keys` });
    await clevisRebind(brick, img, 1, sssConfig(pins(), 1, await advs()));
    seen = await look();
    const newSlot = seen.h.clevis.find((c) => c.slot !== 1)!.slot;
    expect(rebindDecision(seen.tokens, want, seen.answering)).toMatchObject({ do: 'unbind', slots: [1] });
    await clevisUnbind(img, 1);
    seen = await look();
    expect(seen.h.clevis.map((c) => c.slot)).toEqual([newSlot]);
    expect(rebindDecision(seen.tokens, want, seen.answering)).toEqual({ do: 'ok' });
    // the recovery slot survived, and the new binding decrypts through the reinstalled server alone
    expect(seen.h.header.keyslots).toContain(2);
    servers[1].proc!.kill();
    const pass = execFileSync('clevis', ['luks', 'pass', '-d', img, '-s', String(newSlot)]);
    expect(pass.length).toBeGreaterThan(20);
    startTang(1);
  }, 180_000);
});
