/**
 * What the live page keeps in memory: per symbol and interval the latest version of the most recent klines,
 * sorted by open time and bounded (`maxPerSeries`; the oldest are dropped), so that a browser that picks a
 * symbol gets its history at once. Klines are offered as KlineConsumer delivers them (already deduplicated);
 * a version not above the stored one changes nothing.
 */
import type { Kline } from '../codec/records';

interface Series {
  byOpen: Map<number, Kline>;
  /** Open times, ascending. */
  opens: number[];
}

export interface SeriesInfo {
  symbol: string;
  intervals: string[];
}

export class KlineStore {
  private readonly series = new Map<string, Series>();
  private readonly intervalsBySymbol = new Map<string, Set<string>>();
  private changed = false;

  constructor(readonly maxPerSeries = 1500) {}

  private static key(symbol: string, interval: string): string {
    return `${symbol}\u0000${interval}`;
  }

  /** Stores `k` if it is new or a higher version; returns whether it changed anything. */
  upsert(k: Kline): boolean {
    const key = KlineStore.key(k.symbol, k.interval);
    let s = this.series.get(key);
    if (s === undefined) {
      s = { byOpen: new Map(), opens: [] };
      this.series.set(key, s);
      let set = this.intervalsBySymbol.get(k.symbol);
      if (set === undefined) this.intervalsBySymbol.set(k.symbol, (set = new Set()));
      set.add(k.interval);
      this.changed = true;
    }
    const known = s.byOpen.get(k.openTime);
    if (known !== undefined) {
      if (k.version <= known.version) return false;
      s.byOpen.set(k.openTime, k);
      return true;
    }
    const opens = s.opens;
    if (opens.length >= this.maxPerSeries && k.openTime < opens[0]!) return false; // older than what is kept
    s.byOpen.set(k.openTime, k);
    if (opens.length === 0 || k.openTime > opens[opens.length - 1]!) {
      opens.push(k.openTime);
    } else {
      let lo = 0;
      let hi = opens.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (opens[mid]! < k.openTime) lo = mid + 1;
        else hi = mid;
      }
      opens.splice(lo, 0, k.openTime);
    }
    while (opens.length > this.maxPerSeries) s.byOpen.delete(opens.shift()!);
    return true;
  }

  /** The stored klines of one series, oldest first. */
  history(symbol: string, interval: string): Kline[] {
    const s = this.series.get(KlineStore.key(symbol, interval));
    return s === undefined ? [] : s.opens.map((t) => s.byOpen.get(t)!);
  }

  /** Symbols seen, sorted, each with its intervals in the order given by `order` (others last). */
  list(order: readonly string[] = []): SeriesInfo[] {
    const rank = (i: string) => {
      const r = order.indexOf(i);
      return r < 0 ? order.length : r;
    };
    return [...this.intervalsBySymbol].sort(([a], [b]) => a.localeCompare(b)).map(([symbol, set]) => ({
      symbol, intervals: [...set].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)),
    }));
  }

  /** True once after a new series appeared (for telling browsers the list changed). */
  takeListChanged(): boolean {
    const c = this.changed;
    this.changed = false;
    return c;
  }

  get seriesCount(): number {
    return this.series.size;
  }
}
