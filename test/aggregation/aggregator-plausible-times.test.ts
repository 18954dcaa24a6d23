/**
 * The aggregator refuses times that cannot be real in milliseconds (docs/times.md): a trade time or a
 * watermark in microseconds would otherwise roll a symbol to the year 55,000 one empty kline at a time.
 */
import { APPLIED, INVALID, KlineAggregator, NEEDS_FLUSH } from '../../src/aggregation/aggregator';
import { KlineBatch } from '../../src/aggregation/kline-batch';

const T0 = Date.parse('2024-07-15T00:00:00Z');
const MIN = 60_000;

function drain(agg: KlineAggregator): number {
  const batch = new KlineBatch(4096);
  let finals = 0;
  do {
    agg.flush(batch);
    for (let i = 0; i < batch.length; i++) if (batch.isFinal[i] === 1) finals++;
    agg.confirm();
  } while (agg.hasPending);
  return finals;
}

describe('KlineAggregator: plausible times', () => {
  it('refuses a trade time in microseconds (INVALID, nothing changes) and goes on with the next real one', () => {
    const agg = new KlineAggregator({ intervals: ['1m'] });
    expect(agg.ingest(0, 1, 1, 1, 100, 1, T0 + 10, false)).toBe(APPLIED);
    expect(agg.ingest(0, 2, 2, 2, 101, 1, (T0 + 20) * 1000, false)).toBe(INVALID);
    expect(agg.ingest(0, 3, 3, 3, 102, 1, T0 + MIN + 5, false)).toBe(APPLIED);
    expect(agg.counters).toMatchObject({ invalidTrades: 1, lateTrades: 0, tradesApplied: 2 });
    // One final: the first minute; no run of empty klines.
    expect(drain(agg)).toBe(1);
  });

  it('refuses a watermark in microseconds and one before the window, every time it is asked', () => {
    const agg = new KlineAggregator({ intervals: ['1m', '1h'], graceMs: 0 });
    agg.ingest(0, 1, 1, 1, 100, 1, T0 + 10, false);
    expect(agg.advanceWatermark(T0 * 1000)).toBe(INVALID);
    expect(agg.advanceWatermark(T0 * 1000, 0)).toBe(INVALID);
    expect(agg.advanceWatermark(1000)).toBe(INVALID);
    expect(agg.counters.invalidWatermarks).toBe(3);
    expect(drain(agg)).toBe(0);
    // A real one still closes what it should.
    let r = agg.advanceWatermark(T0 + 3 * MIN);
    while (r === NEEDS_FLUSH) r = (drain(agg), agg.advanceWatermark(T0 + 3 * MIN));
    expect(r).toBe(APPLIED);
    expect(drain(agg)).toBe(3);
  });

  it('takes its window from the options', () => {
    const agg = new KlineAggregator({ intervals: ['1m'], timeFromMs: T0, timeToMs: T0 + 10 * MIN });
    expect(agg.ingest(0, 1, 1, 1, 100, 1, T0 - 1, false)).toBe(INVALID);
    expect(agg.ingest(0, 2, 2, 2, 100, 1, T0, false)).toBe(APPLIED);
    expect(agg.ingest(0, 3, 3, 3, 100, 1, T0 + 10 * MIN, false)).toBe(INVALID);
    expect(agg.advanceWatermark(T0 + 10 * MIN)).toBe(INVALID);
    expect(() => new KlineAggregator({ intervals: ['1m'], timeFromMs: T0, timeToMs: T0 })).toThrow(/timeFromMs/);
  });
});
