/**
 * The output buffer of a flush: a preallocated struct-of-arrays batch of kline records, reused for every
 * flush. Everything is numeric; `intervalId` indexes INTERVAL_NAMES and `symbolIndex` is the global symbol
 * index, so turning a record into strings (CSV, Avro) is the consumer's job and happens once per record.
 */
import { INTERVAL_NAMES, type IntervalName } from './intervals';
import { KlineColumns } from './kline-columns';

export class KlineBatch extends KlineColumns {
  length = 0;
  readonly symbolIndex: Int32Array;
  readonly intervalId: Uint8Array;
  readonly isFinal: Uint8Array;
  /** Exchange trades folded into the kline, plus 1 once final: derived from the data, so replays agree. */
  readonly version: Float64Array;

  constructor(capacity = 8192) {
    if (!Number.isInteger(capacity) || capacity < 16) throw new RangeError(`KlineBatch capacity must be an integer >= 16, got ${capacity}`);
    super(capacity);
    this.symbolIndex = new Int32Array(capacity);
    this.intervalId = new Uint8Array(capacity);
    this.isFinal = new Uint8Array(capacity);
    this.version = new Float64Array(capacity);
  }

  get room(): number {
    return this.capacity - this.length;
  }

  intervalName(i: number): IntervalName {
    return INTERVAL_NAMES[this.intervalId[i]!]!;
  }
}

/** A plain-object view of one record: for tests, CSV and Avro encoding, never for the hot path. */
export interface KlineRecord {
  symbolIndex: number;
  interval: IntervalName;
  openTime: number;
  closeTime: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  quoteVolume: number;
  tradeCount: number;
  takerBuyVolume: number;
  takerBuyQuoteVolume: number;
  firstTradeId: number;
  lastTradeId: number;
  isFinal: boolean;
  version: number;
}

export function batchRecord(batch: KlineBatch, i: number): KlineRecord {
  return {
    symbolIndex: batch.symbolIndex[i]!,
    interval: batch.intervalName(i),
    openTime: batch.openTime[i]!,
    closeTime: batch.closeTime[i]!,
    open: batch.open[i]!,
    high: batch.high[i]!,
    low: batch.low[i]!,
    close: batch.close[i]!,
    volume: batch.volume[i]!,
    quoteVolume: batch.quoteVolume[i]!,
    tradeCount: batch.tradeCount[i]!,
    takerBuyVolume: batch.takerBuyVolume[i]!,
    takerBuyQuoteVolume: batch.takerBuyQuoteVolume[i]!,
    firstTradeId: batch.firstTradeId[i]!,
    lastTradeId: batch.lastTradeId[i]!,
    isFinal: batch.isFinal[i] === 1,
    version: batch.version[i]!,
  };
}
