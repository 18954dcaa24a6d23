/**
 * Per-symbol sequencing of the producer: turns the live stream (one or two feeds, with duplicates, reconnects
 * and holes) plus REST backfills into one gap-free stream of trades per symbol, in aggregate-id order, each
 * once. Pure: no I/O, no clocks (callers pass `now`); the producer wires it to the WebSocket pools, the REST
 * backfiller and the outgoing buffer.
 *
 * Per symbol: `nextId` (the next aggregate id to release; -1 = nothing known yet, take any), the time of the
 * last released trade, and a mode:
 *
 *   LIVE      live trades are released when contiguous; an older id is a duplicate; a jump is a gap (GAP),
 *             whose backfill is asked at once, or `gapGraceMs` later (two feeds: the other feed may fill it).
 *   WATCH     after a reconnect or a restart: the first live trade proves the stream contiguous (LIVE) or
 *             reveals a gap (GAP); a symbol still quiet at `watchUntil` is checked by REST (GAP).
 *   GAP       a REST backfill from `nextId` runs; live trades are held in id order (HeldTrades, one bound for
 *             all symbols) and a live trade that is the next id is released with the held ones behind it.
 *   DEFERRED  the outgoing buffer could not take the symbol's trades: live trades are discarded (REST will
 *             deliver them) until resumeDeferred() turns the symbol into GAP.
 *
 * Backfill protocol (exact, and one REST call per page, not per hole):
 *   1. The sequencer asks `backfill(symbol, fromId)` with fromId = nextId, at most one request per symbol
 *      outstanding (`pending`). The backfiller keeps only the newest request per symbol.
 *   2. An answer carries the fromId it was asked for. If fromId > nextId it does not cover nextId (the symbol
 *      was deferred back in between): it is stale and ignored. Otherwise the page says which ids exist from
 *      fromId up to its last id (REST is the truth: ids it skips do not exist, e.g. non-market trades).
 *   3. The page and the held trades are merged in id order and released, up to the page's last id: every
 *      hole the page covers is filled. Past it, held trades are released only while contiguous.
 *   4. Then: held trades left behind a hole, or a full page with live trades not yet reached -> ask again
 *      from nextId; everything streamed is released -> LIVE; a short page while held trades are ahead -> REST
 *      lags the stream: ask again (1 s later), and after `maxRestLagRetries` report the ids unfillable.
 * What neither REST nor the stream can give is reported through `unfillable` with the id range; nothing is
 * skipped silently and nothing is invented.
 *
 * Watermark holds: a symbol that is not LIVE holds its partition's watermark at `holdTime`: the time up to
 * which everything of the symbol is known to be released (its last released trade, or for WATCH the event
 * time its connection had reached when it was lost).
 */
import type { AggTradeRecord } from '../exchange/aggtrade-frame';
import { createAggTradeRecord } from '../exchange/aggtrade-frame';
import type { RestAggTrade } from '../exchange/binance-rest';
import { ALREADY_HELD, HeldBudget, HeldTrades, NO_ROOM } from './held-trades';

export const LIVE = 0;
export const WATCH = 1;
export const GAP = 2;
export const DEFERRED = 3;
export type SymbolMode = typeof LIVE | typeof WATCH | typeof GAP | typeof DEFERRED;
const MODE_NAMES = ['live', 'watch', 'gap', 'deferred'] as const;

/** A REST trade the backfiller found implausible (docs/times.md): reported unfillable, never released. */
export interface CheckedRestTrade extends RestAggTrade {
  implausible?: string;
}

export interface SequencerSink {
  /**
   * Releases a trade (copy the values now: `r` is reused). Returns false when it cannot be taken (the
   * outgoing buffer is full): the sequencer then defers the symbol.
   */
  release(symbol: number, r: AggTradeRecord, fromRest: boolean): boolean;
  /** A REST backfill of `symbol` from `fromId` is wanted; answer with backfillPage() or backfillSkip() naming that fromId. */
  backfill(symbol: number, fromId: number, lastTradeTime: number): void;
  /** A stretch of aggregate ids that will never be written (toId -1: up to whatever streams next). */
  unfillable(symbol: number, fromId: number, toId: number, reason: string): void;
}

export interface SequencerOptions {
  /** Live trades held by all symbols together while they backfill (slots, see HeldTrades). Default 2,000,000. */
  maxHeldTotal?: number;
  /** A quiet symbol after a reconnect is checked by REST this long after the connection opened. */
  watchDelayMs?: number;
  /** Short REST answers tolerated while held live trades are still ahead of REST (REST lags the stream). */
  maxRestLagRetries?: number;
  /** A jump found on a LIVE symbol is backfilled this long later (two feeds: the other one may fill it). Default 0. */
  gapGraceMs?: number;
  /** `accept`: a jump in ids is taken as it is (recorded files, which may hold any subset of trades). */
  gapPolicy?: 'backfill' | 'accept';
}

export interface SequencerCounters {
  released: number;
  releasedFromRest: number;
  duplicates: number;
  gapsFound: number;
  gapsFilled: number;
  /** Gaps that closed without REST: the other feed delivered the missing ids within the grace. */
  gapsFilledLive: number;
  unfillableGaps: number;
  unfillableIds: number;
  /** Live trades not held because every held slot was in use (they come from REST instead). */
  heldRefused: number;
  deferredDiscarded: number;
  /** Times a symbol was deferred (its trades to come from REST later): a full outgoing buffer. */
  deferrals: number;
  /** REST trades refused for an implausible time (reported unfillable). */
  implausibleRestTrades: number;
}

/** Half-life of the activity score that orders backfills (most active first). */
const ACTIVITY_HALF_LIFE_MS = 30_000;

export class SymbolSequencer {
  readonly counters: SequencerCounters = {
    released: 0, releasedFromRest: 0, duplicates: 0, gapsFound: 0, gapsFilled: 0, gapsFilledLive: 0, unfillableGaps: 0, unfillableIds: 0,
    heldRefused: 0, deferredDiscarded: 0, deferrals: 0, implausibleRestTrades: 0,
  };
  readonly heldBudget: HeldBudget;
  private readonly watchDelayMs: number;
  private readonly maxRestLagRetries: number;
  private readonly gapGraceMs: number;
  private readonly acceptJumps: boolean;

  private capacity = 0;
  private nextId = new Float64Array(0);
  private lastTime = new Float64Array(0);
  private mode = new Uint8Array(0);
  private holdAt = new Float64Array(0);
  private watchUntil = new Float64Array(0);
  private restLagRetries = new Float64Array(0);
  private backfillPending = new Uint8Array(0);
  /** GAP: wall time at which the backfill is asked (gapGraceMs after the jump); NaN = asked or not due. */
  private backfillDue = new Float64Array(0);
  /** 1 while a counted gap (gapsFound) is open, so it is counted as filled once (REST checks that find nothing count neither). */
  private gapOpen = new Uint8Array(0);
  /** GAP: the highest live id seen since the gap opened (-1 = none): the gap ends once it is released. */
  private newestLive = new Float64Array(0);
  /** GAP: the connection broke meanwhile: when the gap ends the symbol is watched, not LIVE. */
  private watchAfterGap = new Uint8Array(0);
  private lostReached = new Float64Array(0);
  /** Trades released, decayed (half-life 30 s): what "most active" means for the order of backfills. */
  private activityScore = new Float64Array(0);
  private activityAt = 0;
  private readonly held: Array<HeldTrades | undefined> = [];
  /** Symbols not LIVE: the watermark clock's holds. Changes on mode transitions only. */
  private readonly notLive = new Set<number>();
  /** GAP symbols whose backfill waits for its grace. */
  private readonly graceWaiting = new Set<number>();
  private readonly scratch = createAggTradeRecord();

  constructor(private readonly sink: SequencerSink, options: SequencerOptions = {}) {
    this.heldBudget = new HeldBudget(options.maxHeldTotal ?? 2_000_000);
    this.watchDelayMs = options.watchDelayMs ?? 3000;
    this.maxRestLagRetries = options.maxRestLagRetries ?? 20;
    this.gapGraceMs = options.gapGraceMs ?? 0;
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

  /** Trades held by every symbol together (behind open gaps). */
  get heldTotal(): number {
    return this.heldBudget.held;
  }

  /**
   * Whether an answer to a backfill from `fromId` would still be used: the backfiller skips a queued request
   * the symbol no longer needs (its gap closed live meanwhile, or it was deferred back below fromId).
   */
  wantsBackfill(symbol: number, fromId: number): boolean {
    return symbol < this.capacity && this.mode[symbol] === GAP && fromId <= this.nextId[symbol]!;
  }

  /** Recent trades of the symbol (decayed count): backfills of the most active symbols go first. */
  activity(symbol: number): number {
    return symbol < this.capacity ? this.activityScore[symbol]! : 0;
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

  /** One live trade of `symbol` (the frame parser's reused record); `now` = local time of receipt. */
  live(symbol: number, r: AggTradeRecord, now = 0): void {
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
          this.openGap(symbol, a, this.lastTime[symbol]!);
          this.hold(symbol, r);
          if (this.gapGraceMs > 0) {
            this.backfillDue[symbol] = now + this.gapGraceMs;
            this.graceWaiting.add(symbol);
          } else {
            this.requestBackfill(symbol);
          }
        }
        return;
      case WATCH:
        if (a === next || next < 0) {
          this.setMode(symbol, LIVE, NaN);
          this.release(symbol, r, false);
        } else {
          this.openGap(symbol, a, this.holdAt[symbol]!);
          this.hold(symbol, r);
          this.requestBackfill(symbol);
        }
        return;
      case GAP:
        if (a > this.newestLive[symbol]!) this.newestLive[symbol] = a;
        if (a === next) {
          // The hole fills live (the other feed had it): release it and what is held behind it.
          if (!this.release(symbol, r, false)) return;
          this.releaseContiguousHeld(symbol);
          if (this.mode[symbol] === GAP && this.heldCount(symbol) === 0 && this.nextId[symbol]! > this.newestLive[symbol]!) {
            this.counters.gapsFilledLive++;
            this.finishGap(symbol);
          }
          return;
        }
        this.hold(symbol, r);
        return;
      default:
        this.counters.deferredDiscarded++;
    }
  }

  /** The connection(s) carrying `symbols` broke; `reachedTime` = the event time they had delivered everything up to. */
  connectionLost(symbols: readonly number[], reachedTime: number): void {
    for (const s of symbols) {
      if (s >= this.capacity) this.ensure(s + 1);
      if (this.nextId[s]! < 0 || this.acceptJumps) continue;
      if (this.mode[s] === GAP) {
        // Its live trades stop meanwhile: once the gap is filled it must prove its stream again.
        if (this.watchAfterGap[s] === 0) this.lostReached[s] = reachedTime;
        this.watchAfterGap[s] = 1;
        this.watchUntil[s] = Infinity;
        continue;
      }
      if (this.mode[s] !== LIVE) continue;
      this.setMode(s, WATCH, Math.max(this.lastTime[s]!, reachedTime));
      this.watchUntil[s] = Infinity;
    }
  }

  /** A connection carrying `symbols` is open (again): watched symbols get their REST check deadline. */
  connectionOpened(symbols: readonly number[], now: number): void {
    for (const s of symbols) {
      if (s >= this.capacity || this.watchUntil[s] !== Infinity) continue;
      if (this.mode[s] === WATCH || (this.mode[s] === GAP && this.watchAfterGap[s] === 1)) this.watchUntil[s] = now + this.watchDelayMs;
    }
  }

  /** Periodic: backfills whose grace ended are asked; watched symbols past their deadline are checked by REST. */
  tick(now: number): void {
    for (const s of this.graceWaiting) {
      if (this.mode[s] !== GAP) {
        this.graceWaiting.delete(s);
      } else if (this.backfillDue[s]! <= now) {
        this.graceWaiting.delete(s);
        this.backfillDue[s] = NaN;
        this.requestBackfill(s);
      }
    }
    for (const s of this.notLive) {
      if (this.mode[s] === WATCH && this.watchUntil[s]! <= now) {
        this.openGap(s, -1, this.holdAt[s]!);
        this.requestBackfill(s);
      }
    }
    this.decayActivity(now);
  }

  /**
   * A REST answer for the backfill of `symbol` asked `fromId` (trades with id >= fromId, ascending; `limit` =
   * the page size asked for: a shorter page means REST has nothing newer). See the protocol in the header.
   */
  backfillPage(symbol: number, fromId: number, trades: readonly CheckedRestTrade[], limit: number): void {
    if (symbol >= this.capacity) return;
    if (this.mode[symbol] !== GAP) {
      this.backfillPending[symbol] = 0;
      return;
    }
    // Step 2: a page that starts above nextId does not cover it (a stale answer): a newer request is out.
    if (fromId > this.nextId[symbol]!) return;
    this.backfillPending[symbol] = 0;
    const held = this.heldOf(symbol);
    const r = this.scratch;
    const n = trades.length;
    const full = n >= limit;
    let i = 0;
    let j = 0;
    // Step 3: merge the page and the held trades in id order.
    for (;;) {
      const next = this.nextId[symbol]!;
      const p = i < n ? trades[i]!.aggId : Infinity;
      const h = j < held.length ? held.aggId[j]! : Infinity;
      if (p === Infinity && h === Infinity) break;
      if (p < next) {
        i++;
        continue;
      }
      if (h < next) {
        j++;
        this.counters.duplicates++;
        continue;
      }
      if (p < h) {
        const t = trades[i++]!;
        if (t.implausible !== undefined) {
          this.counters.implausibleRestTrades++;
          this.reportUnfillable(symbol, t.aggId, t.aggId, t.implausible);
          this.nextId[symbol] = t.aggId + 1;
          continue;
        }
        restRecord(t, r);
        if (!this.release(symbol, r, true)) return;
        // A REST check of a watched symbol that finds trades has found a gap.
        this.foundGap(symbol);
        this.holdAt[symbol] = t.tradeTime;
        continue;
      }
      // Inside the page every id between nextId and h is known not to exist; past it, only contiguous.
      if (p === Infinity && h > next) break;
      if (p === h) i++; // the same trade both ways: the live copy (with its event time) is released
      held.read(j++, r);
      if (!this.release(symbol, r, false)) return;
      this.holdAt[symbol] = r.tradeTime;
    }
    held.dropFirst(j);
    // Step 4.
    const next = this.nextId[symbol]!;
    if (held.length > 0) {
      if (full) {
        this.restLagRetries[symbol] = 0;
        this.requestBackfill(symbol);
      } else {
        this.restLagged(symbol, held.aggId[0]! - 1);
      }
      return;
    }
    const newest = this.newestLive[symbol]!;
    if (newest >= next) {
      // Live trades streamed that were not held (no room): REST must reach them.
      if (full) {
        this.restLagRetries[symbol] = 0;
        this.requestBackfill(symbol);
      } else {
        this.restLagged(symbol, newest);
      }
      return;
    }
    if (full && newest < 0) {
      // Nothing streamed since the gap opened (a restart's catch-up, a quiet symbol's check): go on paging.
      this.restLagRetries[symbol] = 0;
      this.requestBackfill(symbol);
      return;
    }
    // Everything streamed is released (or REST has nothing newer): the symbol is complete.
    this.finishGap(symbol);
  }

  /**
   * The backfiller cannot (or may not) fetch from `fromId` (= the request's): ids below `resumeAt` are given
   * up (e.g. older than the backfill limit, or REST refuses the symbol); the backfill goes on from there, or,
   * with resumeAt = Infinity, the held live trades are released as they are. `missed` = false: the ids below
   * `resumeAt` are not trades of ours that were lost (a new listing's history before we could have streamed
   * it), so no unfillable gap is reported.
   */
  backfillSkip(symbol: number, fromId: number, resumeAt: number, reason: string, missed = true): void {
    if (symbol >= this.capacity) return;
    if (this.mode[symbol] !== GAP) {
      this.backfillPending[symbol] = 0;
      return;
    }
    if (fromId > this.nextId[symbol]!) return;
    this.backfillPending[symbol] = 0;
    const held = this.heldOf(symbol);
    const firstHeld = held.first;
    const to = Math.min(resumeAt, firstHeld);
    const next = this.nextId[symbol]!;
    if (to === Infinity) {
      // Nothing held and nothing fetchable: the symbol goes on with whatever streams next.
      if (missed) this.reportUnfillable(symbol, next, -1, reason);
      this.nextId[symbol] = -1;
      this.finishGap(symbol);
      return;
    }
    if (to > next && missed) this.reportUnfillable(symbol, next, to - 1, reason);
    this.nextId[symbol] = Math.max(next, to);
    if (to < firstHeld) {
      this.requestBackfill(symbol);
      return;
    }
    this.releaseContiguousHeld(symbol);
    if (this.mode[symbol] !== GAP) return;
    if (held.length > 0) this.requestBackfill(symbol);
    else if (this.newestLive[symbol]! >= this.nextId[symbol]!) this.requestBackfill(symbol);
    else this.finishGap(symbol);
  }

  /**
   * The outgoing buffer could not take the symbol's trades (full, or dropped while Kafka was away): the
   * symbol restarts from `nextId` once resumeDeferred() is called; until then live trades are discarded.
   */
  defer(symbol: number, nextId: number, lastTradeTime: number): void {
    this.ensure(symbol + 1);
    this.counters.deferrals++;
    this.nextId[symbol] = nextId;
    this.lastTime[symbol] = lastTradeTime;
    const held = this.held[symbol];
    if (held !== undefined) {
      this.counters.deferredDiscarded += held.length;
      held.clear();
    }
    // An answer still out for the old fromId is stale from now on (it starts above nextId, or the mode
    // is not GAP when it comes): the request resumeDeferred() makes is the one that counts.
    this.backfillPending[symbol] = 0;
    this.setMode(symbol, DEFERRED, lastTradeTime);
  }

  /** Room again: every deferred symbol backfills what was dropped. Returns how many. */
  resumeDeferred(): number {
    let n = 0;
    for (const s of [...this.notLive]) {
      if (this.mode[s] !== DEFERRED) continue;
      this.openGap(s, -1, this.holdAt[s]!);
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
    this.activityScore[symbol]++;
    this.counters.released++;
    if (fromRest) this.counters.releasedFromRest++;
    return true;
  }

  /** GAP: releases the held trades while they continue nextId (and drops the duplicates before it). */
  private releaseContiguousHeld(symbol: number): void {
    const held = this.held[symbol];
    if (held === undefined || held.length === 0) return;
    const r = this.scratch;
    let i = 0;
    for (; i < held.length; i++) {
      const a = held.aggId[i]!;
      const next = this.nextId[symbol]!;
      if (a < next) {
        this.counters.duplicates++;
        continue;
      }
      if (a > next) break;
      held.read(i, r);
      if (!this.release(symbol, r, false)) return;
      this.holdAt[symbol] = r.tradeTime;
    }
    held.dropFirst(i);
  }

  private hold(symbol: number, r: AggTradeRecord): void {
    const result = this.heldOf(symbol).insert(r);
    if (result === ALREADY_HELD) this.counters.duplicates++;
    else if (result === NO_ROOM) this.counters.heldRefused++;
  }

  private heldOf(symbol: number): HeldTrades {
    let held = this.held[symbol];
    if (held === undefined) held = this.held[symbol] = new HeldTrades(this.heldBudget);
    return held;
  }

  /** Into GAP; `seen` = the live id that revealed it (-1: none, a REST check). */
  private openGap(symbol: number, seen: number, hold: number): void {
    if (seen >= 0) this.foundGap(symbol);
    this.newestLive[symbol] = seen;
    this.restLagRetries[symbol] = 0;
    this.setMode(symbol, GAP, hold);
  }

  /** A short page while live trades up to `upTo` are still ahead: REST lags the stream. Ask again, then give up. */
  private restLagged(symbol: number, upTo: number): void {
    if (++this.restLagRetries[symbol]! <= this.maxRestLagRetries) {
      this.requestBackfill(symbol);
      return;
    }
    this.reportUnfillable(symbol, this.nextId[symbol]!, upTo, 'REST does not have these ids although later trades streamed');
    this.nextId[symbol] = upTo + 1;
    this.restLagRetries[symbol] = 0;
    this.releaseContiguousHeld(symbol);
    if (this.mode[symbol] !== GAP) return;
    if (this.heldCount(symbol) > 0 || this.newestLive[symbol]! >= this.nextId[symbol]!) this.requestBackfill(symbol);
    else this.finishGap(symbol);
  }

  private finishGap(symbol: number): void {
    // A request still out is stale now (an answer is only taken in GAP, and only if it covers nextId).
    this.backfillPending[symbol] = 0;
    this.restLagRetries[symbol] = 0;
    this.backfillDue[symbol] = NaN;
    this.newestLive[symbol] = -1;
    if (this.gapOpen[symbol] === 1) {
      this.gapOpen[symbol] = 0;
      this.counters.gapsFilled++;
    }
    this.held[symbol]?.clear();
    if (this.watchAfterGap[symbol] === 1) {
      this.watchAfterGap[symbol] = 0;
      this.setMode(symbol, WATCH, Math.max(this.lastTime[symbol]!, this.lostReached[symbol]!));
      return;
    }
    this.setMode(symbol, LIVE, NaN);
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

  private decayActivity(now: number): void {
    if (this.activityAt === 0 || now < this.activityAt) {
      this.activityAt = now;
      return;
    }
    const dt = now - this.activityAt;
    if (dt < 1000) return;
    this.activityAt = now;
    const f = Math.pow(0.5, dt / ACTIVITY_HALF_LIFE_MS);
    const a = this.activityScore;
    for (let s = 0; s < this.capacity; s++) a[s] = a[s]! * f;
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
    this.backfillDue = f64(this.backfillDue, NaN);
    this.gapOpen = u8(this.gapOpen);
    this.newestLive = f64(this.newestLive, -1);
    this.watchAfterGap = u8(this.watchAfterGap);
    this.lostReached = f64(this.lostReached, -Infinity);
    this.activityScore = f64(this.activityScore, 0);
    this.capacity = cap;
  }
}

/** A REST trade as the record the sink takes. REST has no event time: the trade time stands in for it. */
function restRecord(t: RestAggTrade, r: AggTradeRecord): void {
  r.aggId = t.aggId;
  r.firstTradeId = t.firstTradeId;
  r.lastTradeId = t.lastTradeId;
  r.price = t.price;
  r.quantity = t.quantity;
  r.tradeTime = t.tradeTime;
  r.eventTime = t.tradeTime;
  r.isBuyerMaker = t.isBuyerMaker;
}
