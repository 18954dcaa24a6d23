/**
 * Duplicate suppression for readers of the `klines` topic, as a pure class (no I/O) so that it can be tested
 * against a simple reference (test/downstream/kline-dedupe.test.ts).
 *
 * Why duplicates exist: workers publish at least once. After a crash a worker restores its klines from
 * `kline-state` (which may lag what it had published) and re-reads trades from the committed offset, so it
 * publishes again kline versions that readers have already seen, and sometimes versions they never saw but
 * that are older than one they did see (flush timing differs between the two runs). Every record is the full
 * state of one kline; `version` grows with every change of the kline and is highest once it is final.
 *
 * Rules, per series (symbol, interval):
 *
 * - `lastFinal`: the openTime of the newest final kline seen. A kline is final once and never changes after;
 *   the worker finalizes the klines of a series in openTime order and publishes every final. So a record of
 *   openTime <= lastFinal is a kline that was already delivered final (or, for a reader that started in the
 *   middle of the topic, one older than what it has seen): it is dropped.
 * - Not final yet: the highest version delivered per openTime > lastFinal. A record whose version is <= it
 *   is dropped; a higher one is delivered and remembered.
 * - A final record (openTime > lastFinal, version above what was delivered) is delivered; lastFinal becomes
 *   its openTime and the remembered versions of every openTime <= it are forgotten.
 * - finalOnly: only finals are delivered, each once and in openTime order per series (a final of openTime
 *   <= lastFinal is dropped). No per-openTime versions are kept at all.
 *
 * Memory: per series one number (lastFinal) plus the klines that are not final yet, which the worker's
 * publication order keeps at one (the live kline) in practice. As a bound whatever the input, at most
 * `maxOpenPerSeries` open klines are remembered per series; beyond that the oldest is forgotten (counted as
 * `evicted`: a republished old version of it could then be delivered again). Series grow with symbols x
 * intervals, never with time.
 */

/** The fields of a `Kline` the deduper looks at. */
export interface KlineIdentity {
  symbol: string;
  interval: string;
  openTime: number;
  version: number;
  isFinal: boolean;
}

export interface KlineDeduperOptions {
  /** Deliver final klines only (each once, in openTime order per symbol and interval). */
  finalOnly?: boolean;
  /** Open (not final) klines remembered per series at most; default 16. */
  maxOpenPerSeries?: number;
}

/** What `offer` decided; `DELIVER` is the only outcome the caller passes on. */
export type DedupeOutcome =
  /** New: hand it to the consumer. */
  | 'deliver'
  /** Same kline, version not above the one delivered (a republished or repeated record). */
  | 'duplicate'
  /** A kline at or before the newest final of its series: already delivered final. */
  | 'superseded'
  /** finalOnly: a live (not final) record. */
  | 'not-final';

export interface DedupeCounters {
  offered: number;
  delivered: number;
  duplicates: number;
  superseded: number;
  notFinal: number;
  /** Open klines forgotten because a series had more than `maxOpenPerSeries` of them. */
  evicted: number;
}

interface Series {
  /** openTime of the newest final seen; -Infinity before the first. */
  lastFinal: number;
  /** openTime -> highest version delivered, for klines not final yet (openTime > lastFinal). */
  open: Map<number, number> | undefined;
}

const DEFAULT_MAX_OPEN_PER_SERIES = 16;

export class KlineDeduper {
  readonly finalOnly: boolean;
  readonly maxOpenPerSeries: number;
  readonly counters: DedupeCounters = { offered: 0, delivered: 0, duplicates: 0, superseded: 0, notFinal: 0, evicted: 0 };
  /** symbol -> interval -> series: nested maps, so the hot path builds no key strings. */
  private readonly bySymbol = new Map<string, Map<string, Series>>();
  private seriesTotal = 0;
  private openTotal = 0;

  constructor(options: KlineDeduperOptions = {}) {
    this.finalOnly = options.finalOnly ?? false;
    this.maxOpenPerSeries = options.maxOpenPerSeries ?? DEFAULT_MAX_OPEN_PER_SERIES;
    if (!Number.isInteger(this.maxOpenPerSeries) || this.maxOpenPerSeries < 1) {
      throw new RangeError(`maxOpenPerSeries must be a positive integer, got ${this.maxOpenPerSeries}`);
    }
  }

  /** Decides about one record and updates the state; true = deliver it. */
  offer(k: KlineIdentity): boolean {
    return this.classify(k) === 'deliver';
  }

  /** `offer` with the reason (the state and the counters are updated the same way). */
  classify(k: KlineIdentity): DedupeOutcome {
    const outcome = this.decide(k);
    const c = this.counters;
    c.offered++;
    if (outcome === 'deliver') c.delivered++;
    else if (outcome === 'duplicate') c.duplicates++;
    else if (outcome === 'superseded') c.superseded++;
    else c.notFinal++;
    return outcome;
  }

  private decide(k: KlineIdentity): DedupeOutcome {
    if (this.finalOnly && !k.isFinal) return 'not-final';
    const series = this.series(k.symbol, k.interval);
    if (k.openTime <= series.lastFinal) return k.openTime === series.lastFinal ? 'duplicate' : 'superseded';
    if (this.finalOnly) {
      series.lastFinal = k.openTime;
      return 'deliver';
    }
    const open = series.open;
    const seen = open?.get(k.openTime);
    if (seen !== undefined && k.version <= seen) return 'duplicate';
    if (k.isFinal) {
      series.lastFinal = k.openTime;
      if (open !== undefined) {
        for (const t of open.keys()) {
          if (t <= k.openTime) {
            open.delete(t);
            this.openTotal--;
          }
        }
      }
      return 'deliver';
    }
    if (open === undefined) {
      series.open = new Map([[k.openTime, k.version]]);
      this.openTotal++;
    } else {
      if (seen === undefined) {
        this.openTotal++;
        if (open.size >= this.maxOpenPerSeries) this.evictOldest(open);
      }
      open.set(k.openTime, k.version);
    }
    return 'deliver';
  }

  /** Series (symbol x interval) seen so far. */
  get seriesCount(): number {
    return this.seriesTotal;
  }

  /** Open (not final) klines remembered, over all series. */
  get openCount(): number {
    return this.openTotal;
  }

  /** The openTime of the newest final of a series, if one was seen. */
  lastFinalOpenTime(symbol: string, interval: string): number | undefined {
    const t = this.bySymbol.get(symbol)?.get(interval)?.lastFinal;
    return t === undefined || t === -Infinity ? undefined : t;
  }

  /** The highest version delivered of an open kline, if it is remembered. */
  openVersion(symbol: string, interval: string, openTime: number): number | undefined {
    return this.bySymbol.get(symbol)?.get(interval)?.open?.get(openTime);
  }

  /** Every remembered open kline, for tests and diagnostics. */
  *openKlines(): IterableIterator<{ symbol: string; interval: string; openTime: number; version: number; lastFinal: number | undefined }> {
    for (const [symbol, intervals] of this.bySymbol) {
      for (const [interval, s] of intervals) {
        if (s.open === undefined) continue;
        for (const [openTime, version] of s.open) {
          yield { symbol, interval, openTime, version, lastFinal: s.lastFinal === -Infinity ? undefined : s.lastFinal };
        }
      }
    }
  }

  /** Forgets everything (e.g. after the reader moved to other partitions). */
  clear(): void {
    this.bySymbol.clear();
    this.seriesTotal = 0;
    this.openTotal = 0;
  }

  private series(symbol: string, interval: string): Series {
    let intervals = this.bySymbol.get(symbol);
    if (intervals === undefined) {
      intervals = new Map();
      this.bySymbol.set(symbol, intervals);
    }
    let s = intervals.get(interval);
    if (s === undefined) {
      s = { lastFinal: -Infinity, open: undefined };
      intervals.set(interval, s);
      this.seriesTotal++;
    }
    return s;
  }

  private evictOldest(open: Map<number, number>): void {
    let oldest = Infinity;
    for (const t of open.keys()) if (t < oldest) oldest = t;
    open.delete(oldest);
    this.openTotal--;
    this.counters.evicted++;
  }
}
