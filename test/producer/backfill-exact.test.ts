/**
 * The sequencer and the backfiller together, against a REST model (issue 15, points 2, 4 and 5): gaps are
 * exact (an answer is used only for the fromId it was asked for, a deferred symbol's earlier ids are never
 * skipped), one REST page fills every hole it covers, the held trades of all symbols stay under one bound,
 * and with two feeds a hole the other feed fills needs no REST call.
 */
import { createAggTradeRecord, type AggTradeRecord } from '../../src/exchange/aggtrade-frame';
import type { RestAggTrade } from '../../src/exchange/binance-rest';
import { createLogger } from '../../src/observability/log';
import { TradeTimeCheck } from '../../src/exchange/trade-times';
import { Backfiller } from '../../src/producer/backfiller';
import { GAP, LIVE, SymbolSequencer, WATCH, type SequencerOptions, type SequencerSink } from '../../src/producer/symbol-sequencer';

const T0 = Date.parse('2026-01-05T00:00:00Z');
const log = createLogger({ level: 'error', sink: { write: () => undefined } });

function restTrade(a: number): RestAggTrade {
  return { aggId: a, firstTradeId: a * 2, lastTradeId: a * 2 + 1, price: 100 + (a % 10), quantity: 1, tradeTime: T0 + a * 10, isBuyerMaker: a % 2 === 0 };
}

function live(a: number): AggTradeRecord {
  const t = restTrade(a);
  return Object.assign(createAggTradeRecord(), { symbol: 'S', ...t, eventTime: t.tradeTime + 1 });
}

/** REST over ids 1..`last` of every symbol; each call can be held until released. */
class FakeRest {
  calls: Array<{ symbol: string; fromId: number; limit: number }> = [];
  last = 5000;
  /** Ids REST answers with a time in microseconds (a broken answer). */
  microIds = new Set<number>();
  hold = false;
  private readonly waiting: Array<() => void> = [];

  aggTrades = async (symbol: string, fromId: number, limit = 1000): Promise<RestAggTrade[]> => {
    this.calls.push({ symbol, fromId, limit });
    if (this.hold) await new Promise<void>((resolve) => this.waiting.push(resolve));
    const out: RestAggTrade[] = [];
    for (let a = fromId; a <= this.last && out.length < limit; a++) {
      const t = restTrade(a);
      if (this.microIds.has(a)) t.tradeTime *= 1000;
      out.push(t);
    }
    return out;
  };

  aggTradesFrom = async (): Promise<RestAggTrade[]> => [];

  release(): void {
    this.hold = false;
    for (const w of this.waiting.splice(0)) w();
  }
}

class Rig implements SequencerSink {
  readonly released = new Map<number, number[]>();
  readonly unfillables: Array<[number, number, number]> = [];
  readonly seq: SymbolSequencer;
  readonly backfiller: Backfiller;
  /** The outgoing buffer refuses trades while false (a full buffer: the symbol is deferred). */
  accept = true;

  constructor(readonly rest: FakeRest, options: SequencerOptions = {}, times?: TradeTimeCheck) {
    this.seq = new SymbolSequencer(this, options);
    this.backfiller = new Backfiller({ rest: rest as never, sequencer: this.seq, nameOf: (s) => `SYM${s}`, log, maxAgeMs: 1e15, times });
  }

  release(symbol: number, r: AggTradeRecord): boolean {
    if (!this.accept) return false;
    let l = this.released.get(symbol);
    if (l === undefined) this.released.set(symbol, (l = []));
    l.push(r.aggId);
    return true;
  }

  backfill(symbol: number, fromId: number, lastTradeTime: number): void {
    this.backfiller.request(symbol, fromId, lastTradeTime);
  }

  unfillable(symbol: number, fromId: number, toId: number): void {
    this.unfillables.push([symbol, fromId, toId]);
  }

  of(symbol: number): number[] {
    return this.released.get(symbol) ?? [];
  }

  async settle(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      await new Promise((r) => setImmediate(r));
      if (this.backfiller.pending === 0 && !this.rest.hold) {
        await new Promise((r) => setImmediate(r));
        if (this.backfiller.pending === 0) return;
      }
    }
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('gaps are exact', () => {
  it('a symbol deferred back below a backfill in flight gets its earlier ids, none skipped silently (issue 15 point 2)', async () => {
    const rest = new FakeRest();
    rest.last = 20;
    const rig = new Rig(rest);
    for (const a of range(1, 10)) rig.seq.live(0, live(a));
    // 11..14 never streamed: the backfill from 11 goes out and is held at REST.
    rest.hold = true;
    rig.seq.live(0, live(15));
    expect(rig.seq.modeOf(0)).toBe(GAP);
    await rig.settle();
    expect(rest.calls).toEqual([{ symbol: 'SYM0', fromId: 11, limit: 1000 }]);
    // Kafka was away: the buffer holding 8..10 is dropped and the symbol deferred from 8 (what committed is 1..7).
    rig.seq.defer(0, 8, T0 + 70);
    expect(rig.seq.resumeDeferred()).toBe(1);
    // Now the old answer (from 11) arrives, then whatever else is asked.
    rest.release();
    await rig.settle();
    expect(rig.unfillables).toEqual([]);
    // Released after the defer: 8.. in order, each once.
    expect(rig.of(0).slice(10)).toEqual(range(8, 20));
    expect(rest.calls.map((c) => c.fromId)).toEqual([11, 8]);
    expect(rig.seq.modeOf(0)).toBe(LIVE);
  });

  it('a stale answer that starts above the next id is not taken as contiguous', () => {
    const requests: Array<[number, number]> = [];
    const released: number[] = [];
    const seq = new SymbolSequencer({ release: (_s, r) => (released.push(r.aggId), true), backfill: (s, f) => requests.push([s, f]), unfillable: () => undefined });
    for (const a of range(1, 3)) seq.live(0, live(a));
    seq.live(0, live(9));
    seq.defer(0, 2, T0);
    seq.resumeDeferred();
    seq.backfillPage(0, 4, [4, 5, 6, 7, 8, 9].map(restTrade), 1000);
    expect(released).toEqual([1, 2, 3]);
    expect(seq.modeOf(0)).toBe(GAP);
    seq.backfillPage(0, 2, [2, 3, 4, 5, 6, 7, 8, 9].map(restTrade), 1000);
    expect(released).toEqual([1, 2, 3, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('REST trades with implausible times', () => {
  it('are not released; their ids are reported unfillable, and the rest of the page is used', async () => {
    const rest = new FakeRest();
    rest.last = 12;
    rest.microIds.add(5);
    const times = new TradeTimeCheck({ fromMs: Date.UTC(2017, 0, 1), toMs: Date.UTC(2100, 0, 1), eventSkewMs: 60_000, clockAheadMs: 60_000 });
    const rig = new Rig(rest, {}, times);
    for (const a of [1, 2, 3, 10, 11, 12]) rig.seq.live(0, live(a));
    await rig.settle();
    expect(rig.of(0)).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12]);
    expect(rig.unfillables).toEqual([[0, 5, 5]]);
    expect(rig.seq.counters.implausibleRestTrades).toBe(1);
    expect(rig.seq.modeOf(0)).toBe(LIVE);
  });
});

describe('gaps converge', () => {
  it('live ids 1..100 without 10, 30, 50, 70, 90 and 1,000-trade pages: one REST call, not five (issue 15 point 5)', async () => {
    const rest = new FakeRest();
    const rig = new Rig(rest);
    const holes = new Set([10, 30, 50, 70, 90]);
    for (const a of range(1, 100)) if (!holes.has(a)) rig.seq.live(0, live(a));
    await rig.settle();
    expect(rest.calls.length).toBe(1);
    expect(rig.of(0).slice(0, 100)).toEqual(range(1, 100));
    expect(rig.seq.modeOf(0)).toBe(LIVE);
    expect(rig.seq.counters).toMatchObject({ gapsFound: 1, gapsFilled: 1, unfillableGaps: 0 });
    // Later live trades are duplicates of what the page brought or continue it.
    rig.seq.live(0, live(1009));
    rig.seq.live(0, live(1010));
    expect(rig.of(0).at(-1)).toBe(1010);
    expect(new Set(rig.of(0)).size).toBe(rig.of(0).length);
  });

  it('a short page releases everything it covers and the contiguous held trades behind it', async () => {
    const rest = new FakeRest();
    rest.last = 100;
    const rig = new Rig(rest);
    for (const a of range(1, 100)) if (a % 7 !== 0) rig.seq.live(0, live(a));
    await rig.settle();
    expect(rest.calls.length).toBe(1);
    expect(rig.of(0)).toEqual(range(1, 100));
    expect(rig.seq.modeOf(0)).toBe(LIVE);
  });

  it('after a reconnect the most active symbol is checked first', async () => {
    const rest = new FakeRest();
    rest.last = 50;
    const rig = new Rig(rest, { watchDelayMs: 0 });
    const now = 1_000_000;
    for (const a of range(1, 5)) rig.seq.live(1, live(a));
    for (const a of range(1, 30)) rig.seq.live(2, live(a));
    for (const a of range(1, 10)) rig.seq.live(3, live(a));
    rest.hold = true;
    rig.seq.connectionLost([1, 2, 3], T0);
    rig.seq.connectionOpened([1, 2, 3], now);
    rig.seq.tick(now);
    rest.release();
    await rig.settle();
    expect(rest.calls.map((c) => c.symbol)).toEqual(['SYM2', 'SYM3', 'SYM1']);
  });
});

describe('one bound for held trades', () => {
  it('never holds more than the configured total; what did not fit comes from REST, exactly once', async () => {
    const rest = new FakeRest();
    rest.last = 400;
    rest.hold = true;
    const rig = new Rig(rest, { maxHeldTotal: 100 });
    for (const s of [0, 1, 2]) rig.seq.live(s, live(1));
    // Every symbol loses id 2; 3..400 stream while REST is held.
    let peakHeld = 0;
    let peakSlots = 0;
    for (const a of range(3, 400)) {
      for (const s of [0, 1, 2]) rig.seq.live(s, live(a));
      peakHeld = Math.max(peakHeld, rig.seq.heldCount(0) + rig.seq.heldCount(1) + rig.seq.heldCount(2));
      peakSlots = Math.max(peakSlots, (rig.seq as Partial<SymbolSequencer>).heldBudget?.allocated ?? 0);
    }
    expect(peakHeld).toBeLessThanOrEqual(100);
    // The bound is on memory: slots allocated, not only trades held.
    expect(peakSlots).toBeLessThanOrEqual(100);
    expect(rig.seq.counters.heldRefused).toBeGreaterThan(0);
    for (const s of [0, 1, 2]) expect(rig.seq.modeOf(s)).toBe(GAP);
    rest.release();
    await rig.settle();
    for (const s of [0, 1, 2]) {
      expect(rig.of(s)).toEqual(range(1, 400));
      expect(rig.seq.modeOf(s)).toBe(LIVE);
    }
    expect(rig.unfillables).toEqual([]);
    expect(rig.seq.heldTotal).toBe(0);
  });
});

describe('two feeds', () => {
  it('a hole the other feed fills within the grace needs no REST call', async () => {
    const rest = new FakeRest();
    const rig = new Rig(rest, { gapGraceMs: 1000 });
    let now = 1_000_000;
    // Feed A is faster; it was cut and missed 6 and 7; after its reconnect it delivers 8 before feed B has 6.
    for (const a of range(1, 5)) rig.seq.live(0, live(a), now);
    rig.seq.live(0, live(8), now);
    rig.seq.live(0, live(9), now);
    expect(rig.seq.modeOf(0)).toBe(GAP);
    now += 20;
    for (const a of range(6, 9)) rig.seq.live(0, live(a), now);
    rig.seq.tick(now + 5000);
    await rig.settle();
    expect(rest.calls).toEqual([]);
    expect(rig.of(0)).toEqual(range(1, 9));
    expect(rig.seq.modeOf(0)).toBe(LIVE);
    expect(rig.seq.counters).toMatchObject({ gapsFilledLive: 1, duplicates: 2 });
  });

  it('a hole neither feed fills is backfilled once the grace is over', async () => {
    const rest = new FakeRest();
    rest.last = 9;
    const rig = new Rig(rest, { gapGraceMs: 1000 });
    const now = 1_000_000;
    for (const a of [1, 2, 3, 5, 6]) rig.seq.live(0, live(a), now);
    rig.seq.tick(now + 999);
    await rig.settle();
    expect(rest.calls).toEqual([]);
    rig.seq.tick(now + 1000);
    await rig.settle();
    expect(rest.calls.map((c) => c.fromId)).toEqual([4]);
    expect(rig.of(0)).toEqual(range(1, 9));
  });

  it('a symbol whose connection broke while it backfilled is watched when the gap is filled', async () => {
    const rest = new FakeRest();
    rest.last = 7;
    rest.hold = true;
    const rig = new Rig(rest);
    for (const a of [1, 2, 4]) rig.seq.live(0, live(a));
    rig.seq.connectionLost([0], T0 + 40);
    rest.release();
    await rig.settle();
    expect(rig.of(0)).toEqual(range(1, 7));
    expect(rig.seq.modeOf(0)).toBe(WATCH);
  });
});
