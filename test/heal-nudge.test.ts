// When the leader asks the self-heal daemons to crawl again: pending entries that stopped
// shrinking with every brick connected, at most once per stall window.
import { describe, expect, it } from 'vitest';
import { addSample, healSample, healStalled, HEAL_STALL_MS, type HealSample } from '../firstboot/heal-nudge.js';

const T = 1_000_000;
/** Samples every 30 s ending at T: [pending, allConnected] from oldest to newest. */
const every30s = (...xs: [number, boolean][]): HealSample[] => xs.map(([pending, allConnected], i) => ({ at: T - (xs.length - 1 - i) * 30_000, pending, allConnected }));

describe('heal nudge', () => {
  const cases: [string, HealSample[], number | undefined, boolean][] = [
    ['the same entries for 90 s, all bricks up', every30s([12, true], [12, true], [12, true], [12, true]), undefined, true],
    ['the same entries for 60 s: the window', every30s([12, true], [12, true], [12, true]), undefined, true],
    ['more entries than 90 s ago (writes keep coming, nothing heals)', every30s([5, true], [7, true], [9, true], [12, true]), undefined, true],
    ['shrinking: the daemons are at it', every30s([40, true], [30, true], [20, true], [12, true]), undefined, false],
    ['a brick was away within the window: the heal waits for it, a crawl cannot help', every30s([12, true], [12, false], [12, true], [12, true]), undefined, false],
    ['a brick away now', every30s([12, true], [12, true], [12, true], [12, false]), undefined, false],
    ['nothing pending', every30s([0, true], [0, true], [0, true], [0, true]), undefined, false],
    ['healed once within the window: a new stall starts its own clock', every30s([12, true], [0, true], [12, true], [12, true]), undefined, false],
    ['not 60 s of history yet', every30s([12, true], [12, true]), undefined, false],
    ['asked half a minute ago', every30s([12, true], [12, true], [12, true], [12, true]), T - 30_000, false],
    ['asked longer ago than the window', every30s([12, true], [12, true], [12, true], [12, true]), T - HEAL_STALL_MS, true],
    ['no samples', [], undefined, false],
  ];
  for (const [what, history, asked, want] of cases) it(what, () => expect(healStalled(history, asked, T)).toBe(want));

  it('samples: totals over bricks, one per heal-info answer, ten minutes kept', () => {
    const s = healSample(T, [{ brick: 'node1:/b', connected: true, entries: 3 }, { brick: 'node2:/b', connected: true, entries: 4 }]);
    expect(s).toEqual({ at: T, pending: 7, allConnected: true });
    expect(healSample(T, [{ brick: 'node1:/b', connected: false, entries: NaN }]).allConnected).toBe(false);
    expect(healSample(T, []).allConnected).toBe(false);
    let h: HealSample[] = [];
    h = addSample(h, s);
    expect(addSample(h, s)).toBe(h);
    for (let i = 1; i <= 30; i++) h = addSample(h, { ...s, at: T + i * 30_000 });
    expect(h[0].at).toBe(T + 30 * 30_000 - 10 * 60_000);
    expect(h).toHaveLength(21);
  });
});
