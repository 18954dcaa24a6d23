/**
 * Test support: drives a KlineAggregator like a worker would (flush, publish, confirm) and collects what
 * was "published", as plain records.
 */
import { APPLIED, KlineAggregator, NEEDS_FLUSH, type AggregatorOptions, type IngestResult } from '../../src/aggregation/aggregator';
import { KlineBatch, batchRecord, type KlineRecord } from '../../src/aggregation/kline-batch';

export interface Trade {
  symbol: number;
  aggId: number;
  firstId: number;
  lastId: number;
  price: number;
  qty: number;
  time: number;
  maker: boolean;
}

export class Harness {
  readonly agg: KlineAggregator;
  readonly batch: KlineBatch;
  readonly published: KlineRecord[] = [];

  constructor(options: AggregatorOptions, batchCapacity = 64) {
    this.agg = new KlineAggregator(options);
    this.batch = new KlineBatch(batchCapacity);
  }

  /** One flush + confirm; returns the records published. */
  flushOnce(): KlineRecord[] {
    this.agg.flush(this.batch);
    const records: KlineRecord[] = [];
    for (let i = 0; i < this.batch.length; i++) records.push(batchRecord(this.batch, i));
    this.agg.confirm();
    this.published.push(...records);
    return records;
  }

  drain(): void {
    do this.flushOnce();
    while (this.agg.hasPending);
  }

  trade(t: Trade): IngestResult {
    let r: IngestResult;
    while ((r = this.agg.ingest(t.symbol, t.aggId, t.firstId, t.lastId, t.price, t.qty, t.time, t.maker)) === NEEDS_FLUSH) this.flushOnce();
    return r;
  }

  watermark(w: number): void {
    while (this.agg.advanceWatermark(w) !== APPLIED) this.flushOnce();
  }

  finals(interval?: string): KlineRecord[] {
    return this.published.filter((k) => k.isFinal && (interval === undefined || k.interval === interval));
  }
}

let nextAgg = 1;
export function trade(symbol: number, time: number, price: number, qty = 1, maker = false, trades = 1): Trade {
  const aggId = nextAgg++;
  return { symbol, aggId, firstId: aggId * 10, lastId: aggId * 10 + trades - 1, price, qty, time, maker };
}
