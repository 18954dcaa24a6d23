/**
 * The producer's time rules at its edge (docs/times.md): unit, window, event skew, clock.
 */
import { createAggTradeRecord, type AggTradeRecord } from '../../src/exchange/aggtrade-frame';
import { TIME_AHEAD, TIME_OK, TIME_OUTSIDE, TIME_SKEW, TIME_UNIT, TradeTimeCheck, unitOf, usToMs, voteUnit, type TimeRules } from '../../src/exchange/trade-times';

const RULES: TimeRules = { fromMs: Date.UTC(2017, 0, 1), toMs: Date.UTC(2100, 0, 1), eventSkewMs: 60_000, clockAheadMs: 60_000 };
const T = 1_680_652_937_521;

function rec(tradeTime: number, eventTime: number): AggTradeRecord {
  return Object.assign(createAggTradeRecord(), { symbol: 'BTCUSDT', aggId: 1, firstTradeId: 1, lastTradeId: 1, price: 1, quantity: 1, tradeTime, eventTime });
}

describe('TradeTimeCheck', () => {
  it('live: accepts milliseconds, rejects microseconds with a reason naming the unit', () => {
    const c = new TradeTimeCheck(RULES, 'ms');
    expect(c.check(rec(T, T + 4), T + 100)).toBe(TIME_OK);
    expect(c.check(rec(T * 1000, (T + 4) * 1000), T + 100)).toBe(TIME_UNIT);
    expect(c.reason).toMatch(/trade time T 1680652937521000 is in microseconds, this source sends milliseconds/);
    // Only E in another unit is caught too.
    expect(c.check(rec(T, (T + 4) * 1000), T + 100)).toBe(TIME_UNIT);
    expect(c.reason).toMatch(/event time E/);
    expect(c.rejected[TIME_UNIT]).toBe(2);
  });

  it('rejects times plausible in no unit, far from the event time, and ahead of the local clock', () => {
    const c = new TradeTimeCheck(RULES, 'ms');
    expect(c.check(rec(12, 12), NaN)).toBe(TIME_OUTSIDE);
    expect(c.check(rec(Date.UTC(2100, 0, 1), Date.UTC(2100, 0, 1)), NaN)).toBe(TIME_OUTSIDE);
    expect(c.check(rec(T, T + 60_001), NaN)).toBe(TIME_SKEW);
    expect(c.check(rec(T + 60_001, T), NaN)).toBe(TIME_SKEW);
    expect(c.check(rec(T, T + 60_000), NaN)).toBe(TIME_OK);
    // Live: later than the wall clock plus the tolerance. A file (now = NaN) has no clock rule.
    expect(c.check(rec(T + 60_001, T + 60_001), T)).toBe(TIME_AHEAD);
    expect(c.check(rec(T + 60_000, T + 60_000), T)).toBe(TIME_OK);
    expect(c.check(rec(T + 10 * 86_400_000, T + 10 * 86_400_000), NaN)).toBe(TIME_OK);
  });

  it('a microsecond source is converted to ms exactly (floor), and a millisecond trade in it is rejected', () => {
    const c = new TradeTimeCheck(RULES, 'us');
    const r = rec(T * 1000 + 999, T * 1000 + 4_001);
    expect(c.check(r, NaN)).toBe(TIME_OK);
    expect([r.tradeTime, r.eventTime]).toEqual([T, T + 4]);
    expect(c.check(rec(T, T), NaN)).toBe(TIME_UNIT);
    expect(usToMs(9_007_199_254_740_991)).toBe(9_007_199_254_740);
  });

  it('checkConverted: an archive line written in another unit than the file is rejected', () => {
    const c = new TradeTimeCheck(RULES, 'ms');
    expect(c.checkConverted(rec(T, T), 'ms', NaN)).toBe(TIME_OK);
    expect(c.checkConverted(rec(T, T), 'us', NaN)).toBe(TIME_UNIT);
    expect(c.checkConverted(rec(1, 1), 'ms', NaN)).toBe(TIME_OUTSIDE);
  });

  it('checkTime (REST): window and clock', () => {
    const c = new TradeTimeCheck(RULES, 'ms');
    expect(c.checkTime(T, T)).toBe(TIME_OK);
    expect(c.checkTime(T * 1000, T)).toBe(TIME_UNIT);
    expect(c.checkTime(5, T)).toBe(TIME_OUTSIDE);
    expect(c.checkTime(T + 120_000, T)).toBe(TIME_AHEAD);
  });
});

describe('unit of a file', () => {
  it('the majority decides; one odd time, even the first, does not', () => {
    expect(unitOf(T, RULES)).toBe('ms');
    expect(unitOf(T * 1000, RULES)).toBe('us');
    expect(unitOf(3, RULES)).toBeUndefined();
    expect(voteUnit([T * 1000, T, T + 1, T + 2], RULES)).toBe('ms');
    expect(voteUnit([T, T * 1000, T * 1000 + 1, T * 1000 + 2], RULES)).toBe('us');
    expect(voteUnit([], RULES)).toBe('ms');
  });
});
