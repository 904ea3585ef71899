// The LUKS2 layer's decisions (firstboot/luks-plan.ts): golden fixtures (observed header → next
// action) and a model of the disk that each action changes as cryptsetup/clevis would, with a
// crash (and a reboot wiping /run) after every action: it must always reach `done`, never refuse
// its own work, and never format again once the container was opened (a filesystem may be in it).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { luksLabel, nextLuksAction, type LuksAction, type LuksObserved, type LuksWant } from '../firstboot/luks-plan.js';

describe('LUKS2 layer decisions (observed header → next action)', () => {
  const dir = join(import.meta.dirname, 'fixtures/agent-luks');
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    const c = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { why: string; want: LuksWant; observed: LuksObserved; expect: { do: string; why?: string } };
    it(`${f.replace(/\.json$/, '')}: ${c.why}`, () => {
      const a = nextLuksAction(c.observed, c.want);
      expect(a.do).toBe(c.expect.do);
      if (c.expect.why) expect((a as { why: string }).why).toContain(c.expect.why);
    });
  }
});

/** What cryptsetup and clevis do to the disk, per action. */
function applyTo(o: LuksObserved, a: LuksAction, w: LuksWant): void {
  switch (a.do) {
    case 'format': case 'reformat':
      o.deviceSignature = 'crypto_LUKS'; o.header = { label: luksLabel(w.uuid), keyslots: [0], tokens: [] }; o.keyFile = true; return;
    case 'bind': o.header!.keyslots.push(1); o.header!.tokens.push({ type: 'clevis', keyslots: [1] }); return;
    case 'add-recovery': o.header!.keyslots.push(2); o.recoverySlot = 2; return;
    case 'forget-key': o.keyFile = false; return;
    case 'open': o.open = true; return;
    default: throw new Error(`unexpected ${a.do}`);
  }
}

describe('crash at any boundary converges', () => {
  const w: LuksWant = { uuid: 'u-1' };
  const blank: LuksObserved = { device: '/dev/sdb', deviceSignature: null, header: null, keyFile: false, recoverySlot: null, open: false };

  it('from a blank disk, with a reboot (closed, /run wiped) after any number of steps, reaches done and never formats an opened container', () => {
    // the uninterrupted run, for the count of steps
    const clean: string[] = [];
    for (let o = structuredClone(blank), a = nextLuksAction(o, w); a.do !== 'done'; a = nextLuksAction(o, w)) { clean.push(a.do); applyTo(o, a, w); }
    expect(clean).toEqual(['format', 'bind', 'add-recovery', 'forget-key', 'open']);
    for (let crashAfter = 0; crashAfter <= clean.length; crashAfter++) {
      const o = structuredClone(blank);
      let everOpened = false;
      for (let i = 0; i < crashAfter; i++) { const a = nextLuksAction(o, w); applyTo(o, a, w); everOpened ||= o.open; }
      // reboot: the mapper is closed and /run is empty
      o.open = false; o.keyFile = false;
      const after: string[] = [];
      for (let i = 0; i < 10; i++) {
        const a = nextLuksAction(o, w);
        expect(a.do, `crash after ${crashAfter}: ${JSON.stringify(a)}`).not.toBe('refuse');
        if (a.do === 'done') break;
        if (everOpened) expect(['format', 'reformat']).not.toContain(a.do);
        after.push(a.do);
        applyTo(o, a, w);
        everOpened ||= o.open;
      }
      expect(nextLuksAction(o, w).do, `crash after ${crashAfter}: ${after.join(', ')}`).toBe('done');
    }
  });
});
