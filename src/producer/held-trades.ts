/**
 * Live trades a symbol holds while it backfills (src/producer/symbol-sequencer.ts): columns in aggregate-id
 * order, with one shared bound for all symbols together (KLINESTREAM_PRODUCER_HELD_TRADES).
 *
 * The bound counts allocated slots, not held trades, so memory is bounded by configuration whatever the
 * traffic: a column grows (doubling) only when the budget has room for the new capacity, and a symbol whose
 * gap closed gives its large columns back. `insert` refuses a trade when its symbol's columns are full and
 * the budget has no room: the caller counts it and lets REST deliver it (policy in docs/kafka-design.md,
 * "Held trades").
 */
import type { AggTradeRecord } from '../exchange/aggtrade-frame';

/** Slots held by every symbol together; shared by all HeldTrades of one sequencer. */
export class HeldBudget {
  /** Slots allocated now (capacity of every column set). */
  allocated = 0;
  /** Trades held now. */
  held = 0;

  constructor(readonly max: number) {
    if (!(Number.isInteger(max) && max >= INITIAL_SLOTS)) throw new RangeError(`the held-trades bound must be an integer >= ${INITIAL_SLOTS}, got ${max}`);
  }
}

const INITIAL_SLOTS = 64;
/** Columns larger than this are given back when they empty (smaller ones are kept: no churn per gap). */
const KEEP_SLOTS = 1024;

export const INSERTED = 0;
export const ALREADY_HELD = 1;
export const NO_ROOM = 2;
export type InsertResult = typeof INSERTED | typeof ALREADY_HELD | typeof NO_ROOM;

export class HeldTrades {
  length = 0;
  private capacity = 0;
  aggId: Float64Array<ArrayBuffer> = new Float64Array(0);
  firstTradeId = new Float64Array(0);
  lastTradeId = new Float64Array(0);
  price = new Float64Array(0);
  quantity = new Float64Array(0);
  tradeTime = new Float64Array(0);
  eventTime = new Float64Array(0);
  maker = new Uint8Array(0);

  constructor(private readonly budget: HeldBudget) {}

  /** The first (lowest) held id, or Infinity. */
  get first(): number {
    return this.length > 0 ? this.aggId[0]! : Infinity;
  }

  /** The last (highest) held id, or -Infinity. */
  get last(): number {
    return this.length > 0 ? this.aggId[this.length - 1]! : -Infinity;
  }

  /** Inserts in id order (appending is the common case; another feed may deliver an older id later). */
  insert(r: AggTradeRecord): InsertResult {
    const a = r.aggId;
    let i = this.length;
    if (i > 0 && a <= this.aggId[i - 1]!) {
      // Binary search for the first held id >= a.
      let lo = 0;
      let hi = i;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.aggId[mid]! < a) lo = mid + 1;
        else hi = mid;
      }
      if (this.aggId[lo] === a) return ALREADY_HELD;
      i = lo;
    }
    if (this.length === this.capacity && !this.grow()) return NO_ROOM;
    if (i < this.length) this.shift(i);
    this.aggId[i] = a;
    this.firstTradeId[i] = r.firstTradeId;
    this.lastTradeId[i] = r.lastTradeId;
    this.price[i] = r.price;
    this.quantity[i] = r.quantity;
    this.tradeTime[i] = r.tradeTime;
    this.eventTime[i] = r.eventTime;
    this.maker[i] = r.isBuyerMaker ? 1 : 0;
    this.length++;
    this.budget.held++;
    return INSERTED;
  }

  read(i: number, out: AggTradeRecord): void {
    out.aggId = this.aggId[i]!;
    out.firstTradeId = this.firstTradeId[i]!;
    out.lastTradeId = this.lastTradeId[i]!;
    out.price = this.price[i]!;
    out.quantity = this.quantity[i]!;
    out.tradeTime = this.tradeTime[i]!;
    out.eventTime = this.eventTime[i]!;
    out.isBuyerMaker = this.maker[i] === 1;
  }

  /** Removes the first `k` trades (released or duplicates). */
  dropFirst(k: number): void {
    if (k <= 0) return;
    if (k >= this.length) {
      this.clear();
      return;
    }
    const n = this.length;
    this.move(0, k, n);
    this.length = n - k;
    this.budget.held -= k;
  }

  /** Forgets every held trade; large columns go back to the budget. */
  clear(): void {
    this.budget.held -= this.length;
    this.length = 0;
    if (this.capacity > KEEP_SLOTS) this.resize(INITIAL_SLOTS);
  }

  private shift(i: number): void {
    this.move(i + 1, i, this.length);
  }

  /** copyWithin(target, start, end) on every column (no array of columns: this runs per out-of-order trade). */
  private move(target: number, start: number, end: number): void {
    this.aggId.copyWithin(target, start, end);
    this.firstTradeId.copyWithin(target, start, end);
    this.lastTradeId.copyWithin(target, start, end);
    this.price.copyWithin(target, start, end);
    this.quantity.copyWithin(target, start, end);
    this.tradeTime.copyWithin(target, start, end);
    this.eventTime.copyWithin(target, start, end);
    this.maker.copyWithin(target, start, end);
  }

  private grow(): boolean {
    const next = this.capacity === 0 ? INITIAL_SLOTS : this.capacity * 2;
    const b = this.budget;
    if (b.allocated - this.capacity + next > b.max) {
      // Doubling does not fit; whatever room is left still does.
      const room = b.max - b.allocated;
      if (room <= 0) return false;
      this.resize(this.capacity + room);
      return true;
    }
    this.resize(next);
    return true;
  }

  private resize(n: number): void {
    const f = (a: Float64Array): Float64Array<ArrayBuffer> => {
      const c = new Float64Array(n);
      c.set(a.subarray(0, Math.min(this.length, n)));
      return c;
    };
    this.budget.allocated += n - this.capacity;
    this.capacity = n;
    this.aggId = f(this.aggId);
    this.firstTradeId = f(this.firstTradeId);
    this.lastTradeId = f(this.lastTradeId);
    this.price = f(this.price);
    this.quantity = f(this.quantity);
    this.tradeTime = f(this.tradeTime);
    this.eventTime = f(this.eventTime);
    const m = new Uint8Array(n);
    m.set(this.maker.subarray(0, Math.min(this.length, n)));
    this.maker = m;
  }
}
