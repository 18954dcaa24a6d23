/**
 * The aggregator's state, struct-of-arrays: one slot per (symbol index, interval), slot = symbol * K + i,
 * every kline field a typed array; per-symbol bookkeeping beside it. Interval 0 is always the 1m base;
 * coarser slots hold the fold of the base klines closed so far in their interval (see KlineAggregator).
 * Also here: what is a pure function of that state (live values, snapshot/restore) and growth.
 */
import { KlinestreamError } from '../errors';
import { INTERVAL_NAMES, intervalRule, type IntervalName, type IntervalRule } from './intervals';
import type { KlineBatch } from './kline-batch';

/** Per-slot fields, in snapshot order. Sums are kept as (sum, compensation) pairs. */
const SLOT_FIELDS = 17;
/** Per-symbol snapshot header: active flag, last aggregate id, last close. */
const SYMBOL_HEADER = 3;
const TWO_POW_53 = 9007199254740992;
export const EVENT_TIME = 0;
export const EVENT_PRICE = 1;

/** Volumes are published rounded to 8 decimals: the doubles nearest the exchange's decimal sums. */
export function round8(x: number): number {
  const r = x * 1e8;
  return r < TWO_POW_53 ? Math.round(r) / 1e8 : x;
}

export abstract class KlineSlots {
  readonly maxSymbols: number;
  /** Internal intervals: [0] = 1m base, then the published coarser ones. */
  protected readonly rules: IntervalRule[];
  protected readonly intervalIds: Uint8Array;
  protected readonly published: Uint8Array;
  protected readonly K: number;
  /** Event time and price for the roll path: doubles passed as arguments to calls that are not inlined are boxed. */
  protected readonly eventScratch = new Float64Array(2);

  protected capacity = 0;
  // Per slot.
  protected openTime: Float64Array = new Float64Array(0);
  protected closeTime: Float64Array = new Float64Array(0);
  protected open: Float64Array = new Float64Array(0);
  protected high: Float64Array = new Float64Array(0);
  protected low: Float64Array = new Float64Array(0);
  protected close: Float64Array = new Float64Array(0);
  protected volume: Float64Array = new Float64Array(0);
  protected volumeC: Float64Array = new Float64Array(0);
  protected quote: Float64Array = new Float64Array(0);
  protected quoteC: Float64Array = new Float64Array(0);
  protected takerVolume: Float64Array = new Float64Array(0);
  protected takerVolumeC: Float64Array = new Float64Array(0);
  protected takerQuote: Float64Array = new Float64Array(0);
  protected takerQuoteC: Float64Array = new Float64Array(0);
  protected tradeCount: Float64Array = new Float64Array(0);
  protected firstId: Float64Array = new Float64Array(0);
  protected lastId: Float64Array = new Float64Array(0);
  // Per symbol.
  protected lastAggId: Float64Array = new Float64Array(0);
  protected lastClose: Float64Array = new Float64Array(0);
  protected active: Uint8Array = new Uint8Array(0);
  /** Symbol group (a worker's input partition), -1 = none. */
  protected symbolGroup: Int32Array = new Int32Array(0);
  protected dirty: Uint8Array = new Uint8Array(0);
  protected dirtyList: Int32Array = new Int32Array(0);
  protected dirtyLen = 0;
  protected activeList: Int32Array = new Int32Array(0);
  protected activeLen = 0;
  protected checkedOutList: Int32Array = new Int32Array(0);
  protected checkedOutLen = 0;

  protected constructor(published: ReadonlySet<IntervalName>, publishedInOrder: readonly IntervalName[], initialSymbols: number, maxSymbols: number) {
    const internal: IntervalName[] = ['1m', ...publishedInOrder.filter((n) => n !== '1m')];
    this.K = internal.length;
    this.rules = internal.map(intervalRule);
    this.intervalIds = Uint8Array.from(internal.map((n) => INTERVAL_NAMES.indexOf(n)));
    this.published = Uint8Array.from(internal.map((n) => (published.has(n) ? 1 : 0)));
    this.maxSymbols = maxSymbols;
    this.grow(Math.min(initialSymbols, maxSymbols));
  }

  /** Slots per symbol (internal intervals, including an unpublished 1m base). */
  get intervalsPerSymbol(): number {
    return this.K;
  }

  get symbolCapacity(): number {
    return this.capacity;
  }

  /** Floats one symbol's snapshot takes: a header plus every internal slot. */
  get symbolStateLength(): number {
    return SYMBOL_HEADER + this.K * SLOT_FIELDS;
  }

  /** Internal interval layout; a snapshot restores only into an aggregator with the same signature. */
  get stateSignature(): string {
    return Array.from(this.intervalIds, (id) => INTERVAL_NAMES[id]).join(',');
  }

  /** Symbols that have traded, in activation order (a view: copy it to keep it). */
  activeSymbols(): Int32Array {
    return this.activeList.subarray(0, this.activeLen);
  }

  lastAggregateId(symbol: number): number {
    return symbol < this.capacity ? this.lastAggId[symbol]! : -1;
  }

  /**
   * Writes one symbol's state into `out` at `offset` (symbolStateLength floats). Pending finals are not part
   * of it: take snapshots between flush() and confirm(), when the checked-out batch holds every final.
   */
  snapshotSymbol(symbol: number, out: Float64Array, offset = 0): void {
    if (symbol >= this.capacity) {
      out.fill(0, offset, offset + this.symbolStateLength);
      out[offset + 1] = -1;
      return;
    }
    out[offset] = this.active[symbol]!;
    out[offset + 1] = this.lastAggId[symbol]!;
    out[offset + 2] = this.lastClose[symbol]!;
    let o = offset + SYMBOL_HEADER;
    const arrays = this.slotArrays();
    for (let i = 0; i < this.K; i++) {
      const slot = symbol * this.K + i;
      for (let f = 0; f < SLOT_FIELDS; f++) out[o++] = arrays[f]![slot]!;
    }
  }

  restoreSymbol(symbol: number, src: Float64Array, offset = 0): void {
    if (!(Number.isInteger(symbol) && symbol >= 0 && symbol < this.maxSymbols)) {
      throw new KlinestreamError('AGGREGATOR_STATE', `cannot restore symbol index ${symbol}: outside 0..${this.maxSymbols - 1}`);
    }
    if (src.length - offset < this.symbolStateLength) {
      throw new KlinestreamError('AGGREGATOR_STATE', `symbol state has ${src.length - offset} values, expected ${this.symbolStateLength}`);
    }
    if (symbol >= this.capacity) this.grow(symbol + 1);
    const wasActive = this.active[symbol] === 1;
    this.active[symbol] = src[offset]! === 1 ? 1 : 0;
    this.lastAggId[symbol] = src[offset + 1]!;
    this.lastClose[symbol] = src[offset + 2]!;
    let o = offset + SYMBOL_HEADER;
    const arrays = this.slotArrays();
    for (let i = 0; i < this.K; i++) {
      const slot = symbol * this.K + i;
      for (let f = 0; f < SLOT_FIELDS; f++) arrays[f]![slot] = src[o++]!;
    }
    if (this.active[symbol] === 1 && !wasActive) this.activeList[this.activeLen++] = symbol;
  }

  /** Returns a symbol's slots and bookkeeping to the never-traded state (inactive, no last aggregate id). */
  protected clearSymbol(symbol: number): void {
    this.lastAggId[symbol] = -1;
    this.lastClose[symbol] = 0;
    const arrays = this.slotArrays();
    for (let i = 0; i < this.K; i++) {
      const slot = symbol * this.K + i;
      for (let f = 0; f < SLOT_FIELDS; f++) arrays[f]![slot] = 0;
      // As grow() initialises them: closeTime -1 routes the next trade to activate(); ids -1 mean none.
      this.closeTime[slot] = -1;
      this.firstId[slot] = -1;
      this.lastId[slot] = -1;
    }
  }

  /** Adds the (closed) base kline at `b` into the coarser slot `acc`. */
  protected fold(acc: number, b: number): void {
    if (this.tradeCount[acc]! === 0) {
      this.open[acc] = this.open[b]!;
      this.high[acc] = this.high[b]!;
      this.low[acc] = this.low[b]!;
      this.firstId[acc] = this.firstId[b]!;
    } else {
      if (this.high[b]! > this.high[acc]!) this.high[acc] = this.high[b]!;
      if (this.low[b]! < this.low[acc]!) this.low[acc] = this.low[b]!;
    }
    this.close[acc] = this.close[b]!;
    this.lastId[acc] = this.lastId[b]!;
    this.tradeCount[acc] = this.tradeCount[acc]! + this.tradeCount[b]!;
    this.volume[acc] = neumaier(this.volume, this.volumeC, acc, this.volume[b]!);
    this.volumeC[acc] = this.volumeC[acc]! + this.volumeC[b]!;
    this.quote[acc] = neumaier(this.quote, this.quoteC, acc, this.quote[b]!);
    this.quoteC[acc] = this.quoteC[acc]! + this.quoteC[b]!;
    this.takerVolume[acc] = neumaier(this.takerVolume, this.takerVolumeC, acc, this.takerVolume[b]!);
    this.takerVolumeC[acc] = this.takerVolumeC[acc]! + this.takerVolumeC[b]!;
    this.takerQuote[acc] = neumaier(this.takerQuote, this.takerQuoteC, acc, this.takerQuote[b]!);
    this.takerQuoteC[acc] = this.takerQuoteC[acc]! + this.takerQuoteC[b]!;
  }

  /** Empties the slot and opens the interval that holds eventScratch[EVENT_TIME]. */
  protected resetSlot(slot: number, i: number): void {
    const rule = this.rules[i]!;
    const openTime = rule.openTime(this.eventScratch[EVENT_TIME]!);
    this.openTime[slot] = openTime;
    this.closeTime[slot] = rule.nextOpen(openTime) - 1;
    this.open[slot] = 0;
    this.high[slot] = 0;
    this.low[slot] = 0;
    this.close[slot] = 0;
    this.volume[slot] = 0;
    this.volumeC[slot] = 0;
    this.quote[slot] = 0;
    this.quoteC[slot] = 0;
    this.takerVolume[slot] = 0;
    this.takerVolumeC[slot] = 0;
    this.takerQuote[slot] = 0;
    this.takerQuoteC[slot] = 0;
    this.tradeCount[slot] = 0;
    this.firstId[slot] = -1;
    this.lastId[slot] = -1;
  }

  /** Live values of every published interval of `symbol` that has trades: coarser = fold + live base. */
  protected writeLive(out: KlineBatch, symbol: number): number {
    const before = out.length;
    const K = this.K;
    const b = symbol * K;
    const baseCount = this.tradeCount[b]!;
    for (let i = 0; i < K; i++) {
      if (this.published[i] === 0) continue;
      const a = b + i;
      const accCount = i === 0 ? 0 : this.tradeCount[a]!;
      if (accCount + baseCount === 0) continue;
      const j = out.length++;
      out.symbolIndex[j] = symbol;
      out.intervalId[j] = this.intervalIds[i]!;
      out.isFinal[j] = 0;
      out.openTime[j] = this.openTime[a]!;
      out.closeTime[j] = this.closeTime[a]!;
      if (accCount === 0) {
        this.copyValues(out, j, b);
      } else if (baseCount === 0) {
        this.copyValues(out, j, a);
      } else {
        out.open[j] = this.open[a]!;
        out.high[j] = this.high[a]! > this.high[b]! ? this.high[a]! : this.high[b]!;
        out.low[j] = this.low[a]! < this.low[b]! ? this.low[a]! : this.low[b]!;
        out.close[j] = this.close[b]!;
        // Exactly what fold() would compute: the live value of a version must not depend on whether the base
        // minute has been folded yet (a watermark may roll it between two flushes without a new trade).
        out.volume[j] = foldedRound8(this.volume, this.volumeC, a, b);
        out.quoteVolume[j] = foldedRound8(this.quote, this.quoteC, a, b);
        out.takerBuyVolume[j] = foldedRound8(this.takerVolume, this.takerVolumeC, a, b);
        out.takerBuyQuoteVolume[j] = foldedRound8(this.takerQuote, this.takerQuoteC, a, b);
        out.firstTradeId[j] = this.firstId[a]!;
        out.lastTradeId[j] = this.lastId[b]!;
      }
      out.tradeCount[j] = accCount + baseCount;
      out.version[j] = accCount + baseCount;
    }
    return out.length - before;
  }

  private copyValues(out: KlineBatch, j: number, slot: number): void {
    out.open[j] = this.open[slot]!;
    out.high[j] = this.high[slot]!;
    out.low[j] = this.low[slot]!;
    out.close[j] = this.close[slot]!;
    out.volume[j] = round8(this.volume[slot]! + this.volumeC[slot]!);
    out.quoteVolume[j] = round8(this.quote[slot]! + this.quoteC[slot]!);
    out.takerBuyVolume[j] = round8(this.takerVolume[slot]! + this.takerVolumeC[slot]!);
    out.takerBuyQuoteVolume[j] = round8(this.takerQuote[slot]! + this.takerQuoteC[slot]!);
    out.firstTradeId[j] = this.firstId[slot]!;
    out.lastTradeId[j] = this.lastId[slot]!;
  }

  private slotArrays(): Float64Array[] {
    return [
      this.openTime, this.closeTime, this.open, this.high, this.low, this.close,
      this.volume, this.volumeC, this.quote, this.quoteC, this.takerVolume, this.takerVolumeC,
      this.takerQuote, this.takerQuoteC, this.tradeCount, this.firstId, this.lastId,
    ];
  }

  /** Grows every array to hold at least `minSymbols` symbols (amortized doubling; off the per-trade path). */
  protected grow(minSymbols: number): void {
    const cap = Math.min(this.maxSymbols, Math.max(minSymbols, this.capacity * 2, 16));
    const K = this.K;
    const slots = (old: Float64Array, fill = 0): Float64Array => {
      const next = new Float64Array(cap * K);
      if (fill !== 0) next.fill(fill);
      next.set(old);
      return next;
    };
    this.openTime = slots(this.openTime);
    // closeTime -1: any trade time is past an inactive slot, which routes the first trade to activate().
    this.closeTime = slots(this.closeTime, -1);
    this.open = slots(this.open);
    this.high = slots(this.high);
    this.low = slots(this.low);
    this.close = slots(this.close);
    this.volume = slots(this.volume);
    this.volumeC = slots(this.volumeC);
    this.quote = slots(this.quote);
    this.quoteC = slots(this.quoteC);
    this.takerVolume = slots(this.takerVolume);
    this.takerVolumeC = slots(this.takerVolumeC);
    this.takerQuote = slots(this.takerQuote);
    this.takerQuoteC = slots(this.takerQuoteC);
    this.tradeCount = slots(this.tradeCount);
    this.firstId = slots(this.firstId, -1);
    this.lastId = slots(this.lastId, -1);
    const perSymbol = <T extends Float64Array | Uint8Array | Int32Array>(old: T, make: (n: number) => T, fill = 0): T => {
      const next = make(cap);
      if (fill !== 0) next.fill(fill);
      next.set(old);
      return next;
    };
    this.lastAggId = perSymbol(this.lastAggId, (n) => new Float64Array(n), -1);
    this.lastClose = perSymbol(this.lastClose, (n) => new Float64Array(n));
    this.active = perSymbol(this.active, (n) => new Uint8Array(n));
    this.symbolGroup = perSymbol(this.symbolGroup, (n) => new Int32Array(n), -1);
    this.dirty = perSymbol(this.dirty, (n) => new Uint8Array(n));
    this.dirtyList = perSymbol(this.dirtyList, (n) => new Int32Array(n));
    this.activeList = perSymbol(this.activeList, (n) => new Int32Array(n));
    this.checkedOutList = perSymbol(this.checkedOutList, (n) => new Int32Array(n));
    this.capacity = cap;
  }
}

/**
 * round8 of sums[acc] + sums[b] evaluated in the same operations as fold(acc, b) followed by a read of the
 * folded slot: (sum, compensation) after neumaier(), plus b's compensation. Reads only.
 */
function foldedRound8(sums: Float64Array, comp: Float64Array, acc: number, b: number): number {
  const s = sums[acc]!;
  const x = sums[b]!;
  const t = s + x;
  const c = comp[acc]! + (Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s) + comp[b]!;
  return round8(t + c);
}

/** Neumaier-adds `x` to sums[i], accumulating the rounding error into comp[i]; returns the new sum. */
function neumaier(sums: Float64Array, comp: Float64Array, i: number, x: number): number {
  const s = sums[i]!;
  const t = s + x;
  comp[i] = comp[i]! + (Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s);
  return t;
}
