/**
 * The comparison of verify: fields at the exchange's printed precision (float noise is no mismatch, one step
 * is), integers exact, klines only one side has reported apart, and the report's exit rule and text.
 */
import type { Kline } from '../../src/codec/records';
import { atPrecision, compareKline, compareSeries, sameAtPrecision, type ExchangeKline } from '../../src/verify/compare-klines';
import { addSeries, allMatch, emptyReport, reportJson, reportLines } from '../../src/verify/verify-report';

const OPEN = 1721347080000;

function theirs(openTime = OPEN, over: Partial<ExchangeKline> = {}): ExchangeKline {
  return {
    openTime, closeTime: openTime + 59_999, open: '63952.70', high: '63952.70', low: '63945.20', close: '63947.90', volume: '33.530',
    quoteVolume: '2144203.87590', tradeCount: 367, takerBuyVolume: '6.155', takerBuyQuoteVolume: '393601.07330', ...over,
  };
}

function ours(openTime = OPEN, over: Partial<Kline> = {}): Kline {
  return {
    symbol: 'BTCUSDT', interval: '1m', openTime, closeTime: openTime + 59_999, open: 63952.7, high: 63952.7, low: 63945.2, close: 63947.9,
    // Sums of doubles as the aggregator makes them: off in the last binary digits.
    volume: 33.529999999999994, quoteVolume: 2144203.8759000003, tradeCount: 367, takerBuyVolume: 6.155000000000001, takerBuyQuoteVolume: 393601.0733,
    firstTradeId: 1, lastTradeId: 367, isFinal: true, version: 1, ...over,
  };
}

describe('printed precision', () => {
  it('rounds ours to the decimals of the exchange string', () => {
    expect(atPrecision(33.529999999999994, '33.530')).toBe('33.530');
    expect(sameAtPrecision(33.529999999999994, '33.530')).toBe(true);
    expect(sameAtPrecision(33.531, '33.530')).toBe(false);
    // Spot prints 8 decimals, an archive may print one: the same number either way.
    expect(sameAtPrecision(1482, '1482.0')).toBe(true);
    expect(sameAtPrecision(1482, '1482.00000000')).toBe(true);
    expect(sameAtPrecision(0.00141342, '0.00141342')).toBe(true);
  });
});

describe('compareKline', () => {
  it('float noise in every sum is a match', () => {
    expect(compareKline(ours(), theirs())).toEqual([]);
  });

  it('one trade more at the exchange: exactly count, volume and quote volume, with both values', () => {
    const diffs = compareKline(ours(), theirs(OPEN, { tradeCount: 368, volume: '33.531', quoteVolume: '2144267.82380' }));
    expect(diffs.map((d) => [d.field, d.ours, d.theirs])).toEqual([
      ['volume', '33.530', '33.531'],
      ['quoteVolume', '2144203.87590', '2144267.82380'],
      ['tradeCount', '367', '368'],
    ]);
    expect(diffs[0]).toMatchObject({ symbol: 'BTCUSDT', interval: '1m', openTime: OPEN, oursExact: '33.529999999999994' });
  });

  it('close time and prices are compared too', () => {
    expect(compareKline(ours(OPEN, { closeTime: OPEN + 60_000, low: 63945.1 }), theirs()).map((d) => d.field)).toEqual(['low', 'closeTime']);
  });
});

describe('compareSeries and the report', () => {
  it('reports klines only one side has apart from value mismatches', () => {
    const m = 60_000;
    const c = compareSeries(
      [ours(OPEN + m), ours(OPEN), ours(OPEN + 3 * m)],
      [theirs(OPEN), theirs(OPEN + m, { high: '63960.00' }), theirs(OPEN + 2 * m)],
    );
    expect(c.matched).toBe(1);
    expect(c.mismatchedKlines).toBe(1);
    expect(c.mismatches.map((d) => [d.openTime, d.field])).toEqual([[OPEN + m, 'high']]);
    expect(c.onlyExchange).toEqual([OPEN + 2 * m]);
    expect(c.onlyOurs).toEqual([OPEN + 3 * m]);

    const r = emptyReport(OPEN, OPEN + 10 * m);
    addSeries(r, 'BTCUSDT', '1m', c);
    expect(allMatch(r)).toBe(false);
    const lines = reportLines(r);
    expect(lines[0]).toBe(`mismatch BTCUSDT 1m 2024-07-18T23:59:00.000Z (${OPEN + m}) high: ours 63952.70 (exactly 63952.7), theirs 63960.00`);
    expect(lines[1]).toBe(`only-at-exchange BTCUSDT 1m 2024-07-19T00:00:00.000Z (${OPEN + 2 * m})`);
    expect(lines[2]).toBe(`only-ours BTCUSDT 1m 2024-07-19T00:01:00.000Z (${OPEN + 3 * m})`);
    expect(lines[3]).toMatch(/^verify: DIFFERENCES; 1 symbol\/interval series, 2 klines compared, 1 match, 1 mismatched \(1 fields\); 1 only at the exchange, 1 only ours/);
    expect(JSON.parse(reportJson(r))).toMatchObject({ ok: false, compared: 2, matched: 1, onlyExchange: [{ symbol: 'BTCUSDT', interval: '1m', openTime: OPEN + 2 * m }] });
  });

  it('all match: exit rule true and the summary says so', () => {
    const r = emptyReport(OPEN, OPEN + 60_000);
    addSeries(r, 'BTCUSDT', '1m', compareSeries([ours()], [theirs()]));
    expect(allMatch(r)).toBe(true);
    expect(reportLines(r)).toHaveLength(1);
    expect(reportLines(r)[0]).toMatch(/^verify: all match; 1 symbol\/interval series, 1 klines compared, 1 match/);
  });
});
