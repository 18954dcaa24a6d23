/**
 * Symbol groups (a worker's input partitions): a group's watermark closes only its own symbols, and a
 * dropped symbol or group leaves nothing behind (no state, no queued finals, no changed flag).
 */
import fc from 'fast-check';
import { APPLIED, KlineAggregator, NEEDS_FLUSH } from '../../src/aggregation/aggregator';
import { KlineBatch, batchRecord, type KlineRecord } from '../../src/aggregation/kline-batch';

const T0 = Date.parse('2024-07-15T00:00:00Z');
const MIN = 60_000;

function drain(agg: KlineAggregator, batch = new KlineBatch(64)): KlineRecord[] {
  const out: KlineRecord[] = [];
  do {
    agg.flush(batch);
    for (let i = 0; i < batch.length; i++) out.push(batchRecord(batch, i));
    agg.confirm();
  } while (agg.hasPending);
  return out;
}

describe('KlineAggregator symbol groups', () => {
  it("closes only the watermark's group, and an ungrouped watermark closes all", () => {
    const agg = new KlineAggregator({ intervals: ['1m'], graceMs: 0 });
    agg.setSymbolGroup(0, 0);
    agg.setSymbolGroup(1, 1);
    agg.ingest(0, 1, 1, 1, 10, 1, T0 + 5, false);
    agg.ingest(1, 1, 1, 1, 20, 1, T0 + 5, false);
    drain(agg);
    expect(agg.advanceWatermark(T0 + 2 * MIN, 1)).toBe(APPLIED);
    const finals = drain(agg).filter((k) => k.isFinal);
    expect(finals.map((k) => [k.symbolIndex, (k.openTime - T0) / MIN])).toEqual([[1, 0], [1, 1]]); // minute 0 and the empty minute 1
    // Group 0 is untouched until its own watermark (or an ungrouped one) arrives.
    expect(agg.advanceWatermark(T0 + 2 * MIN, 0)).toBe(APPLIED);
    expect(drain(agg).filter((k) => k.isFinal).map((k) => k.symbolIndex)).toEqual([0, 0]);
  });

  it('a symbol grouped after its first trade is still closed by its group', () => {
    const agg = new KlineAggregator({ intervals: ['1m'], graceMs: 0 });
    agg.ingest(3, 1, 1, 1, 10, 1, T0 + 5, false);
    agg.setSymbolGroup(3, 2);
    agg.advanceWatermark(T0 + MIN + 1, 2);
    expect(drain(agg).filter((k) => k.isFinal)).toHaveLength(1);
  });

  it('dropSymbol forgets state, queued finals and the changed flag; the symbol starts afresh', () => {
    const agg = new KlineAggregator({ intervals: ['1m', '5m'], graceMs: 0 });
    agg.setSymbolGroup(0, 0);
    agg.setSymbolGroup(1, 0);
    agg.ingest(0, 5, 5, 5, 10, 1, T0 + 5, false);
    agg.ingest(1, 5, 5, 5, 20, 1, T0 + 5, false);
    agg.ingest(0, 6, 6, 6, 11, 1, T0 + MIN + 5, false); // queues symbol 0's first 1m final, marks it changed
    agg.dropSymbol(0);
    const out = drain(agg);
    expect(out.every((k) => k.symbolIndex === 1)).toBe(true);
    expect(agg.lastAggregateId(0)).toBe(-1);
    expect(agg.groupOf(0)).toBe(-1);
    expect([...agg.activeSymbols()]).toEqual([1]);
    // A trade with a lower id than before is not a duplicate any more: nothing of the old state is left.
    expect(agg.ingest(0, 1, 1, 1, 50, 2, T0 + 2 * MIN, false)).toBe(APPLIED);
    const live = drain(agg).filter((k) => k.symbolIndex === 0);
    expect(live.map((k) => [k.interval, k.open, k.volume, k.tradeCount])).toEqual([['1m', 50, 2, 1], ['5m', 50, 2, 1]]);
  });

  it('dropGroup drops exactly the symbols of the group', () => {
    const agg = new KlineAggregator({ intervals: ['1m'] });
    for (let s = 0; s < 6; s++) {
      agg.setSymbolGroup(s, s % 2);
      agg.ingest(s, 1, 1, 1, 10, 1, T0, false);
    }
    expect(agg.dropGroup(1)).toBe(3);
    expect([...agg.activeSymbols()].sort()).toEqual([0, 2, 4]);
    expect(drain(agg).map((k) => k.symbolIndex).sort()).toEqual([0, 2, 4]);
  });

  it('refuses to drop while a batch is checked out', () => {
    const agg = new KlineAggregator({ intervals: ['1m'] });
    agg.ingest(0, 1, 1, 1, 10, 1, T0, false);
    agg.flush(new KlineBatch(16));
    expect(() => agg.dropSymbol(0)).toThrow(/checked out/);
    agg.giveBack();
  });

  it('a grouped watermark that fills the queue resumes after a flush', () => {
    const agg = new KlineAggregator({ intervals: ['1m', '3m', '5m', '15m'], graceMs: 0, finalQueueCapacity: 64 });
    for (let s = 0; s < 40; s++) {
      agg.setSymbolGroup(s, 7);
      agg.ingest(s, 1, 1, 1, 10, 1, T0 + 5, false);
    }
    drain(agg);
    let needs = 0;
    const finals: KlineRecord[] = [];
    const batch = new KlineBatch(4096);
    while (agg.advanceWatermark(T0 + 3 * 3600_000, 7) === NEEDS_FLUSH) {
      needs++;
      agg.flush(batch);
      for (let i = 0; i < batch.length; i++) finals.push(batchRecord(batch, i));
      agg.confirm();
    }
    finals.push(...drain(agg));
    expect(needs).toBeGreaterThan(0);
    // Every symbol closed its first 1m kline exactly once.
    const first1m = finals.filter((k) => k.interval === '1m' && k.openTime === T0 && k.isFinal);
    expect(first1m.map((k) => k.symbolIndex).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
});

describe('live klines of coarser intervals', () => {
  it('one version has one value, whether or not a watermark has folded the last minute yet', () => {
    const trade = fc.record({ price: fc.integer({ min: 1, max: 9_999_999 }), qty: fc.integer({ min: 1, max: 99_999 }), maker: fc.boolean() });
    fc.assert(fc.property(fc.array(trade, { minLength: 1, maxLength: 30 }), fc.array(trade, { minLength: 1, maxLength: 30 }), (m0, m1) => {
      const live = (rollFirst: boolean): KlineRecord => {
        const agg = new KlineAggregator({ intervals: ['1m', '1h'], graceMs: 0 });
        let id = 1;
        const add = (t: { price: number; qty: number; maker: boolean }, time: number) =>
          agg.ingest(0, id, id, id++, t.price / 100, t.qty / 1000, time, t.maker);
        for (const t of m0) add(t, T0 + 1000);
        for (const t of m1) add(t, T0 + MIN + 1000);
        // The second minute is over: a watermark may fold it into the hour before the next flush, or not.
        if (rollFirst) agg.advanceWatermark(T0 + 2 * MIN + 1);
        return drain(agg).filter((k) => k.interval === '1h' && !k.isFinal).pop()!;
      };
      expect(live(true)).toEqual(live(false));
    }), { numRuns: 300 });
  });
});
