import type { Kline } from '../../src/codec/records';
import { KlineStore } from '../../src/web/kline-store';

const k = (symbol: string, interval: string, i: number, version: number, isFinal = false): Kline => ({
  symbol, interval, openTime: i * 60_000, closeTime: (i + 1) * 60_000 - 1, open: 1, high: 2, low: 0.5, close: 1.5, volume: version,
  quoteVolume: 1, tradeCount: version, takerBuyVolume: 0, takerBuyQuoteVolume: 0, firstTradeId: 1, lastTradeId: 2, isFinal, version,
});

describe('KlineStore', () => {
  it('keeps the latest version per open time, sorted, bounded per series', () => {
    const s = new KlineStore(3);
    expect(s.upsert(k('BTCUSDT', '1m', 2, 1))).toBe(true);
    expect(s.upsert(k('BTCUSDT', '1m', 2, 1))).toBe(false);
    expect(s.upsert(k('BTCUSDT', '1m', 2, 3, true))).toBe(true);
    expect(s.upsert(k('BTCUSDT', '1m', 2, 2))).toBe(false);
    s.upsert(k('BTCUSDT', '1m', 0, 1));
    s.upsert(k('BTCUSDT', '1m', 4, 1));
    s.upsert(k('BTCUSDT', '1m', 3, 1));
    expect(s.history('BTCUSDT', '1m').map((x) => [x.openTime / 60_000, x.version])).toEqual([[2, 3], [3, 1], [4, 1]]);
    expect(s.upsert(k('BTCUSDT', '1m', 1, 1))).toBe(false);
  });

  it('lists symbols and their intervals in the configured order, and tells when the list changed', () => {
    const s = new KlineStore();
    s.upsert(k('ETHUSDT', '5m', 0, 1));
    s.upsert(k('ETHUSDT', '1m', 0, 1));
    s.upsert(k('BTCUSDT', '1h', 0, 1));
    expect(s.takeListChanged()).toBe(true);
    expect(s.takeListChanged()).toBe(false);
    expect(s.list(['1m', '5m', '1h'])).toEqual([{ symbol: 'BTCUSDT', intervals: ['1h'] }, { symbol: 'ETHUSDT', intervals: ['1m', '5m'] }]);
  });
});
