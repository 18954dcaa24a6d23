/**
 * Runs the sequencer's backfill requests against REST `aggTrades?fromId=` (the BinanceRest client keeps to
 * the request-weight budget, spread over the minute, and honours 429/418), a few at a time, and hands every
 * answer back with the fromId it was asked for (the sequencer ignores one that no longer covers its next id).
 *
 * Requests, per symbol: at most one queued and one running. A new request for a symbol that is queued
 * replaces the queued one (the newest fromId is what the sequencer needs); one that comes while the symbol's
 * request runs is queued behind it. When a slot frees, the ready request of the most active symbol goes
 * first (SymbolSequencer.activity: after a reconnect the busiest symbols, which hold the most trades and the
 * watermark longest, are checked first); a request the sequencer no longer wants (its gap closed live, from
 * the other feed) is dropped unsent. Transient failures are retried with backoff, forever: a gap is only
 * given up when REST cannot have it (older than the backfill limit, or an exchange answer that says the
 * symbol does not exist).
 *
 * Every REST trade's time is checked (docs/times.md) before the sequencer sees it; an implausible one is
 * marked, and the sequencer reports its id unfillable instead of releasing it.
 *
 * A request with a `startTime` is for a symbol whose first id is unknown (a new listing picked up while
 * running): its first trade at or after that time (exchange clock) is looked up with `aggTrades?startTime=`
 * and the backfill goes on from there; what lies before is not ours, so it is skipped without being
 * reported as a gap.
 */
import type { BinanceRest } from '../exchange/binance-rest';
import { TIME_OK, type TradeTimeCheck } from '../exchange/trade-times';
import { KlinestreamError } from '../errors';
import type { Logger } from '../observability/log';
import type { CheckedRestTrade, SymbolSequencer } from './symbol-sequencer';

export interface BackfillerOptions {
  rest: Pick<BinanceRest, 'aggTrades' | 'aggTradesFrom'>;
  sequencer: SymbolSequencer;
  nameOf: (symbol: number) => string | undefined;
  log: Logger;
  /** Requests in flight at once. Default 2. */
  concurrency?: number;
  /** Older stretches than this are not fetched (recorded as gaps). */
  maxAgeMs: number;
  pageSize?: number;
  now?: () => number;
  metrics?: { request(outcome: string): void };
  /** Plausibility of REST trade times (window, clock); none = every time is taken. */
  times?: TradeTimeCheck;
}

interface Job {
  symbol: number;
  fromId: number;
  lastTradeTime: number;
  /** Set when the symbol's first id is unknown: backfill from its first trade at or after this time. */
  startTime: number | undefined;
  attempt: number;
  notBefore: number;
  /** Arrival order, for ties of activity. */
  seq: number;
}

export class Backfiller {
  /** Requests waiting, one per symbol (the newest). */
  private readonly queued = new Map<number, Job>();
  /** Symbols whose request is in flight. */
  private readonly running = new Set<number>();
  private stopped = false;
  private readonly lastShort = new Set<number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pageSize: number;
  private readonly now: () => number;
  private seq = 0;
  private pumpScheduled = false;
  requests = 0;
  /** Requests dropped unsent because the sequencer no longer wanted them. */
  skipped = 0;

  constructor(private readonly options: BackfillerOptions) {
    this.pageSize = options.pageSize ?? 1000;
    this.now = options.now ?? Date.now;
  }

  get pending(): number {
    return this.queued.size + this.running.size;
  }

  /** The sequencer's SequencerSink.backfill; `startTime`: see the header (a new listing). */
  request(symbol: number, fromId: number, lastTradeTime: number, startTime?: number): void {
    if (this.stopped) return;
    const old = this.queued.get(symbol);
    if (old !== undefined) {
      // The newest request is what the sequencer needs now; keep the old one's backoff.
      old.fromId = fromId;
      old.lastTradeTime = lastTradeTime;
      old.startTime = startTime ?? old.startTime;
      return;
    }
    // An answer that was short a moment ago (REST lagging the stream): give it a second before asking again.
    const notBefore = this.lastShort.has(symbol) ? this.now() + 1000 : 0;
    this.queued.set(symbol, { symbol, fromId, lastTradeTime, startTime, attempt: 0, notBefore, seq: this.seq++ });
    this.schedulePump();
  }

  /**
   * Pumps once the current synchronous work is done, so that a burst of requests (every symbol of a
   * reconnected connection) is queued whole before the most active one is picked.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.queued.clear();
  }

  private pump(): void {
    const limit = this.options.concurrency ?? 2;
    const seqr = this.options.sequencer;
    while (!this.stopped && this.running.size < limit && this.queued.size > 0) {
      const now = this.now();
      let best: Job | undefined;
      let bestScore = -1;
      let wait = Infinity;
      for (const j of this.queued.values()) {
        if (this.running.has(j.symbol)) continue;
        if (j.notBefore > now) {
          wait = Math.min(wait, j.notBefore - now);
          continue;
        }
        const score = seqr.activity(j.symbol);
        if (best === undefined || score > bestScore || (score === bestScore && j.seq < best.seq)) {
          best = j;
          bestScore = score;
        }
      }
      if (best === undefined) {
        if (wait !== Infinity) this.later(wait);
        return;
      }
      this.queued.delete(best.symbol);
      if (best.startTime === undefined && !seqr.wantsBackfill(best.symbol, best.fromId)) {
        this.skipped++;
        continue;
      }
      const job = best;
      this.running.add(job.symbol);
      void this.runJob(job).finally(() => {
        this.running.delete(job.symbol);
        this.pump();
      });
    }
  }

  private later(ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.pump();
    }, Math.max(1, ms));
    this.timers.add(t);
  }

  private async runJob(job: Job): Promise<void> {
    const { rest, sequencer, nameOf, log, maxAgeMs, metrics } = this.options;
    const name = nameOf(job.symbol);
    if (name === undefined) {
      sequencer.backfillSkip(job.symbol, job.fromId, Infinity, 'symbol has no name');
      return;
    }
    this.requests++;
    try {
      const cutoff = this.now() - maxAgeMs;
      if (job.startTime !== undefined) {
        const first = await rest.aggTradesFrom(name, Math.max(Math.floor(job.startTime), Math.ceil(cutoff)), 1);
        if (this.stopped) return;
        metrics?.request('ok');
        sequencer.backfillSkip(job.symbol, job.fromId, first.length > 0 ? first[0]!.aggId : Infinity, 'new listing: trades before its first one since the previous listing', false);
        return;
      }
      if (job.lastTradeTime >= 0 && job.lastTradeTime < cutoff) {
        // Older than the backfill limit: find where the window starts and give up what lies before it.
        const first = await rest.aggTradesFrom(name, cutoff, 1);
        if (this.stopped) return;
        metrics?.request('limit');
        sequencer.backfillSkip(job.symbol, job.fromId, first.length > 0 ? first[0]!.aggId : Infinity, `older than the backfill limit of ${Math.round(maxAgeMs / 3600_000)} h`);
        return;
      }
      const trades: CheckedRestTrade[] = await rest.aggTrades(name, job.fromId, this.pageSize);
      if (this.stopped) return;
      if (trades.length < this.pageSize) this.lastShort.add(job.symbol);
      else this.lastShort.delete(job.symbol);
      metrics?.request('ok');
      this.checkTimes(trades);
      sequencer.backfillPage(job.symbol, job.fromId, trades, this.pageSize);
    } catch (e) {
      if (this.stopped) return;
      if (e instanceof KlinestreamError && e.code === 'EXCHANGE_HTTP' && (e.details as { code?: unknown }).code === -1121) {
        metrics?.request('invalid_symbol');
        sequencer.backfillSkip(job.symbol, job.fromId, Infinity, `the exchange does not know ${name}`);
        return;
      }
      metrics?.request('error');
      const wait = Math.min(60_000, 1000 * 2 ** Math.min(job.attempt, 6)) * (0.5 + Math.random());
      log.warn('backfill request failed; will retry', { symbol: name, fromId: job.fromId, attempt: job.attempt + 1, retryInMs: Math.round(wait), error: e });
      // A newer request for the symbol that came meanwhile supersedes this one (and keeps its own backoff).
      if (!this.queued.has(job.symbol)) this.queued.set(job.symbol, { ...job, attempt: job.attempt + 1, notBefore: this.now() + wait });
    }
  }

  private checkTimes(trades: CheckedRestTrade[]): void {
    const times = this.options.times;
    if (times === undefined) return;
    const now = this.now();
    for (const t of trades) if (times.checkTime(t.tradeTime, now) !== TIME_OK) t.implausible = `REST trade ${t.aggId}: ${times.reason}`;
  }
}
