/**
 * The producer's outgoing records, waiting for the Kafka transaction that writes them: a bounded ring of
 * struct-of-arrays columns (trades, watermarks, hand-over markers), preallocated once. A record enters at
 * the tail when the sequencer releases it and leaves the head when its transaction committed; nothing is
 * allocated per record. The columns have the shape TradeWireWriter reads (`TradeRecordColumns`).
 */
import type { AggTradeRecord } from '../exchange/aggtrade-frame';

export const KIND_TRADE = 0;
export const KIND_WATERMARK = 1;
export const KIND_HANDOVER = 2;

export class OutgoingBuffer {
  readonly capacity: number;
  /** Ring position of the oldest record. */
  head = 0;
  size = 0;

  readonly kind: Uint8Array;
  /** Symbol index; -1 for watermarks. */
  readonly symbol: Int32Array;
  /** The `trades` partition the record goes to. */
  readonly partition: Int32Array;
  readonly aggId: Float64Array;
  readonly firstTradeId: Float64Array;
  readonly lastTradeId: Float64Array;
  readonly price: Float64Array;
  readonly quantity: Float64Array;
  readonly tradeTime: Float64Array;
  readonly eventTime: Float64Array;
  readonly isBuyerMaker: Uint8Array;
  readonly targetPartition: Int32Array;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 16) throw new RangeError(`OutgoingBuffer capacity must be an integer >= 16, got ${capacity}`);
    this.capacity = capacity;
    this.kind = new Uint8Array(capacity);
    this.symbol = new Int32Array(capacity);
    this.partition = new Int32Array(capacity);
    this.aggId = new Float64Array(capacity);
    this.firstTradeId = new Float64Array(capacity);
    this.lastTradeId = new Float64Array(capacity);
    this.price = new Float64Array(capacity);
    this.quantity = new Float64Array(capacity);
    this.tradeTime = new Float64Array(capacity);
    this.eventTime = new Float64Array(capacity);
    this.isBuyerMaker = new Uint8Array(capacity);
    this.targetPartition = new Int32Array(capacity);
  }

  get free(): number {
    return this.capacity - this.size;
  }

  get full(): boolean {
    return this.size >= this.capacity;
  }

  /** Ring position of the i-th record from the head. */
  at(i: number): number {
    const p = this.head + i;
    return p >= this.capacity ? p - this.capacity : p;
  }

  /** Reserves the tail position; the caller checked `full`. */
  private next(kind: number, symbol: number, partition: number): number {
    const p = this.at(this.size);
    this.size++;
    this.kind[p] = kind;
    this.symbol[p] = symbol;
    this.partition[p] = partition;
    this.targetPartition[p] = -1;
    return p;
  }

  /** A trade from a parsed frame (the parser's reused record: the values are copied). */
  pushRecord(symbol: number, partition: number, r: AggTradeRecord): void {
    const p = this.next(KIND_TRADE, symbol, partition);
    this.aggId[p] = r.aggId;
    this.firstTradeId[p] = r.firstTradeId;
    this.lastTradeId[p] = r.lastTradeId;
    this.price[p] = r.price;
    this.quantity[p] = r.quantity;
    this.tradeTime[p] = r.tradeTime;
    this.eventTime[p] = r.eventTime;
    this.isBuyerMaker[p] = r.isBuyerMaker ? 1 : 0;
  }

  pushWatermark(partition: number, watermark: number, eventTime: number): void {
    const p = this.next(KIND_WATERMARK, -1, partition);
    this.aggId[p] = -1;
    this.firstTradeId[p] = -1;
    this.lastTradeId[p] = -1;
    this.price[p] = 0;
    this.quantity[p] = 0;
    this.tradeTime[p] = watermark;
    this.eventTime[p] = eventTime;
    this.isBuyerMaker[p] = 0;
  }

  /** The symbol leaves `partition` for `target`; aggId / time of its last trade written to `partition`. */
  pushHandover(symbol: number, partition: number, target: number, lastAggId: number, lastTradeTime: number): void {
    const p = this.next(KIND_HANDOVER, symbol, partition);
    this.aggId[p] = lastAggId;
    this.firstTradeId[p] = -1;
    this.lastTradeId[p] = -1;
    this.price[p] = 0;
    this.quantity[p] = 0;
    this.tradeTime[p] = lastTradeTime;
    this.eventTime[p] = lastTradeTime;
    this.isBuyerMaker[p] = 0;
    this.targetPartition[p] = target;
  }

  /** The first `n` records were written. */
  drop(n: number): void {
    this.head = this.at(n);
    this.size -= n;
  }

  clear(): void {
    this.head = 0;
    this.size = 0;
  }

  /** Keeps the first `n` records (those a transaction in flight is writing) and forgets the rest. */
  truncate(n: number): void {
    if (n < this.size) this.size = Math.max(0, n);
  }

  /**
   * Keeps only the records for which `keep(position)` is true, in order (after a failed transaction whose
   * outcome was unknown: the ones that did commit are dropped). Slow path.
   */
  retain(keep: (p: number) => boolean): number {
    let w = 0;
    const n = this.size;
    let removed = 0;
    for (let i = 0; i < n; i++) {
      const p = this.at(i);
      if (!keep(p)) {
        removed++;
        continue;
      }
      const q = this.at(w++);
      if (q !== p) this.copy(p, q);
    }
    this.size = w;
    return removed;
  }

  private copy(from: number, to: number): void {
    this.kind[to] = this.kind[from]!;
    this.symbol[to] = this.symbol[from]!;
    this.partition[to] = this.partition[from]!;
    this.aggId[to] = this.aggId[from]!;
    this.firstTradeId[to] = this.firstTradeId[from]!;
    this.lastTradeId[to] = this.lastTradeId[from]!;
    this.price[to] = this.price[from]!;
    this.quantity[to] = this.quantity[from]!;
    this.tradeTime[to] = this.tradeTime[from]!;
    this.eventTime[to] = this.eventTime[from]!;
    this.isBuyerMaker[to] = this.isBuyerMaker[from]!;
    this.targetPartition[to] = this.targetPartition[from]!;
  }
}
