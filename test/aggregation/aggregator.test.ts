import { APPLIED, DUPLICATE, INVALID, KlineAggregator, LATE, NEEDS_FLUSH } from '../../src/aggregation/aggregator';
import { KlineBatch, batchRecord } from '../../src/aggregation/kline-batch';
import { TradeColumns } from '../../src/aggregation/trade-columns';
import { Harness, trade } from '../support/aggregation-harness';

const T0 = Date.parse('2024-07-15T00:00:00Z'); // a Monday
const MIN = 60_000;

describe('KlineAggregator', () => {
  it('builds a 1m kline with the exchange semantics (open/close by arrival, taker buy, trade count)', () => {
    const h = new Harness({ intervals: ['1m'] });
    h.trade(trade(0, T0 + 1000, 100, 2, true, 3));
    h.trade(trade(0, T0 + 2000, 105, 1, false));
    h.trade(trade(0, T0 + 3000, 99, 4, false, 2));
    h.trade(trade(0, T0 + MIN + 1, 101, 1, true)); // closes the first minute
    h.drain();
    const [k] = h.finals('1m');
    expect(k).toMatchObject({
      openTime: T0, closeTime: T0 + MIN - 1, open: 100, high: 105, low: 99, close: 99,
      volume: 7, quoteVolume: 200 + 105 + 396, tradeCount: 6, takerBuyVolume: 5, takerBuyQuoteVolume: 105 + 396,
      isFinal: true, version: 7,
    });
    expect(k!.lastTradeId - k!.firstTradeId).toBeGreaterThan(0);
  });

  it('emits empty klines at the previous close for minutes without trades, and coarser klines open at their first trade', () => {
    const h = new Harness({ intervals: ['1m', '5m'] });
    h.trade(trade(0, T0 + 10, 100));
    h.trade(trade(0, T0 + 3 * MIN + 10, 110)); // minutes 1 and 2 are empty
    h.trade(trade(0, T0 + 7 * MIN + 10, 120)); // closes 5m #0, minutes 4..6 empty
    h.drain();
    const m1 = h.finals('1m');
    expect(m1.map((k) => (k.openTime - T0) / MIN)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    for (const k of [m1[1]!, m1[2]!]) {
      expect(k).toMatchObject({ open: 100, high: 100, low: 100, close: 100, volume: 0, tradeCount: 0, firstTradeId: -1, lastTradeId: -1, version: 1 });
    }
    expect(m1[4]).toMatchObject({ open: 110, close: 110, volume: 0 });
    const m5 = h.finals('5m');
    expect(m5).toHaveLength(1);
    expect(m5[0]).toMatchObject({ openTime: T0, open: 100, high: 110, low: 100, close: 110, tradeCount: 2 });
    // The live 5m kline that holds minute 7 opens at its own first trade, not at the previous close.
    const live5 = h.published.filter((k) => k.interval === '5m' && !k.isFinal).pop();
    expect(live5).toMatchObject({ openTime: T0 + 5 * MIN, open: 120, tradeCount: 1, version: 1 });
  });

  it('ignores and counts duplicates (aggregate id not above the last)', () => {
    const agg = new KlineAggregator({ intervals: ['1m'] });
    expect(agg.ingest(0, 10, 10, 10, 1, 1, T0, false)).toBe(APPLIED);
    expect(agg.ingest(0, 10, 10, 10, 1, 1, T0, false)).toBe(DUPLICATE);
    expect(agg.ingest(0, 9, 9, 9, 1, 1, T0, false)).toBe(DUPLICATE);
    expect(agg.ingest(1, 9, 9, 9, 1, 1, T0, false)).toBe(APPLIED); // ids are per symbol
    expect(agg.counters.duplicates).toBe(2);
  });

  it('rejects invalid trades without touching state', () => {
    const agg = new KlineAggregator({ intervals: ['1m'], maxSymbols: 100 });
    expect(agg.ingest(-1, 1, 1, 1, 1, 1, T0, false)).toBe(INVALID);
    expect(agg.ingest(100, 1, 1, 1, 1, 1, T0, false)).toBe(INVALID);
    expect(agg.ingest(0.5, 1, 1, 1, 1, 1, T0, false)).toBe(INVALID);
    expect(agg.ingest(0, 1, 1, 1, Number.NaN, 1, T0, false)).toBe(INVALID);
    expect(agg.ingest(0, 1, 1, 1, 1, 0, T0, false)).toBe(INVALID);
    expect(agg.ingest(0, 1, 5, 4, 1, 1, T0, false)).toBe(INVALID);
    expect(agg.ingest(0, 1, 1, 1, 1, 1, Number.NaN, false)).toBe(INVALID);
    expect(agg.counters.invalidTrades).toBe(7);
    expect(agg.hasPending).toBe(false);
  });

  it('closes idle symbols by watermark minus grace, never by wall clock, and treats later trades for closed minutes as late', () => {
    const h = new Harness({ intervals: ['1m'], graceMs: 2000 });
    h.trade(trade(0, T0 + 5000, 100));
    h.watermark(T0 + MIN + 1000); // until = T0 + 59s: the minute is not over
    h.drain();
    expect(h.finals()).toHaveLength(0);
    h.watermark(T0 + MIN + 2001); // until = T0 + 60.001s > closeTime
    h.drain();
    expect(h.finals()).toHaveLength(1);
    expect(h.trade(trade(0, T0 + 59_000, 101))).toBe(LATE);
    expect(h.agg.counters.lateTrades).toBe(1);
    expect(h.trade(trade(0, T0 + MIN + 5, 102))).toBe(APPLIED);
    h.drain();
    expect(h.finals()).toHaveLength(1); // the late trade changed nothing that was final
    expect(h.finals()[0]!.close).toBe(100);
  });

  it('closes every interval in one roll: a trade after a month-long gap emits each final once, gaps as empty klines', () => {
    const all = ['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '1w', '1M'] as const;
    const h = new Harness({ intervals: all, finalQueueCapacity: 128 }, 1000);
    const start = Date.parse('2024-01-31T23:59:30Z');
    h.trade(trade(0, start, 100));
    const later = Date.parse('2024-03-01T00:00:10Z'); // leap February in between
    h.trade(trade(0, later, 200));
    h.drain();
    const count = (iv: string) => h.finals(iv).length;
    const minutes = (later - 10_000 - start + 30_000) / 60_000;
    expect(count('1m')).toBe(minutes);
    expect(count('1d')).toBe(30); // Jan 31 + 29 days of February
    expect(count('1M')).toBe(2);
    expect(h.finals('1M').map((k) => new Date(k.openTime).toISOString())).toEqual(['2024-01-01T00:00:00.000Z', '2024-02-01T00:00:00.000Z']);
    expect(h.finals('1M')[1]).toMatchObject({ open: 100, close: 100, tradeCount: 0, closeTime: Date.parse('2024-03-01T00:00:00Z') - 1 });
    expect(h.finals('1w').every((k) => new Date(k.openTime).getUTCDay() === 1)).toBe(true);
    // Every (interval, openTime) exactly once, consecutive.
    for (const iv of all) {
      const finals = h.finals(iv);
      const opens = finals.map((k) => k.openTime);
      expect(new Set(opens).size).toBe(opens.length);
      const gaps = finals.slice(1).filter((k, i) => k.openTime !== finals[i]!.closeTime + 1);
      expect(gaps).toEqual([]);
    }
  });

  it('reports NEEDS_FLUSH instead of overflowing the bounded final queue, and changes nothing until flushed', () => {
    const agg = new KlineAggregator({ intervals: ['1m', '5m', '1h'], finalQueueCapacity: 64 });
    let time = T0;
    let id = 1;
    let result = APPLIED as number;
    // Each trade two minutes later closes a 1m kline and queues an empty one.
    for (let i = 0; i < 100 && result !== NEEDS_FLUSH; i++) {
      result = agg.ingest(0, id, id, id, 1, 1, time, false);
      id++;
      time += 2 * MIN;
    }
    expect(result).toBe(NEEDS_FLUSH);
    expect(agg.queue.size).toBeLessThanOrEqual(64);
    const before = agg.lastAggregateId(0);
    expect(agg.ingest(0, id, id, id, 1, 1, time, false)).toBe(NEEDS_FLUSH);
    expect(agg.lastAggregateId(0)).toBe(before);
    const batch = new KlineBatch(1024);
    agg.flush(batch);
    agg.confirm();
    expect(agg.ingest(0, id, id, id, 1, 1, time, false)).toBe(APPLIED);
  });

  it('grows beyond its initial symbol capacity without losing state', () => {
    const h = new Harness({ intervals: ['1m'], initialSymbols: 16 });
    h.trade(trade(3, T0, 10));
    h.trade(trade(5000, T0, 20));
    expect(h.agg.symbolCapacity).toBeGreaterThan(5000);
    h.trade(trade(3, T0 + MIN, 11));
    h.trade(trade(5000, T0 + MIN, 21));
    h.drain();
    expect(h.finals().map((k) => [k.symbolIndex, k.close])).toEqual([[3, 10], [5000, 20]]);
  });

  it('flush costs O(changed): only dirty symbols are emitted', () => {
    const h = new Harness({ intervals: ['1m', '1h'], initialSymbols: 4096 });
    for (let s = 0; s < 4000; s++) h.trade(trade(s, T0, 1));
    h.drain();
    h.trade(trade(7, T0 + 1, 2));
    const records = h.flushOnce();
    expect(records.map((r) => [r.symbolIndex, r.interval])).toEqual([[7, '1m'], [7, '1h']]);
  });

  it('refuses a second flush while a batch is checked out, and confirm/giveBack without one', () => {
    const agg = new KlineAggregator({ intervals: ['1m'] });
    const batch = new KlineBatch(16);
    expect(() => agg.confirm()).toThrow(/without a checked-out batch/);
    agg.flush(batch);
    expect(() => agg.flush(batch)).toThrow(/checked out/);
    agg.giveBack();
    expect(() => agg.giveBack()).toThrow(/without a checked-out batch/);
  });

  it('snapshot and restore reproduce state: a restored aggregator continues identically', () => {
    const make = () => new Harness({ intervals: ['1m', '5m', '1d'] });
    const a = make();
    const trades = [trade(2, T0 + 1, 10, 1, false, 2), trade(2, T0 + MIN + 1, 12, 3, true), trade(9, T0 + 2, 7)];
    trades.forEach((t) => a.trade(t));
    a.agg.flush(a.batch); // snapshots are taken while the batch is checked out
    const snap = new Float64Array(a.agg.symbolStateLength * 2);
    a.agg.snapshotSymbol(2, snap, 0);
    a.agg.snapshotSymbol(9, snap, a.agg.symbolStateLength);
    a.agg.confirm();

    const b = make();
    expect(b.agg.stateSignature).toBe(a.agg.stateSignature);
    b.agg.restoreSymbol(2, snap, 0);
    b.agg.restoreSymbol(9, snap, b.agg.symbolStateLength);
    expect(b.agg.lastAggregateId(2)).toBe(a.agg.lastAggregateId(2));
    const next = [trade(2, T0 + 6 * MIN, 13), trade(9, T0 + 6 * MIN, 8)];
    a.published.length = 0;
    for (const t of next) { a.trade(t); b.trade(t); }
    a.drain();
    b.drain();
    expect(b.published).toEqual(a.published);
    expect(b.trade(trades[1]!)).toBe(DUPLICATE);
  });

  it('rejects a restore of the wrong size or symbol', () => {
    const agg = new KlineAggregator({ intervals: ['1m'], maxSymbols: 10 });
    expect(() => agg.restoreSymbol(0, new Float64Array(3))).toThrow(/expected/);
    expect(() => agg.restoreSymbol(10, new Float64Array(agg.symbolStateLength))).toThrow(/outside/);
  });

  it('publishes 1m-derived intervals even when 1m itself is not configured', () => {
    const h = new Harness({ intervals: ['5m'] });
    h.trade(trade(0, T0, 1));
    h.trade(trade(0, T0 + 5 * MIN, 2));
    h.drain();
    expect(new Set(h.published.map((k) => k.interval))).toEqual(new Set(['5m']));
    expect(h.finals('5m')).toHaveLength(1);
  });

  it('hands records out as numbers only; batchRecord maps the interval id back to its name', () => {
    const agg = new KlineAggregator({ intervals: ['1w'] });
    agg.ingest(0, 1, 1, 1, 1, 1, T0, false);
    const batch = new KlineBatch(16);
    expect(agg.flush(batch)).toBe(1);
    expect(batchRecord(batch, 0).interval).toBe('1w');
  });

  it('ingestColumns reports each trade\'s result and resumes after NEEDS_FLUSH at the returned index', () => {
    const agg = new KlineAggregator({ intervals: ['1m'], finalQueueCapacity: 64 });
    const cols = new TradeColumns(100);
    cols.push(0, 1, 1, 1, 10, 1, T0, false);
    cols.push(0, 1, 1, 1, 10, 1, T0, false); // duplicate
    cols.push(0, 2, 2, 2, -1, 1, T0, false); // invalid price
    for (let k = 0; k < 60; k++) cols.push(0, 10 + k, 10 + k, 10 + k, 10, 1, T0 + (k + 1) * 2 * MIN, false); // each closes a minute and a gap
    const stopped = agg.ingestColumns(cols, 0);
    expect(Array.from(cols.result.subarray(0, 3))).toEqual([APPLIED, DUPLICATE, INVALID]);
    expect(stopped).toBeLessThan(cols.length);
    expect(cols.result[stopped]).toBe(NEEDS_FLUSH);
    const batch = new KlineBatch(4096);
    let next = stopped;
    let finals = 0;
    const drain = () => {
      agg.flush(batch);
      for (let i = 0; i < batch.length; i++) finals += batch.isFinal[i]!;
      agg.confirm();
    };
    while (next < cols.length) {
      drain();
      next = agg.ingestColumns(cols, next);
    }
    drain();
    expect(Array.from(cols.result.subarray(3, cols.length)).every((r) => r === APPLIED)).toBe(true);
    expect(finals).toBe(2 * 60); // one kline with trades and one empty minute per trade
  });
});
