/**
 * Trades as columns (struct of arrays): how the workers hand a decoded Kafka batch to the aggregator.
 * Passing numbers through typed arrays instead of function arguments matters in V8: a double argument to a
 * call that is not inlined is boxed on the heap, which at millions of trades per second means a steady
 * stream of garbage collections. `result` receives each trade's IngestResult (APPLIED, DUPLICATE, LATE, ...)
 * so the caller can log the late ones with their Kafka coordinates.
 */
export class TradeColumns {
  readonly capacity: number;
  length = 0;
  readonly symbol: Int32Array;
  readonly aggId: Float64Array;
  readonly firstTradeId: Float64Array;
  readonly lastTradeId: Float64Array;
  readonly price: Float64Array;
  readonly quantity: Float64Array;
  readonly tradeTime: Float64Array;
  readonly isBuyerMaker: Uint8Array;
  readonly result: Uint8Array;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`TradeColumns capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.symbol = new Int32Array(capacity);
    this.aggId = new Float64Array(capacity);
    this.firstTradeId = new Float64Array(capacity);
    this.lastTradeId = new Float64Array(capacity);
    this.price = new Float64Array(capacity);
    this.quantity = new Float64Array(capacity);
    this.tradeTime = new Float64Array(capacity);
    this.isBuyerMaker = new Uint8Array(capacity);
    this.result = new Uint8Array(capacity);
  }

  get full(): boolean {
    return this.length >= this.capacity;
  }

  /** Appends one trade (convenience for tests and slow paths; decoders write the columns directly). */
  push(symbol: number, aggId: number, firstTradeId: number, lastTradeId: number, price: number, quantity: number, tradeTime: number, isBuyerMaker: boolean): void {
    if (this.length >= this.capacity) throw new RangeError(`TradeColumns is full (${this.capacity})`);
    const i = this.length++;
    this.symbol[i] = symbol;
    this.aggId[i] = aggId;
    this.firstTradeId[i] = firstTradeId;
    this.lastTradeId[i] = lastTradeId;
    this.price[i] = price;
    this.quantity[i] = quantity;
    this.tradeTime[i] = tradeTime;
    this.isBuyerMaker[i] = isBuyerMaker ? 1 : 0;
  }

  clear(): void {
    this.length = 0;
  }
}
