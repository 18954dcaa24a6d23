/**
 * Runs the sequencer's backfill requests against REST `aggTrades?fromId=` (the BinanceRest client keeps to
 * the request-weight budget and honours 429/418), a few at a time, and hands the answers back. Transient
 * failures are retried with backoff, forever: a gap is only given up when REST cannot have it (older than
 * the backfill limit, or an exchange answer that says the symbol does not exist).
 *
 * A request with a `startTime` is for a symbol whose first id is unknown (a new listing picked up while
 * running): its first trade at or after that time (exchange clock) is looked up with `aggTrades?startTime=`
 * and the backfill goes on from there; what lies before is not ours, so it is skipped without being
 * reported as a gap.
 */
import type { BinanceRest } from '../exchange/binance-rest';
import { KlinestreamError } from '../errors';
import type { Logger } from '../observability/log';
import type { SymbolSequencer } from './symbol-sequencer';

export interface BackfillerOptions {
  rest: BinanceRest;
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
}

interface Job {
  symbol: number;
  fromId: number;
  lastTradeTime: number;
  /** Set when the symbol's first id is unknown: backfill from its first trade at or after this time. */
  startTime: number | undefined;
  attempt: number;
  notBefore: number;
}

export class Backfiller {
  private readonly queue: Job[] = [];
  private readonly queued = new Set<number>();
  private active = 0;
  private stopped = false;
  private readonly lastShort = new Set<number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pageSize: number;
  private readonly now: () => number;
  requests = 0;

  constructor(private readonly options: BackfillerOptions) {
    this.pageSize = options.pageSize ?? 1000;
    this.now = options.now ?? Date.now;
  }

  get pending(): number {
    return this.queue.length + this.active;
  }

  /** The sequencer's SequencerSink.backfill; `startTime`: see the header (a new listing). */
  request(symbol: number, fromId: number, lastTradeTime: number, startTime?: number): void {
    if (this.stopped || this.queued.has(symbol)) return;
    // An answer that was short a moment ago (REST lagging the stream): give it a second before asking again.
    const notBefore = this.lastShort.has(symbol) ? this.now() + 1000 : 0;
    this.queued.add(symbol);
    this.queue.push({ symbol, fromId, lastTradeTime, startTime, attempt: 0, notBefore });
    this.pump();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.queue.length = 0;
  }

  private pump(): void {
    const limit = this.options.concurrency ?? 2;
    while (!this.stopped && this.active < limit && this.queue.length > 0) {
      const now = this.now();
      const i = this.queue.findIndex((j) => j.notBefore <= now);
      if (i < 0) {
        const wait = Math.min(...this.queue.map((j) => j.notBefore)) - now;
        this.later(wait);
        return;
      }
      const job = this.queue.splice(i, 1)[0]!;
      this.active++;
      void this.runJob(job).finally(() => {
        this.active--;
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
      this.queued.delete(job.symbol);
      sequencer.backfillSkip(job.symbol, Infinity, 'symbol has no name');
      return;
    }
    this.requests++;
    try {
      const cutoff = this.now() - maxAgeMs;
      if (job.startTime !== undefined) {
        const first = await rest.aggTradesFrom(name, Math.max(Math.floor(job.startTime), Math.ceil(cutoff)), 1);
        this.queued.delete(job.symbol);
        metrics?.request('ok');
        sequencer.backfillSkip(job.symbol, first.length > 0 ? first[0]!.aggId : Infinity, 'new listing: trades before its first one since the previous listing', false);
        return;
      }
      if (job.lastTradeTime >= 0 && job.lastTradeTime < cutoff) {
        // Older than the backfill limit: find where the window starts and give up what lies before it.
        const first = await rest.aggTradesFrom(name, cutoff, 1);
        this.queued.delete(job.symbol);
        metrics?.request('limit');
        sequencer.backfillSkip(job.symbol, first.length > 0 ? first[0]!.aggId : Infinity, `older than the backfill limit of ${Math.round(maxAgeMs / 3600_000)} h`);
        return;
      }
      const trades = await rest.aggTrades(name, job.fromId, this.pageSize);
      this.queued.delete(job.symbol);
      if (trades.length < this.pageSize) this.lastShort.add(job.symbol);
      else this.lastShort.delete(job.symbol);
      metrics?.request('ok');
      sequencer.backfillPage(job.symbol, trades, this.pageSize);
    } catch (e) {
      if (e instanceof KlinestreamError && e.code === 'EXCHANGE_HTTP' && (e.details as { code?: unknown }).code === -1121) {
        this.queued.delete(job.symbol);
        metrics?.request('invalid_symbol');
        sequencer.backfillSkip(job.symbol, Infinity, `the exchange does not know ${name}`);
        return;
      }
      metrics?.request('error');
      const wait = Math.min(60_000, 1000 * 2 ** Math.min(job.attempt, 6)) * (0.5 + Math.random());
      log.warn('backfill request failed; will retry', { symbol: name, fromId: job.fromId, attempt: job.attempt + 1, retryInMs: Math.round(wait), error: e });
      // Still queued for this symbol: a new request for it stays merged into this one.
      this.queue.push({ ...job, attempt: job.attempt + 1, notBefore: this.now() + wait });
    }
  }
}
