/**
 * The baseline the benchmark measures against: what a first version usually looks like. A Map from a
 * "symbol|interval" string to a kline object, every interval updated per trade, a new object per kline.
 * Same semantics as far as the benchmark exercises them (no empty klines, no watermarks).
 */
import { INTERVAL_NAMES, intervalRule, type IntervalRule } from '../../src/aggregation/intervals';

interface NaiveKline {
  symbol: string;
  interval: string;
  openTime: number;
  closeTime: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  quoteVolume: number;
  takerBuyVolume: number;
  takerBuyQuoteVolume: number;
  tradeCount: number;
  firstTradeId: number;
  lastTradeId: number;
}

export class NaiveAggregator {
  private readonly klines = new Map<string, NaiveKline>();
  private readonly rules: IntervalRule[] = INTERVAL_NAMES.map(intervalRule);
  readonly finals: NaiveKline[] = [];
  private readonly dirty = new Set<string>();

  ingest(symbol: string, firstId: number, lastId: number, price: number, qty: number, time: number, maker: boolean): void {
    for (const rule of this.rules) {
      const key = `${symbol}|${rule.name}`;
      let k = this.klines.get(key);
      if (k && time > k.closeTime) {
        this.finals.push(k);
        k = undefined;
      }
      if (!k) {
        const openTime = rule.openTime(time);
        k = {
          symbol, interval: rule.name, openTime, closeTime: rule.nextOpen(openTime) - 1, open: price, high: price, low: price, close: price,
          volume: 0, quoteVolume: 0, takerBuyVolume: 0, takerBuyQuoteVolume: 0, tradeCount: 0, firstTradeId: firstId, lastTradeId: lastId,
        };
        this.klines.set(key, k);
      }
      k.high = Math.max(k.high, price);
      k.low = Math.min(k.low, price);
      k.close = price;
      k.volume += qty;
      k.quoteVolume += price * qty;
      if (!maker) {
        k.takerBuyVolume += qty;
        k.takerBuyQuoteVolume += price * qty;
      }
      k.tradeCount += lastId - firstId + 1;
      k.lastTradeId = lastId;
      this.dirty.add(key);
    }
  }

  flush(): NaiveKline[] {
    const out = [...this.finals, ...[...this.dirty].map((key) => ({ ...this.klines.get(key)! }))];
    this.finals.length = 0;
    this.dirty.clear();
    return out;
  }
}
