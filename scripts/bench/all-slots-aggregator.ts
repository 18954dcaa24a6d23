/**
 * The second baseline: the plain struct-of-arrays loop, one slot per (symbol, interval), every one of the
 * 14 slots of the symbol updated per trade. No strings, Maps or objects, so it shows what the typed layout
 * alone buys, and the gap to KlineAggregator shows what updating only the 1m base (and rolling the coarser
 * intervals up from it) buys on top. Same semantics as the naive baseline: no empty klines, no watermarks.
 */
import { INTERVAL_NAMES, intervalRule } from '../../src/aggregation/intervals';

const K = INTERVAL_NAMES.length;
const RULES = INTERVAL_NAMES.map(intervalRule);

export class AllSlotsAggregator {
  private readonly openTime: Float64Array;
  private readonly closeTime: Float64Array;
  private readonly open: Float64Array;
  private readonly high: Float64Array;
  private readonly low: Float64Array;
  private readonly close: Float64Array;
  private readonly volume: Float64Array;
  private readonly quote: Float64Array;
  private readonly takerVolume: Float64Array;
  private readonly takerQuote: Float64Array;
  private readonly count: Float64Array;
  /** Klines closed so far (the baseline only counts them; publishing is not what it measures). */
  finals = 0;

  constructor(symbols: number) {
    const n = symbols * K;
    this.openTime = new Float64Array(n);
    this.closeTime = new Float64Array(n).fill(-1);
    this.open = new Float64Array(n);
    this.high = new Float64Array(n);
    this.low = new Float64Array(n);
    this.close = new Float64Array(n);
    this.volume = new Float64Array(n);
    this.quote = new Float64Array(n);
    this.takerVolume = new Float64Array(n);
    this.takerQuote = new Float64Array(n);
    this.count = new Float64Array(n);
  }

  ingest(symbols: Int32Array, first: Float64Array, last: Float64Array, prices: Float64Array, qtys: Float64Array, times: Float64Array, makers: Uint8Array, from: number, to: number): void {
    for (let t = from; t < to; t++) {
      const price = prices[t]!;
      const qty = qtys[t]!;
      const time = times[t]!;
      const trades = last[t]! - first[t]! + 1;
      const taker = makers[t] === 0;
      const b = symbols[t]! * K;
      for (let i = 0; i < K; i++) {
        const slot = b + i;
        if (time > this.closeTime[slot]!) {
          if (this.closeTime[slot]! >= 0) this.finals++;
          const rule = RULES[i]!;
          const open = rule.openTime(time);
          this.openTime[slot] = open;
          this.closeTime[slot] = rule.nextOpen(open) - 1;
          this.open[slot] = price;
          this.high[slot] = price;
          this.low[slot] = price;
          this.volume[slot] = 0;
          this.quote[slot] = 0;
          this.takerVolume[slot] = 0;
          this.takerQuote[slot] = 0;
          this.count[slot] = 0;
        }
        if (price > this.high[slot]!) this.high[slot] = price;
        if (price < this.low[slot]!) this.low[slot] = price;
        this.close[slot] = price;
        this.volume[slot] += qty;
        this.quote[slot] += price * qty;
        if (taker) {
          this.takerVolume[slot] += qty;
          this.takerQuote[slot] += price * qty;
        }
        this.count[slot] += trades;
      }
    }
  }
}
