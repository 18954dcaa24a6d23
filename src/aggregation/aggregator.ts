/**
 * The kline aggregator: pure computation, no I/O. Workers drive it; `klinestream aggregate` drives it offline.
 *
 * State is struct-of-arrays (KlineSlots): one slot per (symbol index, interval), slot = symbol * K + interval,
 * every field a typed array. Interval 0 is always the 1m base (published only if configured); the coarser intervals roll up
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
import { INTERVAL_NAMES, type IntervalName } from './intervals';
import { FINAL, FinalQueue, VOID } from './final-queue';
import { PLAUSIBLE_FROM_MS, PLAUSIBLE_TO_MS } from '../config/plausible-times';
import type { KlineBatch } from './kline-batch';
import { EVENT_PRICE, EVENT_TIME, KlineSlots, round8 } from './kline-slots';
import { TradeColumns } from './trade-columns';

/** Removes `value` from the first `len` entries of `list` by moving the last entry into its place. */
function removeFromList(list: Int32Array, len: number, value: number): void {
  for (let k = 0; k < len; k++) {
    if (list[k] === value) {
      list[k] = list[len - 1]!;
      return;
    }
  }
}

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
  /**
   * Plausible times, epoch ms [from, to) (docs/times.md): a trade time or watermark outside is INVALID, so no
   * input can make the aggregator emit more empty klines than this window holds. Default 2017-01-01 .. 2100-01-01.
   */
  timeFromMs?: number;
  timeToMs?: number;
}

export interface AggregatorCounters {
  tradesApplied: number;
  duplicates: number;
  lateTrades: number;
  invalidTrades: number;
  /** Watermarks refused as implausible times (advanceWatermark returned INVALID). */
  invalidWatermarks: number;
  needsFlush: number;
  finalKlinesOut: number;
  liveKlinesOut: number;
}

export class KlineAggregator extends KlineSlots {
  /** Published intervals, finest first. */
  readonly intervals: readonly IntervalName[];
  readonly graceMs: number;
  readonly counters: AggregatorCounters = {
    tradesApplied: 0, duplicates: 0, lateTrades: 0, invalidTrades: 0, invalidWatermarks: 0, needsFlush: 0, finalKlinesOut: 0, liveKlinesOut: 0,
  };
  readonly queue: FinalQueue;
  /** Plausible times [timeFromMs, timeToMs): see AggregatorOptions. */
  readonly timeFromMs: number;
  readonly timeToMs: number;
  /** Scratch for the one-trade ingest(). */
  private readonly single = new TradeColumns(1);
  private readonly publishedCount: number;
  /** Queue entries one roll may add: a final and an empty run per published interval. */
  private readonly rollReserve: number;

  private checkoutOpen = false;
  private checkoutEntries = 0;
  private checkoutPartial = 0;
  /** Lower bound of the base closeTime over active symbols: a watermark below it has nothing to close. */
  private horizon = Infinity;
  /** The same bound per symbol group (a worker's input partition), for advanceWatermark(w, group). */
  private readonly groupHorizon: number[] = [];

  constructor(options: AggregatorOptions) {
    const published = new Set(options.intervals);
    if (published.size === 0) throw new RangeError('at least one interval is required');
    const inOrder = INTERVAL_NAMES.filter((n) => published.has(n));
    super(published, inOrder, options.initialSymbols ?? 1024, options.maxSymbols ?? 65536);
    this.intervals = inOrder;
    this.publishedCount = inOrder.length;
    this.rollReserve = 2 * this.K;
    this.graceMs = options.graceMs ?? 2000;
    this.timeFromMs = options.timeFromMs ?? PLAUSIBLE_FROM_MS;
    this.timeToMs = options.timeToMs ?? PLAUSIBLE_TO_MS;
    if (!(this.timeFromMs < this.timeToMs)) throw new RangeError(`timeFromMs (${this.timeFromMs}) must be below timeToMs (${this.timeToMs})`);
    this.queue = new FinalQueue(options.finalQueueCapacity ?? 65536);
    if (this.queue.capacity < 2 * this.rollReserve) {
      throw new RangeError(`finalQueueCapacity must be at least ${2 * this.rollReserve} for ${this.K} internal intervals`);
    }
  }

  /** True while finals or changed symbols wait to be flushed (beyond what is checked out). */
  get hasPending(): boolean {
    return this.dirtyLen > 0 || this.queue.size > this.checkoutEntries || this.checkoutPartial > 0;
  }

  get isCheckedOut(): boolean {
    return this.checkoutOpen;
  }

  /**
   * After flush(): whether the checked-out batch holds every pending final (no final, and no part of an
   * empty run, stayed in the queue). Snapshots for the changelog are only consistent then.
   */
  get checkedOutAllFinals(): boolean {
    return this.checkoutOpen && this.checkoutEntries === this.queue.size && this.checkoutPartial === 0;
  }

  /** Changed symbols not in the checked-out batch (they did not fit): a view, copy it to keep it. */
  pendingChangedSymbols(): Int32Array {
    return this.dirtyList.subarray(0, this.dirtyLen);
  }

  /** Symbols that have traded: slots in use = activeSymbolCount x intervalsPerSymbol. */
  get activeSymbolCount(): number {
    return this.activeLen;
  }

  /**
   * Applies one aggregate trade; see ingestColumns() for the results. Convenient for tests and slow paths;
   * the per-trade path of a worker is ingestColumns().
   */
  ingest(
    symbol: number, aggId: number, firstTradeId: number, lastTradeId: number,
    price: number, quantity: number, tradeTime: number, isBuyerMaker: boolean,
  ): IngestResult {
    if (!Number.isInteger(symbol) || symbol > 0x7fffffff) {
      // Would not survive the Int32 symbol column; the column path only ever sees integers.
      this.counters.invalidTrades++;
      return INVALID;
    }
    const one = this.single;
    one.length = 0;
    one.push(symbol, aggId, firstTradeId, lastTradeId, price, quantity, tradeTime, isBuyerMaker);
    this.ingestColumns(one, 0);
    return one.result[0] as IngestResult;
  }

  /**
   * Applies trades `start..trades.length-1` in order and writes each one's result into `trades.result`:
   * APPLIED, DUPLICATE (aggId not above the symbol's last: ignored), LATE (its kline is already final: not
   * merged anywhere), INVALID (bad numbers, a trade time outside the plausible window, or a bad symbol
   * index) or NEEDS_FLUSH. On NEEDS_FLUSH the final queue has
   * no room for the klines that trade would close; nothing of it was applied, and the returned index is that
   * trade's: flush, confirm, and call again from there. Otherwise returns trades.length.
   */
  ingestColumns(trades: TradeColumns, start = 0): number {
    const K = this.K;
    const end = trades.length;
    const cSymbol = trades.symbol;
    const cAggId = trades.aggId;
    const cFirst = trades.firstTradeId;
    const cLast = trades.lastTradeId;
    const cPrice = trades.price;
    const cQuantity = trades.quantity;
    const cTime = trades.tradeTime;
    const cMaker = trades.isBuyerMaker;
    const cResult = trades.result;
    const timeFrom = this.timeFromMs;
    const timeTo = this.timeToMs;
    for (let i = start; i < end; i++) {
      const symbol = cSymbol[i]!;
      const aggId = cAggId[i]!;
      const firstTradeId = cFirst[i]!;
      const lastTradeId = cLast[i]!;
      const price = cPrice[i]!;
      const quantity = cQuantity[i]!;
      const tradeTime = cTime[i]!;
      if (symbol >= this.capacity || symbol < 0) {
        if (!(symbol >= 0 && symbol < this.maxSymbols)) {
          this.counters.invalidTrades++;
          cResult[i] = INVALID;
          continue;
        }
        this.grow(symbol + 1);
      }
      // A time outside the plausible window (e.g. microseconds read as ms) would roll the symbol's klines
      // to the year 55,000 one empty kline at a time: refused like any bad number.
      if (!(price > 0 && quantity > 0 && tradeTime >= timeFrom && tradeTime < timeTo && lastTradeId >= firstTradeId)) {
        this.counters.invalidTrades++;
        cResult[i] = INVALID;
        continue;
      }
      if (aggId <= this.lastAggId[symbol]!) {
        this.counters.duplicates++;
        cResult[i] = DUPLICATE;
        continue;
      }
      const b = symbol * K;
      if (tradeTime > this.closeTime[b]!) {
        if (this.active[symbol] === 0) {
          this.eventScratch[EVENT_TIME] = tradeTime;
          this.activate(symbol);
        } else {
          if (this.queue.free < this.rollReserve) {
            this.counters.needsFlush++;
            cResult[i] = NEEDS_FLUSH;
            return i;
          }
          this.eventScratch[EVENT_TIME] = tradeTime;
          this.roll(symbol);
        }
      } else if (tradeTime < this.openTime[b]!) {
        // Its minute was closed by a watermark: merging it into a later kline would be wrong, and reopening a
        // published final would break "final means final". Counted; the caller logs it with context.
        this.lastAggId[symbol] = aggId;
        this.counters.lateTrades++;
        cResult[i] = LATE;
        continue;
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
      if (cMaker[i] === 0) {
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
      cResult[i] = APPLIED;
    }
    return end;
  }

  /**
   * Event time reached `watermark`: every kline with closeTime < watermark - grace becomes final, with the
   * empty klines up to it. With `group` >= 0 only the symbols of that group (setSymbolGroup: a worker's input
   * partition) are closed: a partition's watermark says nothing about another partition's symbols. Returns
   * APPLIED, NEEDS_FLUSH when the final queue filled up (flush and call again: it resumes where it stopped),
   * or INVALID when `watermark` is not a plausible time (outside [timeFromMs, timeToMs)): nothing changes,
   * it is counted (invalidWatermarks), and calling again gives INVALID again.
   */
  advanceWatermark(watermark: number, group = -1): IngestResult {
    if (!(watermark >= this.timeFromMs && watermark < this.timeToMs)) {
      this.counters.invalidWatermarks++;
      return INVALID;
    }
    const until = watermark - this.graceMs;
    const grouped = group >= 0;
    if (!(until > (grouped ? (this.groupHorizon[group] ?? Infinity) : this.horizon))) return APPLIED;
    let minClose = Infinity;
    const K = this.K;
    for (let k = 0; k < this.activeLen; k++) {
      const symbol = this.activeList[k]!;
      if (grouped && this.symbolGroup[symbol] !== group) continue;
      const b = symbol * K;
      if (until > this.closeTime[b]!) {
        if (this.queue.free < this.rollReserve) {
          this.counters.needsFlush++;
          return NEEDS_FLUSH;
        }
        this.eventScratch[EVENT_TIME] = until;
        this.roll(symbol);
      }
      if (this.closeTime[b]! < minClose) minClose = this.closeTime[b]!;
    }
    if (grouped) this.groupHorizon[group] = minClose;
    else this.horizon = minClose;
    return APPLIED;
  }

  /**
   * Puts `symbol` into `group` (a worker: the input partition it arrives on). Symbols start in no group (-1),
   * which only ungrouped watermarks close. Off the per-trade path: once per symbol and assignment.
   */
  setSymbolGroup(symbol: number, group: number): void {
    if (!(Number.isInteger(group) && group >= -1)) throw new RangeError(`symbol group must be an integer >= -1, got ${group}`);
    if (!(Number.isInteger(symbol) && symbol >= 0 && symbol < this.maxSymbols)) {
      throw new KlinestreamError('AGGREGATOR_STATE', `cannot group symbol index ${symbol}: outside 0..${this.maxSymbols - 1}`);
    }
    if (symbol >= this.capacity) this.grow(symbol + 1);
    this.symbolGroup[symbol] = group;
    if (group >= 0 && this.active[symbol] === 1) this.lowerGroupHorizon(group, this.closeTime[symbol * this.K]!);
  }

  groupOf(symbol: number): number {
    return symbol < this.capacity ? this.symbolGroup[symbol]! : -1;
  }

  /**
   * Forgets a symbol entirely (a worker gave its partition up): its slots, its last aggregate id, its
   * changed flag and its finals still queued (they become void entries that flush skips; the new owner
   * publishes them from its restored state). Not while a batch is checked out.
   */
  dropSymbol(symbol: number): void {
    if (this.checkoutOpen) throw new KlinestreamError('AGGREGATOR_STATE', 'dropSymbol() while a batch is checked out: confirm() or giveBack() first');
    if (symbol < 0 || symbol >= this.capacity) return;
    const K = this.K;
    const q = this.queue;
    for (let i = 0; i < q.size; i++) {
      const p = q.at(i);
      const slot = q.slot[p]!;
      if (slot >= symbol * K && slot < (symbol + 1) * K) q.kind[p] = VOID;
    }
    if (this.dirty[symbol] === 1) {
      this.dirty[symbol] = 0;
      removeFromList(this.dirtyList, this.dirtyLen, symbol);
      this.dirtyLen--;
    }
    if (this.active[symbol] === 1) {
      this.active[symbol] = 0;
      removeFromList(this.activeList, this.activeLen, symbol);
      this.activeLen--;
    }
    this.clearSymbol(symbol);
    this.symbolGroup[symbol] = -1;
  }

  /** Drops every symbol of `group` (see dropSymbol); returns how many were dropped. */
  dropGroup(group: number): number {
    let n = 0;
    for (let s = 0; s < this.capacity; s++) {
      if (this.symbolGroup[s] === group) {
        this.dropSymbol(s);
        n++;
      }
    }
    this.groupHorizon[group] = Infinity;
    return n;
  }

  private lowerGroupHorizon(group: number, close: number): void {
    const h = this.groupHorizon[group];
    if (h === undefined || close < h) this.groupHorizon[group] = close;
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
      const kind = q.kind[p];
      if (kind === FINAL) {
        this.writeFinal(out, p);
        taken++;
      } else if (kind === VOID) {
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
        this.counters.liveKlinesOut += this.writeLive(out, symbol);
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

  /** Restores one symbol (see KlineSlots.restoreSymbol) and lets watermarks see it. */
  override restoreSymbol(symbol: number, src: Float64Array, offset = 0): void {
    super.restoreSymbol(symbol, src, offset);
    if (this.active[symbol] === 1) {
      const close = this.closeTime[symbol * this.K]!;
      if (close < this.horizon) this.horizon = close;
      const group = this.symbolGroup[symbol]!;
      if (group >= 0) this.lowerGroupHorizon(group, close);
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

  /** Opens every interval of a symbol's first trade (time in eventScratch[EVENT_TIME]). */
  private activate(symbol: number): void {
    const b = symbol * this.K;
    for (let i = 0; i < this.K; i++) this.resetSlot(b + i, i);
    this.active[symbol] = 1;
    this.activeList[this.activeLen++] = symbol;
    if (this.closeTime[b]! < this.horizon) this.horizon = this.closeTime[b]!;
    const group = this.symbolGroup[symbol]!;
    if (group >= 0) this.lowerGroupHorizon(group, this.closeTime[b]!);
  }

  /**
   * Event time reached eventScratch[EVENT_TIME] (> the base closeTime): close what ended, fold the base into
   * the coarser slots. Times travel through eventScratch rather than arguments: a double passed to a call
   * that is not inlined is boxed on the heap.
   */
  private roll(symbol: number): void {
    const K = this.K;
    const b = symbol * K;
    const time = this.eventScratch[EVENT_TIME]!;
    this.eventScratch[EVENT_PRICE] = this.lastClose[symbol]!;
    if (this.published[0] === 1) this.queueClosed(b, 0);
    const baseHasTrades = this.tradeCount[b]! > 0;
    for (let i = 1; i < K; i++) {
      const slot = b + i;
      if (baseHasTrades) this.fold(slot, b);
      if (time > this.closeTime[slot]!) {
        this.queueClosed(slot, i);
        this.resetSlot(slot, i);
      }
    }
    this.resetSlot(b, 0);
  }

  /**
   * Queues the slot's kline (if it has trades) and the empty klines (at eventScratch[EVENT_PRICE]) from there
   * up to the one holding eventScratch[EVENT_TIME].
   */
  private queueClosed(slot: number, i: number): void {
    const rule = this.rules[i]!;
    const time = this.eventScratch[EVENT_TIME]!;
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
    if (n > 0) this.queue.pushEmptyRun(slot, emptyFrom, n, this.eventScratch[EVENT_PRICE]!);
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

}
