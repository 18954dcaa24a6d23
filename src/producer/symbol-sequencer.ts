/**
 * Per-symbol sequencing of the producer: turns the live stream (with its duplicates, reconnects and holes)
 * plus REST backfills into one gap-free stream of trades per symbol, in aggregate-id order, each once.
 * Pure: no I/O, no clocks (callers pass `now`); the producer wires it to the WebSocket pool, the REST
 * backfiller and the outgoing buffer.
 *
 * Per symbol: `nextId` (the next aggregate id to release; -1 = nothing known yet, take any), the time of the
 * last released trade, and a mode:
 *
 *   LIVE      live trades are released when contiguous; an older id is a duplicate; a jump is a gap (GAP).
 *   WATCH     after a reconnect or a restart: the first live trade proves the stream contiguous (LIVE) or
 *             reveals a gap (GAP); a symbol still quiet at `watchUntil` is checked by REST (GAP).
 *   GAP       a REST backfill from `nextId` runs; live trades are held (bounded) and released once the
 *             backfill reaches the first of them.
 *   DEFERRED  Kafka was away and the outgoing buffer was dropped: live trades are discarded (REST will
 *             deliver them) until resume() turns the symbol into GAP.
 *
 * REST is the truth for what exists: ids it skips do not exist (e.g. non-market trades), so a REST page whose
 * next id is above `nextId` is not a gap. What neither REST nor the stream can give is reported through
 * `unfillable` with the id range; nothing is invented.
 *
 * Watermark holds: a symbol that is not LIVE holds its partition's watermark at `holdTime`: the time up to
 * which everything of the symbol is known to be released (its last released trade, or for WATCH the event
 * time its connection had reached when it was lost).
 */
import type { AggTradeRecord } from '../exchange/aggtrade-frame';
import { createAggTradeRecord } from '../exchange/aggtrade-frame';
import type { RestAggTrade } from '../exchange/binance-rest';

export const LIVE = 0;
export const WATCH = 1;
export const GAP = 2;
export const DEFERRED = 3;
export type SymbolMode = typeof LIVE | typeof WATCH | typeof GAP | typeof DEFERRED;
const MODE_NAMES = ['live', 'watch', 'gap', 'deferred'] as const;

export interface SequencerSink {
  /**
   * Releases a trade (copy the values now: `r` is reused). Returns false when it cannot be taken (the
   * outgoing buffer is full): the sequencer then defers the symbol.
   */
  release(symbol: number, r: AggTradeRecord, fromRest: boolean): boolean;
  /** A REST backfill of `symbol` from `fromId` is wanted; answer with backfillPage() or backfillSkip(). */
  backfill(symbol: number, fromId: number, lastTradeTime: number): void;
  /** A stretch of aggregate ids that will never be written. */
  unfillable(symbol: number, fromId: number, toId: number, reason: string): void;
}

export interface SequencerOptions {
  /** Live trades held per symbol while it backfills; past it the held ones are dropped (REST covers them). */
  maxHeldPerSymbol?: number;
  /** A quiet symbol after a reconnect is checked by REST this long after the connection opened. */
  watchDelayMs?: number;
  /** Short REST answers tolerated while held live trades are still ahead of REST (REST lags the stream). */
  maxRestLagRetries?: number;
  /** `accept`: a jump in ids is taken as it is (recorded files, which may hold any subset of trades). */
  gapPolicy?: 'backfill' | 'accept';
}

export interface SequencerCounters {
  released: number;
  releasedFromRest: number;
  duplicates: number;
  gapsFound: number;
  gapsFilled: number;
  unfillableGaps: number;
  unfillableIds: number;
  heldDropped: number;
  deferredDiscarded: number;
  /** Times a symbol was deferred (its trades to come from REST later): a full outgoing buffer. */
  deferrals: number;
}

/** Live trades of one symbol waiting for its backfill: columns, grown on demand up to the per-symbol bound. */
class HeldTrades {
  length = 0;
  aggId = new Float64Array(64);
  firstTradeId = new Float64Array(64);
  lastTradeId = new Float64Array(64);
  price = new Float64Array(64);
  quantity = new Float64Array(64);
  tradeTime = new Float64Array(64);
  eventTime = new Float64Array(64);
  maker = new Uint8Array(64);

  push(r: AggTradeRecord): void {
    if (this.length === this.aggId.length) this.grow();
    const i = this.length++;
    this.aggId[i] = r.aggId;
    this.firstTradeId[i] = r.firstTradeId;
    this.lastTradeId[i] = r.lastTradeId;
    this.price[i] = r.price;
    this.quantity[i] = r.quantity;
    this.tradeTime[i] = r.tradeTime;
    this.eventTime[i] = r.eventTime;
    this.maker[i] = r.isBuyerMaker ? 1 : 0;
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

  /** Removes the first `k` trades (already released). */
  dropFirst(k: number): void {
    const n = this.length - k;
    this.aggId.copyWithin(0, k, this.length);
    this.firstTradeId.copyWithin(0, k, this.length);
    this.lastTradeId.copyWithin(0, k, this.length);
    this.price.copyWithin(0, k, this.length);
    this.quantity.copyWithin(0, k, this.length);
    this.tradeTime.copyWithin(0, k, this.length);
    this.eventTime.copyWithin(0, k, this.length);
    this.maker.copyWithin(0, k, this.length);
    this.length = n;
  }

  private grow(): void {
    const n = this.aggId.length * 2;
    const f = (a: Float64Array) => {
      const b = new Float64Array(n);
      b.set(a);
      return b;
    };
    this.aggId = f(this.aggId);
    this.firstTradeId = f(this.firstTradeId);
    this.lastTradeId = f(this.lastTradeId);
    this.price = f(this.price);
    this.quantity = f(this.quantity);
    this.tradeTime = f(this.tradeTime);
    this.eventTime = f(this.eventTime);
    const m = new Uint8Array(n);
    m.set(this.maker);
    this.maker = m;
  }
}

export class SymbolSequencer {
  readonly counters: SequencerCounters = {
    released: 0, releasedFromRest: 0, duplicates: 0, gapsFound: 0, gapsFilled: 0, unfillableGaps: 0, unfillableIds: 0, heldDropped: 0, deferredDiscarded: 0, deferrals: 0,
  };
  private readonly maxHeld: number;
  private readonly watchDelayMs: number;
  private readonly maxRestLagRetries: number;
  private readonly acceptJumps: boolean;

  private capacity = 0;
  private nextId = new Float64Array(0);
  private lastTime = new Float64Array(0);
  private mode = new Uint8Array(0);
  private holdAt = new Float64Array(0);
  private watchUntil = new Float64Array(0);
  private restLagRetries = new Float64Array(0);
  private backfillPending = new Uint8Array(0);
  /** 1 while a counted gap (gapsFound) is open, so it is counted as filled once (REST checks that find nothing count neither). */
  private gapOpen = new Uint8Array(0);
  private readonly held: Array<HeldTrades | undefined> = [];
  /** Symbols not LIVE: the watermark clock's holds. Changes on mode transitions only. */
  private readonly notLive = new Set<number>();
  private readonly scratch = createAggTradeRecord();

  constructor(private readonly sink: SequencerSink, options: SequencerOptions = {}) {
    this.maxHeld = options.maxHeldPerSymbol ?? 200_000;
    this.watchDelayMs = options.watchDelayMs ?? 3000;
    this.maxRestLagRetries = options.maxRestLagRetries ?? 20;
    this.acceptJumps = options.gapPolicy === 'accept';
    this.ensure(1024);
  }

  // ---- what is known ------------------------------------------------------------------------------------

  modeOf(symbol: number): SymbolMode {
    return symbol < this.capacity ? (this.mode[symbol] as SymbolMode) : LIVE;
  }

  modeName(symbol: number): string {
    return MODE_NAMES[this.modeOf(symbol)];
  }

  /** Next aggregate id expected; -1 when nothing is known of the symbol. */
  expectedId(symbol: number): number {
    return symbol < this.capacity ? this.nextId[symbol]! : -1;
  }

  lastReleasedTime(symbol: number): number {
    return symbol < this.capacity ? this.lastTime[symbol]! : -1;
  }

  /** NaN when the symbol holds no watermark (LIVE), else the time up to which it is complete. */
  holdTime(symbol: number): number {
    return symbol < this.capacity && this.mode[symbol] !== LIVE ? this.holdAt[symbol]! : NaN;
  }

  /** Symbols that hold their partition's watermark (not LIVE). Do not modify. */
  holdingSymbols(): ReadonlySet<number> {
    return this.notLive;
  }

  heldCount(symbol: number): number {
    return this.held[symbol]?.length ?? 0;
  }

  // ---- inputs -------------------------------------------------------------------------------------------

  /** A restart: the symbol's last trade in Kafka. It is watched until its stream proves it contiguous. */
  resume(symbol: number, lastAggId: number, lastTradeTime: number): void {
    this.ensure(symbol + 1);
    this.nextId[symbol] = lastAggId + 1;
    this.lastTime[symbol] = lastTradeTime;
    if (this.acceptJumps) return;
    this.setMode(symbol, WATCH, lastTradeTime);
    this.watchUntil[symbol] = Infinity;
  }

  /** One live trade of `symbol` (the frame parser's reused record). */
  live(symbol: number, r: AggTradeRecord): void {
    if (symbol >= this.capacity) this.ensure(symbol + 1);
    const next = this.nextId[symbol]!;
    const a = r.aggId;
    if (a < next) {
      this.counters.duplicates++;
      return;
    }
    switch (this.mode[symbol]) {
      case LIVE:
        if (a === next || next < 0 || this.acceptJumps) {
          this.release(symbol, r, false);
        } else {
          this.foundGap(symbol);
          this.setMode(symbol, GAP, this.lastTime[symbol]!);
          this.hold(symbol, r);
          this.requestBackfill(symbol);
        }
        return;
      case WATCH:
        if (a === next || next < 0) {
          this.setMode(symbol, LIVE, NaN);
          this.release(symbol, r, false);
        } else {
          this.foundGap(symbol);
          this.setMode(symbol, GAP, this.holdAt[symbol]!);
          this.hold(symbol, r);
          this.requestBackfill(symbol);
        }
        return;
      case GAP:
        this.hold(symbol, r);
        return;
      default:
        this.counters.deferredDiscarded++;
    }
  }

  /** The connection carrying `symbols` broke; `reachedTime` = the event time it had delivered everything up to. */
  connectionLost(symbols: readonly number[], reachedTime: number): void {
    for (const s of symbols) {
      if (s >= this.capacity) this.ensure(s + 1);
      if (this.mode[s] !== LIVE || this.nextId[s]! < 0 || this.acceptJumps) continue;
      this.setMode(s, WATCH, Math.max(this.lastTime[s]!, reachedTime));
      this.watchUntil[s] = Infinity;
    }
  }

  /** A connection carrying `symbols` is open (again): watched symbols get their REST check deadline. */
  connectionOpened(symbols: readonly number[], now: number): void {
    for (const s of symbols) {
      if (s < this.capacity && this.mode[s] === WATCH && this.watchUntil[s] === Infinity) this.watchUntil[s] = now + this.watchDelayMs;
    }
  }

  /** Periodic: watched symbols past their deadline are checked by REST. */
  tick(now: number): void {
    for (const s of this.notLive) {
      if (this.mode[s] === WATCH && this.watchUntil[s]! <= now) {
        this.setMode(s, GAP, this.holdAt[s]!);
        this.requestBackfill(s);
      }
    }
  }

  /**
   * A REST answer for the backfill of `symbol` (trades with id >= the requested one, ascending; `limit` =
   * the page size asked for: a shorter page means REST has nothing newer).
   */
  backfillPage(symbol: number, trades: readonly RestAggTrade[], limit: number): void {
    this.backfillPending[symbol] = 0;
    if (this.mode[symbol] !== GAP) return;
    const held = this.held[symbol];
    const firstHeld = held !== undefined && held.length > 0 ? held.aggId[0]! : Infinity;
    let caughtUp = false;
    for (const t of trades) {
      if (t.aggId < this.nextId[symbol]!) continue;
      if (t.aggId >= firstHeld) {
        // REST's next id is at or past the first held trade: no id exists in between.
        caughtUp = true;
        this.nextId[symbol] = firstHeld;
        break;
      }
      const r = this.scratch;
      r.aggId = t.aggId;
      r.firstTradeId = t.firstTradeId;
      r.lastTradeId = t.lastTradeId;
      r.price = t.price;
      r.quantity = t.quantity;
      r.tradeTime = t.tradeTime;
      // REST has no event time; the trade time stands in for it (documented in docs/kafka-design.md).
      r.eventTime = t.tradeTime;
      r.isBuyerMaker = t.isBuyerMaker;
      if (!this.release(symbol, r, true)) return;
      // A REST check of a watched symbol that finds trades has found a gap.
      this.foundGap(symbol);
      this.holdAt[symbol] = t.tradeTime;
    }
    if (caughtUp || this.nextId[symbol]! >= firstHeld || (trades.length < limit && firstHeld === Infinity)) {
      this.finishGap(symbol);
      return;
    }
    if (trades.length >= limit) {
      this.restLagRetries[symbol] = 0;
      this.requestBackfill(symbol);
      return;
    }
    // Held live trades are ahead of what REST returned: REST lags the stream. Ask again, then give up.
    if (++this.restLagRetries[symbol]! > this.maxRestLagRetries) {
      this.reportUnfillable(symbol, this.nextId[symbol]!, firstHeld - 1, 'REST does not have these ids although later trades streamed');
      this.nextId[symbol] = firstHeld;
      this.finishGap(symbol);
      return;
    }
    this.requestBackfill(symbol);
  }

  /**
   * The backfiller cannot (or may not) fetch from `nextId`: ids below `resumeAt` are given up (e.g. older than
   * the backfill limit, or REST refuses the symbol); the backfill goes on from there, or, with resumeAt =
   * Infinity, the held live trades are released as they are. `missed` = false: the ids below `resumeAt` are
   * not trades of ours that were lost (a new listing's history before we could have streamed it), so no
   * unfillable gap is reported.
   */
  backfillSkip(symbol: number, resumeAt: number, reason: string, missed = true): void {
    this.backfillPending[symbol] = 0;
    if (this.mode[symbol] !== GAP) return;
    const held = this.held[symbol];
    const firstHeld = held !== undefined && held.length > 0 ? held.aggId[0]! : Infinity;
    const to = Math.min(resumeAt, firstHeld);
    if (to === Infinity) {
      // Nothing held and nothing fetchable: the symbol goes on with whatever streams next.
      if (missed) this.reportUnfillable(symbol, this.nextId[symbol]!, -1, reason);
      this.nextId[symbol] = -1;
      this.finishGap(symbol);
      return;
    }
    if (to > this.nextId[symbol]! && missed) this.reportUnfillable(symbol, this.nextId[symbol]!, to - 1, reason);
    this.nextId[symbol] = Math.max(this.nextId[symbol]!, to);
    if (to === firstHeld) this.finishGap(symbol);
    else this.requestBackfill(symbol);
  }

  /**
   * The outgoing buffer was dropped (Kafka away too long): the symbol restarts from its last committed
   * trade once Kafka is back; until then live trades are discarded.
   */
  defer(symbol: number, nextId: number, lastTradeTime: number): void {
    this.ensure(symbol + 1);
    this.counters.deferrals++;
    this.nextId[symbol] = nextId;
    this.lastTime[symbol] = lastTradeTime;
    const held = this.held[symbol];
    if (held !== undefined) {
      this.counters.deferredDiscarded += held.length;
      held.length = 0;
    }
    this.backfillPending[symbol] = 0;
    this.setMode(symbol, DEFERRED, lastTradeTime);
  }

  /** Kafka is back: every deferred symbol backfills what was dropped. */
  resumeDeferred(): number {
    let n = 0;
    for (const s of [...this.notLive]) {
      if (this.mode[s] !== DEFERRED) continue;
      this.setMode(s, GAP, this.holdAt[s]!);
      this.foundGap(s);
      this.requestBackfill(s);
      n++;
    }
    return n;
  }

  // ---- internals ----------------------------------------------------------------------------------------

  private release(symbol: number, r: AggTradeRecord, fromRest: boolean): boolean {
    if (!this.sink.release(symbol, r, fromRest)) {
      // The sink deferred whatever it had to; make sure this symbol does not advance past the trade.
      if (this.mode[symbol] !== DEFERRED) this.defer(symbol, r.aggId, this.lastTime[symbol]!);
      return false;
    }
    this.nextId[symbol] = r.aggId + 1;
    this.lastTime[symbol] = r.tradeTime;
    this.counters.released++;
    if (fromRest) this.counters.releasedFromRest++;
    return true;
  }

  private hold(symbol: number, r: AggTradeRecord): void {
    let held = this.held[symbol];
    if (held === undefined) held = this.held[symbol] = new HeldTrades();
    if (held.length > 0 && r.aggId <= held.aggId[held.length - 1]!) {
      this.counters.duplicates++;
      return;
    }
    if (held.length >= this.maxHeld) {
      // Bounded memory: forget the held trades; the backfill now runs until it meets newer live trades.
      this.counters.heldDropped += held.length;
      held.length = 0;
    }
    held.push(r);
  }

  private finishGap(symbol: number): void {
    const held = this.held[symbol];
    this.restLagRetries[symbol] = 0;
    this.setMode(symbol, LIVE, NaN);
    if (this.gapOpen[symbol] === 1) {
      this.gapOpen[symbol] = 0;
      this.counters.gapsFilled++;
    }
    if (held === undefined) return;
    const r = this.scratch;
    const n = held.length;
    let i = 0;
    for (; i < n; i++) {
      const a = held.aggId[i]!;
      if (a < this.nextId[symbol]!) {
        this.counters.duplicates++;
        continue;
      }
      // The held trades themselves may have a hole (a frame lost while the symbol was backfilling).
      if (a > this.nextId[symbol]! && !this.acceptJumps) break;
      held.read(i, r);
      if (!this.release(symbol, r, false)) {
        held.length = 0;
        return;
      }
    }
    if (i === n) {
      held.length = 0;
      return;
    }
    held.dropFirst(i);
    this.foundGap(symbol);
    this.setMode(symbol, GAP, this.lastTime[symbol]!);
    this.requestBackfill(symbol);
  }

  private foundGap(symbol: number): void {
    if (this.gapOpen[symbol] === 1) return;
    this.gapOpen[symbol] = 1;
    this.counters.gapsFound++;
  }

  private requestBackfill(symbol: number): void {
    if (this.backfillPending[symbol] === 1) return;
    this.backfillPending[symbol] = 1;
    this.sink.backfill(symbol, this.nextId[symbol]!, this.lastTime[symbol]!);
  }

  private reportUnfillable(symbol: number, fromId: number, toId: number, reason: string): void {
    this.foundGap(symbol);
    this.counters.unfillableGaps++;
    if (toId >= fromId) this.counters.unfillableIds += toId - fromId + 1;
    this.sink.unfillable(symbol, fromId, toId, reason);
  }

  private setMode(symbol: number, mode: SymbolMode, hold: number): void {
    this.mode[symbol] = mode;
    this.holdAt[symbol] = hold;
    if (mode === LIVE) this.notLive.delete(symbol);
    else this.notLive.add(symbol);
  }

  private ensure(n: number): void {
    if (n <= this.capacity) return;
    const cap = Math.max(n, this.capacity * 2);
    const f64 = (a: Float64Array, fill: number) => {
      const b = new Float64Array(cap).fill(fill);
      b.set(a);
      return b;
    };
    const u8 = (a: Uint8Array) => {
      const b = new Uint8Array(cap);
      b.set(a);
      return b;
    };
    this.nextId = f64(this.nextId, -1);
    this.lastTime = f64(this.lastTime, -1);
    this.holdAt = f64(this.holdAt, NaN);
    this.watchUntil = f64(this.watchUntil, Infinity);
    this.mode = u8(this.mode);
    this.restLagRetries = f64(this.restLagRetries, 0);
    this.backfillPending = u8(this.backfillPending);
    this.gapOpen = u8(this.gapOpen);
    this.capacity = cap;
  }
}
