/**
 * A bounded, preallocated ring of finalized klines waiting to be published. Two kinds of entry:
 * - FINAL: one kline with its values;
 * - EMPTY_RUN: `runCount` consecutive klines without trades (o = h = l = c = `close`, volumes 0, ids -1)
 *   starting at `openTime`. One entry stands for any gap, so a symbol idle for a month costs one entry,
 *   not 43,200, and the queue stays bounded: one trade can add at most two entries per interval.
 * The aggregator writes at the tail and checks entries out from the head; the head only moves on confirm.
 */
import { KlineColumns } from './kline-columns';

export const FINAL = 0;
export const EMPTY_RUN = 1;
/** An entry of a symbol that was dropped (its partition moved to another worker): skipped by flush. */
export const VOID = 2;

export class FinalQueue extends KlineColumns {
  /** Index of the oldest entry. */
  head = 0;
  /** Number of entries held (checked out or not). */
  size = 0;

  readonly kind: Uint8Array;
  readonly slot: Int32Array;
  readonly runCount: Float64Array;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 64) throw new RangeError(`FinalQueue capacity must be an integer >= 64, got ${capacity}`);
    super(capacity);
    this.kind = new Uint8Array(capacity);
    this.slot = new Int32Array(capacity);
    this.runCount = new Float64Array(capacity);
  }

  get free(): number {
    return this.capacity - this.size;
  }

  /** Ring position of the i-th entry from the head. */
  at(i: number): number {
    const p = this.head + i;
    return p >= this.capacity ? p - this.capacity : p;
  }

  /** Reserves the next tail position; the caller fills the fields. The caller has checked `free`. */
  pushPosition(kind: number, slot: number, openTime: number): number {
    const p = this.at(this.size);
    this.size++;
    this.kind[p] = kind;
    this.slot[p] = slot;
    this.openTime[p] = openTime;
    return p;
  }

  pushEmptyRun(slot: number, openTime: number, count: number, price: number): void {
    const p = this.pushPosition(EMPTY_RUN, slot, openTime);
    this.runCount[p] = count;
    this.close[p] = price;
  }

  /** Drops the first `n` entries (they were published). */
  drop(n: number): void {
    this.head = this.at(n);
    this.size -= n;
  }
}
