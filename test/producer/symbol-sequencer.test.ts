/**
 * The sequencer against the simplest reference there is: the exchange's own list of trades. Whatever the live
 * stream does (drops, duplicates, reorders by overlap, reconnects) and however REST lags, what is released is
 * exactly the exchange's trades, in id order, each once; no trade is invented.
 */
import fc from 'fast-check';
import { createAggTradeRecord, type AggTradeRecord } from '../../src/exchange/aggtrade-frame';
import type { RestAggTrade } from '../../src/exchange/binance-rest';
import { DEFERRED, GAP, LIVE, SymbolSequencer, WATCH, type SequencerSink } from '../../src/producer/symbol-sequencer';

const T0 = Date.parse('2026-01-05T00:00:00Z');

function truthOf(ids: number[]): RestAggTrade[] {
  return ids.map((a, i) => ({ aggId: a, firstTradeId: a * 3, lastTradeId: a * 3 + 2, price: 100 + i, quantity: 1 + (i % 7), tradeTime: T0 + i * 10, isBuyerMaker: i % 2 === 0 }));
}

function rec(t: RestAggTrade): AggTradeRecord {
  const r = createAggTradeRecord();
  Object.assign(r, { symbol: 'BTCUSDT', aggId: t.aggId, firstTradeId: t.firstTradeId, lastTradeId: t.lastTradeId, price: t.price, quantity: t.quantity, tradeTime: t.tradeTime, eventTime: t.tradeTime + 1, isBuyerMaker: t.isBuyerMaker });
  return r;
}

/** A sink that records releases and queues backfill requests, answered by a REST model over `truth`. */
class Harness implements SequencerSink {
  released: number[] = [];
  requests: Array<{ symbol: number; fromId: number }> = [];
  unfillables: Array<[number, number]> = [];
  /** How many of the truth's trades REST knows (it may lag the stream). */
  restKnows = Infinity;
  readonly seq: SymbolSequencer;

  constructor(readonly truth: RestAggTrade[], options = {}) {
    this.seq = new SymbolSequencer(this, options);
  }

  release(_symbol: number, r: AggTradeRecord): boolean {
    this.released.push(r.aggId);
    return true;
  }

  backfill(symbol: number, fromId: number): void {
    this.requests.push({ symbol, fromId });
  }

  unfillable(_symbol: number, fromId: number, toId: number): void {
    this.unfillables.push([fromId, toId]);
  }

  /** Answers the pending REST requests (pages of `limit`), `rounds` times (a new request waits for the next round). */
  answer(limit = 3, rounds = 100): void {
    for (let round = 0; round < rounds && this.requests.length > 0; round++) this.answerRound(limit);
  }

  private answerRound(limit: number): void {
    for (const { symbol, fromId } of this.requests.splice(0)) {
      const known = this.truth.slice(0, Math.min(this.truth.length, this.restKnows));
      this.seq.backfillPage(symbol, fromId, known.filter((t) => t.aggId >= fromId).slice(0, limit), limit);
    }
  }
}

describe('SymbolSequencer', () => {
  it('releases a contiguous stream as it comes and drops duplicates', () => {
    const truth = truthOf([5, 6, 7, 8]);
    const h = new Harness(truth);
    for (const t of [truth[0]!, truth[1]!, truth[1]!, truth[0]!, truth[2]!, truth[3]!]) h.seq.live(0, rec(t));
    expect(h.released).toEqual([5, 6, 7, 8]);
    expect(h.seq.counters.duplicates).toBe(2);
    expect(h.requests).toEqual([]);
  });

  it('fills a jump from REST, holding the live trades meanwhile and holding the watermark at the last trade', () => {
    const truth = truthOf([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const h = new Harness(truth);
    h.seq.live(0, rec(truth[0]!));
    h.seq.live(0, rec(truth[4]!)); // 2..4 never arrived
    h.seq.live(0, rec(truth[5]!));
    expect(h.seq.modeOf(0)).toBe(GAP);
    expect(h.seq.holdTime(0)).toBe(truth[0]!.tradeTime);
    expect(h.requests).toEqual([{ symbol: 0, fromId: 2 }]);
    h.answer(2); // pages of 2: 2,3 then 4,5 (5 is held: caught up)
    expect(h.released).toEqual([1, 2, 3, 4, 5, 6]);
    expect(h.seq.modeOf(0)).toBe(LIVE);
    expect(Number.isNaN(h.seq.holdTime(0))).toBe(true);
    expect(h.seq.counters).toMatchObject({ gapsFound: 1, gapsFilled: 1, releasedFromRest: 3 });
  });

  it('takes ids that REST skips as non-existent, not as a gap', () => {
    const truth = truthOf([10, 11, 14, 15]); // 12, 13 are not market trades: the exchange has no aggregate for them
    const h = new Harness(truth);
    h.seq.live(0, rec(truth[0]!));
    h.seq.live(0, rec(truth[1]!));
    h.seq.live(0, rec(truth[3]!)); // 14 was lost on the wire
    h.answer();
    expect(h.released).toEqual([10, 11, 14, 15]);
    expect(h.unfillables).toEqual([]);
  });

  it('after a restart watches the stream: a contiguous first trade needs no REST, a quiet symbol is checked', () => {
    const truth = truthOf([100, 101, 102]);
    const h = new Harness(truth);
    h.seq.resume(0, 99, T0 - 5);
    h.seq.resume(1, 41, T0 - 5);
    expect(h.seq.modeOf(0)).toBe(WATCH);
    h.seq.connectionOpened([0, 1], 1000);
    h.seq.live(0, rec(truth[0]!));
    expect(h.seq.modeOf(0)).toBe(LIVE);
    h.seq.tick(1000 + 2999);
    expect(h.requests).toEqual([]);
    h.seq.tick(1000 + 3000);
    expect(h.requests).toEqual([{ symbol: 1, fromId: 42 }]);
    h.requests.length = 0;
    h.seq.backfillPage(1, 42, [], 1000); // nothing new: symbol 1 was quiet, no gap
    expect(h.seq.modeOf(1)).toBe(LIVE);
    expect(h.released).toEqual([100]);
  });

  it('reports what REST never gets as unfillable, with the id range, and invents nothing', () => {
    const truth = truthOf([1, 2, 3, 4, 5, 6]);
    const h = new Harness(truth, { maxRestLagRetries: 2 });
    h.restKnows = 1; // REST only ever has trade 1
    h.seq.live(0, rec(truth[0]!));
    h.seq.live(0, rec(truth[4]!));
    h.answer();
    expect(h.unfillables).toEqual([[2, 4]]);
    expect(h.released).toEqual([1, 5]);
    expect(h.seq.modeOf(0)).toBe(LIVE);
  });

  it('a deferred symbol discards live trades and backfills everything from its last committed trade', () => {
    const truth = truthOf([1, 2, 3, 4, 5]);
    const h = new Harness(truth);
    h.seq.live(0, rec(truth[0]!));
    h.seq.live(0, rec(truth[1]!));
    h.released = []; // pretend the buffer with 1 and 2 was dropped; only 1 had committed
    h.seq.defer(0, 2, truth[0]!.tradeTime);
    h.seq.live(0, rec(truth[2]!));
    expect(h.seq.modeOf(0)).toBe(DEFERRED);
    expect(h.released).toEqual([]);
    expect(h.seq.resumeDeferred()).toBe(1);
    h.answer();
    expect(h.released).toEqual([2, 3, 4, 5]);
    expect(h.seq.modeOf(0)).toBe(LIVE);
  });

  it('property: any mix of drops, duplicates, reconnects and REST lag releases exactly the truth, in order, once', () => {
    const scenario = fc.record({
      // Aggregate ids with holes (ids the exchange never had).
      steps: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 120 }),
      events: fc.array(fc.record({
        kind: fc.constantFrom('drop', 'dup', 'ok', 'ok', 'ok', 'reconnect', 'answer', 'tick', 'restLag'),
        n: fc.nat(5),
      }), { maxLength: 400 }),
      page: fc.integer({ min: 1, max: 10 }),
    });
    fc.assert(fc.property(scenario, ({ steps, events, page }) => {
      let id = 0;
      const truth = truthOf(steps.map((s) => (id += s)));
      const h = new Harness(truth, { maxRestLagRetries: 1000 });
      // The symbol's first trade is seen live (before it, nothing is known of the symbol at all).
      h.seq.live(0, rec(truth[0]!));
      let sent = 1; // index of the next truth trade the stream would push
      let now = 0;
      for (const e of events) {
        now += 100;
        if (sent >= truth.length) break;
        switch (e.kind) {
          case 'drop':
            sent = Math.min(truth.length, sent + 1 + e.n);
            break;
          case 'dup':
            if (sent > 0) h.seq.live(0, rec(truth[Math.max(0, sent - 1 - e.n)]!));
            break;
          case 'ok':
            h.seq.live(0, rec(truth[sent++]!));
            break;
          case 'reconnect':
            h.seq.connectionLost([0], T0 + sent * 10);
            sent = Math.min(truth.length, sent + e.n);
            h.seq.connectionOpened([0], now);
            break;
          case 'answer':
            h.restKnows = sent; // REST knows what has happened so far
            h.answer(page);
            break;
          case 'restLag':
            h.restKnows = Math.max(0, sent - e.n);
            h.answer(page, 1 + e.n);
            break;
          case 'tick':
            h.seq.tick(now + 10_000);
            break;
        }
      }
      // The stream goes on without trouble and REST catches up: everything must come out.
      while (sent < truth.length) h.seq.live(0, rec(truth[sent++]!));
      // A trade lost on a live connection shows only at the symbol's next trade: let the stream end on one.
      h.seq.live(0, rec(truth[truth.length - 1]!));
      h.restKnows = Infinity;
      for (let i = 0; i < 50 && (h.requests.length > 0 || h.seq.modeOf(0) !== LIVE); i++) {
        h.seq.tick(now + 1e9);
        h.answer(page);
      }
      expect(h.unfillables).toEqual([]);
      expect(h.released).toEqual(truth.map((t) => t.aggId));
      expect(h.seq.modeOf(0)).toBe(LIVE);
    }), { numRuns: 400 });
  });
});
