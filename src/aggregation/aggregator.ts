/**
 * The kline aggregator: pure computation, no I/O. Workers drive it; `klinestream aggregate` drives it offline.
 *
 * State is struct-of-arrays: one slot per (symbol index, interval), slot = symbol * K + interval, every field a
 * typed array. Interval 0 is always the 1m base (published only if configured); the coarser intervals roll up
 * from it, because every kline field composes (open = first, close = last, high = max, sums add):
 * - a trade updates only the symbol's base slot (arithmetic and indexed access, nothing else);
 * - when a base kline closes it is folded into each coarser slot, which then holds "everything before the
 *   current minute"; a coarser kline's live value is that fold combined with the live base at flush time.
 *
 * Finals go to a bounded FinalQueue (runs of empty klines are one entry). Changed symbols are tracked in a
 * sparse set (flag array + index list): a trade changes every interval of its symbol, so the symbol is the
 * unit of change, and a flush costs O(changed symbols x intervals), never O(all slots).
 *
 * Flush protocol (checkout):
 *   1. flush(batch) copies pending finals (oldest first), then, if every final fit, the live klines of
 *      changed symbols into the batch, and checks them out: finals stay queued, dirty flags are cleared.
 *   2. The caller publishes the batch.
 *   3a. confirm(): the checked-out finals leave the queue. Nothing else to do: symbols updated meanwhile
 *       are dirty again through the normal path.
 *   3b. giveBack(): the finals stay at the head of the queue, checked-out symbols become dirty again.
 * Trades and watermarks may be applied between 1 and 3; no update is lost in any interleaving.
 *
 * Volumes use compensated (Neumaier) sums and are rounded to 8 decimals on output, so a kline's volumes are
 * the doubles nearest to the exchange's exact decimal sums (see docs/aggregation.md).
 */
import { KlinestreamError } from '../errors';
import { INTERVAL_NAMES, intervalRule, type IntervalName, type IntervalRule } from './intervals';
import { FINAL, FinalQueue } from './final-queue';
import type { KlineBatch } from './kline-batch';

/** What ingest() and advanceWatermark() report. Plain numbers: no allocation on the per-trade path. */
export const APPLIED = 0;
export const DUPLICATE = 1;
export const LATE = 2;
export const NEEDS_FLUSH = 3;
export const INVALID = 4;
export type IngestResult = typeof APPLIED | typeof DUPLICATE | typeof LATE | typeof NEEDS_FLUSH | typeof INVALID;

export interface AggregatorOptions {
  /** Published intervals; any order, duplicates rejected by config. */
  intervals: readonly IntervalName[];
  /** A watermark W closes idle klines whose closeTime < W - graceMs. Default 2000. */
  graceMs?: number;
  /** Initial symbol capacity; grows on demand (amortized doubling). Default 1024. */
  initialSymbols?: number;
  /** Highest symbol index + 1 that is accepted; larger indexes are INVALID. Default 65536. */
  maxSymbols?: number;
  /** Entries in the final queue. Default 65536. */
  finalQueueCapacity?: number;
}

export interface AggregatorCounters {
  tradesApplied: number;
  duplicates: number;
  lateTrades: number;
  invalidTrades: number;
  needsFlush: number;
  finalKlinesOut: number;
  liveKlinesOut: number;
}

/** Per-slot fields, in snapshot order. Sums are kept as (sum, compensation) pairs. */
const SLOT_FIELDS = 17;
/** Per-symbol snapshot header: active flag, last aggregate id, last close. */
const SYMBOL_HEADER = 3;
const TWO_POW_53 = 9007199254740992;

function round8(x: number): number {
  const r = x * 1e8;
  return r < TWO_POW_53 ? Math.round(r) / 1e8 : x;
}

export class KlineAggregator {
  /** Published intervals, finest first. */
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
  readonly maxSymbols: number;
  readonly counters: AggregatorCounters = {
    tradesApplied: 0, duplicates: 0, lateTrades: 0, invalidTrades: 0, needsFlush: 0, finalKlinesOut: 0, liveKlinesOut: 0,
  };
  readonly queue: FinalQueue;

  /** Internal intervals: [0] = 1m base, then the published coarser ones. */
  private readonly rules: IntervalRule[];
  private readonly intervalIds: Uint8Array;
  private readonly published: Uint8Array;
  private readonly K: number;
  private readonly publishedCount: number;
  /** Queue entries one roll may add: a final and an empty run per published interval. */
  private readonly rollReserve: number;

  private capacity = 0;
  // Per slot.
  private openTime: Float64Array = new Float64Array(0);
  private closeTime: Float64Array = new Float64Array(0);
  private open: Float64Array = new Float64Array(0);
  private high: Float64Array = new Float64Array(0);
  private low: Float64Array = new Float64Array(0);
  private close: Float64Array = new Float64Array(0);
  private volume: Float64Array = new Float64Array(0);
  private volumeC: Float64Array = new Float64Array(0);
  private quote: Float64Array = new Float64Array(0);
  private quoteC: Float64Array = new Float64Array(0);
  private takerVolume: Float64Array = new Float64Array(0);
  private takerVolumeC: Float64Array = new Float64Array(0);
  private takerQuote: Float64Array = new Float64Array(0);
  private takerQuoteC: Float64Array = new Float64Array(0);
  private tradeCount: Float64Array = new Float64Array(0);
  private firstId: Float64Array = new Float64Array(0);
  private lastId: Float64Array = new Float64Array(0);
  // Per symbol.
  private lastAggId: Float64Array = new Float64Array(0);
  private lastClose: Float64Array = new Float64Array(0);
  private active: Uint8Array = new Uint8Array(0);
  private dirty: Uint8Array = new Uint8Array(0);
  private dirtyList: Int32Array = new Int32Array(0);
  private dirtyLen = 0;
  private activeList: Int32Array = new Int32Array(0);
  private activeLen = 0;
  private checkedOutList: Int32Array = new Int32Array(0);
  private checkedOutLen = 0;

  private checkoutOpen = false;
  private checkoutEntries = 0;
  private checkoutPartial = 0;
  /** Lower bound of the base closeTime over active symbols: a watermark below it has nothing to close. */
  private horizon = Infinity;

  constructor(options: AggregatorOptions) {
    const published = new Set(options.intervals);
    if (published.size === 0) throw new RangeError('at least one interval is required');
    this.intervals = INTERVAL_NAMES.filter((n) => published.has(n));
    const internal: IntervalName[] = ['1m', ...this.intervals.filter((n) => n !== '1m')];
    this.K = internal.length;
    this.rules = internal.map(intervalRule);
    this.intervalIds = Uint8Array.from(internal.map((n) => INTERVAL_NAMES.indexOf(n)));
    this.published = Uint8Array.from(internal.map((n) => (published.has(n) ? 1 : 0)));
    this.publishedCount = this.intervals.length;
    this.rollReserve = 2 * this.K;
    this.graceMs = options.graceMs ?? 2000;
    this.maxSymbols = options.maxSymbols ?? 65536;
    this.queue = new FinalQueue(options.finalQueueCapacity ?? 65536);
    if (this.queue.capacity < 2 * this.rollReserve) {
      throw new RangeError(`finalQueueCapacity must be at least ${2 * this.rollReserve} for ${this.K} internal intervals`);
    }
    this.grow(Math.min(options.initialSymbols ?? 1024, this.maxSymbols));
  }

  /** Slots per symbol (internal intervals, including an unpublished 1m base). */
  get intervalsPerSymbol(): number {
    return this.K;
  }

  get symbolCapacity(): number {
    return this.capacity;
  }

  /** True while finals or changed symbols wait to be flushed (beyond what is checked out). */
  get hasPending(): boolean {
    return this.dirtyLen > 0 || this.queue.size > this.checkoutEntries || this.checkoutPartial > 0;
  }

  get isCheckedOut(): boolean {
    return this.checkoutOpen;
  }

  /**
   * Applies one aggregate trade. Returns APPLIED, DUPLICATE (aggId not above the symbol's last: ignored),
   * LATE (its kline is already final: not merged anywhere), INVALID (bad numbers or symbol index) or
   * NEEDS_FLUSH (the final queue has no room for the klines this trade would close: flush, then call again;
   * nothing was changed).
   */
  ingest(
    symbol: number, aggId: number, firstTradeId: number, lastTradeId: number,
    price: number, quantity: number, tradeTime: number, isBuyerMaker: boolean,
  ): IngestResult {
    if (!(symbol >= 0 && symbol < this.capacity && (symbol | 0) === symbol)) {
      if (!(Number.isInteger(symbol) && symbol >= 0 && symbol < this.maxSymbols)) {
        this.counters.invalidTrades++;
        return INVALID;
      }
      this.grow(symbol + 1);
    }
    if (!(price > 0 && quantity > 0 && tradeTime >= 0 && lastTradeId >= firstTradeId)) {
      this.counters.invalidTrades++;
      return INVALID;
    }
    if (aggId <= this.lastAggId[symbol]!) {
      this.counters.duplicates++;
      return DUPLICATE;
    }
    const b = symbol * this.K;
    if (tradeTime > this.closeTime[b]!) {
      if (this.active[symbol] === 0) {
        this.activate(symbol, tradeTime);
      } else {
        if (this.queue.free < this.rollReserve) {
          this.counters.needsFlush++;
          return NEEDS_FLUSH;
        }
        this.roll(symbol, tradeTime);
      }
    } else if (tradeTime < this.openTime[b]!) {
      // Its minute was closed by a watermark: merging it into a later kline would be wrong, and reopening a
      // published final would break "final means final". Counted; the caller logs it with context.
      this.lastAggId[symbol] = aggId;
      this.counters.lateTrades++;
      return LATE;
    }

    const n = this.tradeCount[b]!;
    if (n === 0) {
      this.open[b] = price;
      this.high[b] = price;
      this.low[b] = price;
      this.firstId[b] = firstTradeId;
    } else {
      if (price > this.high[b]!) this.high[b] = price;
      if (price < this.low[b]!) this.low[b] = price;
    }
    this.close[b] = price;
    this.lastId[b] = lastTradeId;
    this.tradeCount[b] = n + (lastTradeId - firstTradeId + 1);
    // Neumaier summation; every addend is positive, so comparing without abs() is enough.
    const quoteQty = price * quantity;
    let s = this.volume[b]!;
    let t = s + quantity;
    this.volumeC[b] += s >= quantity ? s - t + quantity : quantity - t + s;
    this.volume[b] = t;
    s = this.quote[b]!;
    t = s + quoteQty;
    this.quoteC[b] += s >= quoteQty ? s - t + quoteQty : quoteQty - t + s;
    this.quote[b] = t;
    if (!isBuyerMaker) {
      s = this.takerVolume[b]!;
      t = s + quantity;
      this.takerVolumeC[b] += s >= quantity ? s - t + quantity : quantity - t + s;
      this.takerVolume[b] = t;
      s = this.takerQuote[b]!;
      t = s + quoteQty;
      this.takerQuoteC[b] += s >= quoteQty ? s - t + quoteQty : quoteQty - t + s;
      this.takerQuote[b] = t;
    }
    this.lastAggId[symbol] = aggId;
    this.lastClose[symbol] = price;
    if (this.dirty[symbol] === 0) {
      this.dirty[symbol] = 1;
      this.dirtyList[this.dirtyLen++] = symbol;
    }
    this.counters.tradesApplied++;
    return APPLIED;
  }

  /**
   * Event time of the partition reached `watermark`: every kline with closeTime < watermark - grace becomes
   * final, with the empty klines up to it. Returns APPLIED, or NEEDS_FLUSH when the final queue filled up
   * (flush and call again: it resumes where it stopped).
   */
  advanceWatermark(watermark: number): IngestResult {
    const until = watermark - this.graceMs;
    if (!(until > this.horizon)) return APPLIED;
    let minClose = Infinity;
    const K = this.K;
    for (let k = 0; k < this.activeLen; k++) {
      const symbol = this.activeList[k]!;
      const b = symbol * K;
      if (until > this.closeTime[b]!) {
        if (this.queue.free < this.rollReserve) {
          this.counters.needsFlush++;
          return NEEDS_FLUSH;
        }
        this.roll(symbol, until);
      }
      if (this.closeTime[b]! < minClose) minClose = this.closeTime[b]!;
    }
    this.horizon = minClose;
    return APPLIED;
  }

  /** Step 1 of the flush protocol: fill `out` and check its contents out. Returns the record count. */
  flush(out: KlineBatch): number {
    if (this.checkoutOpen) {
      throw new KlinestreamError('AGGREGATOR_STATE', 'flush() while a batch is checked out: call confirm() or giveBack() first');
    }
    out.length = 0;
    this.checkoutOpen = true;
    const q = this.queue;
    let taken = 0;
    let partial = 0;
    while (taken < q.size && out.length < out.capacity) {
      const p = q.at(taken);
      if (q.kind[p] === FINAL) {
        this.writeFinal(out, p);
        taken++;
      } else {
        const remaining = q.runCount[p]!;
        const n = Math.min(out.capacity - out.length, remaining);
        this.writeEmptyRun(out, p, n);
        if (n === remaining) {
          taken++;
        } else {
          partial = n;
          break;
        }
      }
    }
    this.checkoutEntries = taken;
    this.checkoutPartial = partial;
    // Live klines only once every final fits: a consumer never sees a live kline before the finals that precede it.
    if (taken === q.size) {
      while (this.dirtyLen > 0 && out.capacity - out.length >= this.publishedCount) {
        const symbol = this.dirtyList[--this.dirtyLen]!;
        this.dirty[symbol] = 0;
        this.checkedOutList[this.checkedOutLen++] = symbol;
        this.writeLive(out, symbol);
      }
    }
    return out.length;
  }

  /** Step 3a: the checked-out batch was delivered. */
  confirm(): void {
    this.requireCheckout('confirm');
    const q = this.queue;
    q.drop(this.checkoutEntries);
    if (this.checkoutPartial > 0) {
      // The head run was published in part: it now starts after the published klines.
      const p = q.head;
      const rule = this.rules[q.slot[p]! % this.K]!;
      q.openTime[p] = rule.addIntervals(q.openTime[p]!, this.checkoutPartial);
      q.runCount[p] = q.runCount[p]! - this.checkoutPartial;
    }
    this.endCheckout();
  }

  /** Step 3b: delivery failed; everything checked out will be flushed again. */
  giveBack(): void {
    this.requireCheckout('giveBack');
    for (let k = 0; k < this.checkedOutLen; k++) this.markDirty(this.checkedOutList[k]!);
    this.endCheckout();
  }

  /** Marks a symbol changed (e.g. after restore, to republish its live klines). */
  markDirty(symbol: number): void {
    if (symbol < this.capacity && this.active[symbol] === 1 && this.dirty[symbol] === 0) {
      this.dirty[symbol] = 1;
      this.dirtyList[this.dirtyLen++] = symbol;
    }
  }

  // ---- snapshot / restore (the workers' changelog) -------------------------------------------------------

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
    if (this.active[symbol] === 1) {
      if (!wasActive) this.activeList[this.activeLen++] = symbol;
      const close = this.closeTime[symbol * this.K]!;
      if (close < this.horizon) this.horizon = close;
    }
  }

  // ---- internals ---------------------------------------------------------------------------------------

  private requireCheckout(what: string): void {
    if (!this.checkoutOpen) throw new KlinestreamError('AGGREGATOR_STATE', `${what}() without a checked-out batch`);
  }

  private endCheckout(): void {
    this.checkoutOpen = false;
    this.checkoutEntries = 0;
    this.checkoutPartial = 0;
    this.checkedOutLen = 0;
  }

  private activate(symbol: number, tradeTime: number): void {
    const b = symbol * this.K;
    for (let i = 0; i < this.K; i++) this.resetSlot(b + i, i, this.rules[i]!.openTime(tradeTime));
    this.active[symbol] = 1;
    this.activeList[this.activeLen++] = symbol;
    if (this.closeTime[b]! < this.horizon) this.horizon = this.closeTime[b]!;
  }

  /** Event time reached `time` (> the base closeTime): close what ended, fold the base into coarser slots. */
  private roll(symbol: number, time: number): void {
    const K = this.K;
    const b = symbol * K;
    const price = this.lastClose[symbol]!;
    if (this.published[0] === 1) this.queueClosed(b, 0, time, price);
    const baseHasTrades = this.tradeCount[b]! > 0;
    for (let i = 1; i < K; i++) {
      const slot = b + i;
      if (baseHasTrades) this.fold(slot, b);
      if (time > this.closeTime[slot]!) {
        this.queueClosed(slot, i, time, price);
        this.resetSlot(slot, i, this.rules[i]!.openTime(time));
      }
    }
    this.resetSlot(b, 0, this.rules[0]!.openTime(time));
  }

  /** Queues the slot's kline (if it has trades) and the empty klines from there up to the one holding `time`. */
  private queueClosed(slot: number, i: number, time: number, price: number): void {
    const rule = this.rules[i]!;
    let emptyFrom = this.openTime[slot]!;
    if (this.tradeCount[slot]! > 0) {
      const q = this.queue;
      const p = q.pushPosition(FINAL, slot, emptyFrom);
      q.closeTime[p] = this.closeTime[slot]!;
      q.open[p] = this.open[slot]!;
      q.high[p] = this.high[slot]!;
      q.low[p] = this.low[slot]!;
      q.close[p] = this.close[slot]!;
      q.volume[p] = this.volume[slot]! + this.volumeC[slot]!;
      q.quoteVolume[p] = this.quote[slot]! + this.quoteC[slot]!;
      q.takerBuyVolume[p] = this.takerVolume[slot]! + this.takerVolumeC[slot]!;
      q.takerBuyQuoteVolume[p] = this.takerQuote[slot]! + this.takerQuoteC[slot]!;
      q.tradeCount[p] = this.tradeCount[slot]!;
      q.firstTradeId[p] = this.firstId[slot]!;
      q.lastTradeId[p] = this.lastId[slot]!;
      emptyFrom = this.closeTime[slot]! + 1;
    }
    const n = rule.countBetween(emptyFrom, rule.openTime(time));
    if (n > 0) this.queue.pushEmptyRun(slot, emptyFrom, n, price);
  }

  /** Adds the (closed) base kline at `b` into the coarser slot `acc`. */
  private fold(acc: number, b: number): void {
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

  private resetSlot(slot: number, i: number, openTime: number): void {
    this.openTime[slot] = openTime;
    this.closeTime[slot] = this.rules[i]!.nextOpen(openTime) - 1;
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

  private writeFinal(out: KlineBatch, p: number): void {
    const q = this.queue;
    const slot = q.slot[p]!;
    const symbol = (slot / this.K) | 0;
    const j = out.length++;
    out.symbolIndex[j] = symbol;
    out.intervalId[j] = this.intervalIds[slot - symbol * this.K]!;
    out.isFinal[j] = 1;
    out.openTime[j] = q.openTime[p]!;
    out.closeTime[j] = q.closeTime[p]!;
    out.open[j] = q.open[p]!;
    out.high[j] = q.high[p]!;
    out.low[j] = q.low[p]!;
    out.close[j] = q.close[p]!;
    out.volume[j] = round8(q.volume[p]!);
    out.quoteVolume[j] = round8(q.quoteVolume[p]!);
    out.takerBuyVolume[j] = round8(q.takerBuyVolume[p]!);
    out.takerBuyQuoteVolume[j] = round8(q.takerBuyQuoteVolume[p]!);
    out.tradeCount[j] = q.tradeCount[p]!;
    out.firstTradeId[j] = q.firstTradeId[p]!;
    out.lastTradeId[j] = q.lastTradeId[p]!;
    out.version[j] = q.tradeCount[p]! + 1;
    this.counters.finalKlinesOut++;
  }

  private writeEmptyRun(out: KlineBatch, p: number, n: number): void {
    const q = this.queue;
    const slot = q.slot[p]!;
    const symbol = (slot / this.K) | 0;
    const i = slot - symbol * this.K;
    const rule = this.rules[i]!;
    const intervalId = this.intervalIds[i]!;
    const price = q.close[p]!;
    let open = q.openTime[p]!;
    for (let k = 0; k < n; k++) {
      const next = rule.nextOpen(open);
      const j = out.length++;
      out.symbolIndex[j] = symbol;
      out.intervalId[j] = intervalId;
      out.isFinal[j] = 1;
      out.openTime[j] = open;
      out.closeTime[j] = next - 1;
      out.open[j] = price;
      out.high[j] = price;
      out.low[j] = price;
      out.close[j] = price;
      out.volume[j] = 0;
      out.quoteVolume[j] = 0;
      out.takerBuyVolume[j] = 0;
      out.takerBuyQuoteVolume[j] = 0;
      out.tradeCount[j] = 0;
      out.firstTradeId[j] = -1;
      out.lastTradeId[j] = -1;
      out.version[j] = 1;
      open = next;
    }
    this.counters.finalKlinesOut += n;
  }

  /** Live values of every published interval of `symbol` that has trades: coarser = fold + live base. */
  private writeLive(out: KlineBatch, symbol: number): void {
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
        out.volume[j] = round8(this.volume[a]! + this.volume[b]! + (this.volumeC[a]! + this.volumeC[b]!));
        out.quoteVolume[j] = round8(this.quote[a]! + this.quote[b]! + (this.quoteC[a]! + this.quoteC[b]!));
        out.takerBuyVolume[j] = round8(this.takerVolume[a]! + this.takerVolume[b]! + (this.takerVolumeC[a]! + this.takerVolumeC[b]!));
        out.takerBuyQuoteVolume[j] = round8(this.takerQuote[a]! + this.takerQuote[b]! + (this.takerQuoteC[a]! + this.takerQuoteC[b]!));
        out.firstTradeId[j] = this.firstId[a]!;
        out.lastTradeId[j] = this.lastId[b]!;
      }
      out.tradeCount[j] = accCount + baseCount;
      out.version[j] = accCount + baseCount;
      this.counters.liveKlinesOut++;
    }
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
  private grow(minSymbols: number): void {
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
    this.dirty = perSymbol(this.dirty, (n) => new Uint8Array(n));
    this.dirtyList = perSymbol(this.dirtyList, (n) => new Int32Array(n));
    this.activeList = perSymbol(this.activeList, (n) => new Int32Array(n));
    this.checkedOutList = perSymbol(this.checkedOutList, (n) => new Int32Array(n));
    this.capacity = cap;
  }
}

/** Neumaier-adds `x` to sums[i], accumulating the rounding error into comp[i]; returns the new sum. */
function neumaier(sums: Float64Array, comp: Float64Array, i: number, x: number): number {
  const s = sums[i]!;
  const t = s + x;
  comp[i] = comp[i]! + (Math.abs(s) >= Math.abs(x) ? s - t + x : x - t + s);
  return t;
}
