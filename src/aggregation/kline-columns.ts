/**
 * The value columns every kline buffer shares (the output batch, the final queue): one typed array per field.
 */
export class KlineColumns {
  readonly capacity: number;
  readonly openTime: Float64Array;
  readonly closeTime: Float64Array;
  readonly open: Float64Array;
  readonly high: Float64Array;
  readonly low: Float64Array;
  readonly close: Float64Array;
  readonly volume: Float64Array;
  readonly quoteVolume: Float64Array;
  readonly takerBuyVolume: Float64Array;
  readonly takerBuyQuoteVolume: Float64Array;
  readonly tradeCount: Float64Array;
  readonly firstTradeId: Float64Array;
  readonly lastTradeId: Float64Array;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.openTime = new Float64Array(capacity);
    this.closeTime = new Float64Array(capacity);
    this.open = new Float64Array(capacity);
    this.high = new Float64Array(capacity);
    this.low = new Float64Array(capacity);
    this.close = new Float64Array(capacity);
    this.volume = new Float64Array(capacity);
    this.quoteVolume = new Float64Array(capacity);
    this.takerBuyVolume = new Float64Array(capacity);
    this.takerBuyQuoteVolume = new Float64Array(capacity);
    this.tradeCount = new Float64Array(capacity);
    this.firstTradeId = new Float64Array(capacity);
    this.lastTradeId = new Float64Array(capacity);
  }
}
