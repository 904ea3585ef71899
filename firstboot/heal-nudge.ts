// A heal that stopped moving. The self-heal daemons crawl their index when a brick connects and
// then only every cluster.heal-timeout (600 s): an entry that reached the index after that first
// crawl (a brick back while a replaced node's blank brick was still being reset, a slow machine)
// waits ten minutes with nothing else wrong. The leader asks for an index crawl
// (`gluster volume heal VOL`) when a volume's pending entries have not shrunk for a while with
// every brick connected.
import type { HealBrick } from './gluster.js';

export interface HealSample { at: number; pending: number; allConnected: boolean }

/** How long pending entries may stay without shrinking before the crawl is asked again (also the least time between two asks). */
export const HEAL_STALL_MS = 60_000;
/** Samples older than this are dropped. */
const KEEP_MS = 10 * 60_000;

export function healSample(at: number, bricks: HealBrick[]): HealSample {
  return {
    at,
    pending: bricks.reduce((s, b) => s + (Number.isFinite(b.entries) ? b.entries : 0), 0),
    allConnected: bricks.length > 0 && bricks.every((b) => b.connected),
  };
}

/** The history with `s` added (a repeat of the last sample's time is ignored) and old samples dropped. */
export function addSample(history: HealSample[], s: HealSample): HealSample[] {
  if (history.length && history[history.length - 1].at === s.at) return history;
  return [...history, s].filter((x) => s.at - x.at <= KEEP_MS);
}

/**
 * Whether to ask for a crawl now: entries pending in every sample of the last `stallMs` (and in
 * one at least that old), every brick connected in all of them (a brick away explains a waiting
 * heal, a crawl cannot help), no fewer entries now than then, and no ask within `stallMs`.
 */
export function healStalled(history: HealSample[], lastAsk: number | undefined, now: number, stallMs = HEAL_STALL_MS): boolean {
  if (lastAsk !== undefined && now - lastAsk < stallMs) return false;
  const last = history[history.length - 1];
  if (!last || last.pending === 0 || !last.allConnected) return false;
  let from = -1;
  for (let i = history.length - 1; i >= 0; i--) {
    const s = history[i];
    if (s.pending === 0 || !s.allConnected) return false;
    if (now - s.at >= stallMs) { from = i; break; }
  }
  return from >= 0 && last.pending >= history[from].pending;
}
