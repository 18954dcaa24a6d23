/**
 * A deliberately simple reference for kline semantics, written independently of src/aggregation: Date-based
 * interval math, Maps and objects, recomputed from the full list of accepted trades.
 */
import type { KlineRecord } from '../../src/aggregation/kline-batch';
import type { Trade } from './aggregation-harness';

export function referenceOpen(name: string, t: number): number {
  const d = new Date(t);
  const y = d.getUTCFullYear();
  const mo = d.getUTCMonth();
  const day = d.getUTCDate();
  const h = d.getUTCHours();
  const mi = d.getUTCMinutes();
  if (name === '1M') return Date.UTC(y, mo, 1);
  if (name === '1w') return Date.UTC(y, mo, day - ((d.getUTCDay() + 6) % 7));
  if (name === '1d') return Date.UTC(y, mo, day);
  const n = Number(name.slice(0, -1));
  if (name.endsWith('h')) return Date.UTC(y, mo, day, h - (h % n));
  return Date.UTC(y, mo, day, h, mi - (mi % n));
}

export function referenceNextOpen(name: string, open: number): number {
  if (name === '1M') {
    const d = new Date(open);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }
  // Fixed sizes: find the next boundary by stepping a minute at a time is too slow; use the size table.
  const sizes: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
  return open + Number(name.slice(0, -1)) * sizes[name.slice(-1)]!;
}

export type KeyedKline = Omit<KlineRecord, 'version' | 'isFinal'>;

export function klineKey(k: { symbolIndex: number; interval: string; openTime: number }): string {
  return `${k.symbolIndex}|${k.interval}|${k.openTime}`;
}

/**
 * The klines of one symbol and interval from its accepted trades, split into finals (closeTime < eventTime)
 * and the open ones that have trades.
 */
export function referenceKlines(symbol: number, interval: string, trades: Trade[], eventTime: number): { finals: KeyedKline[]; open: KeyedKline[] } {
  const finals: KeyedKline[] = [];
  const open: KeyedKline[] = [];
  if (trades.length === 0) return { finals, open };
  const byOpen = new Map<number, Trade[]>();
  for (const t of trades) {
    const o = referenceOpen(interval, t.time);
    const group = byOpen.get(o);
    if (group) group.push(t);
    else byOpen.set(o, [t]);
  }
  let prevClose = trades[0]!.price;
  for (let o = referenceOpen(interval, trades[0]!.time); ; o = referenceNextOpen(interval, o)) {
    const closeTime = referenceNextOpen(interval, o) - 1;
    const ts = byOpen.get(o) ?? [];
    const isFinal = closeTime < eventTime;
    if (!isFinal && ts.length === 0) break;
    let k: KeyedKline;
    if (ts.length === 0) {
      k = { symbolIndex: symbol, interval: interval as KeyedKline['interval'], openTime: o, closeTime, open: prevClose, high: prevClose, low: prevClose, close: prevClose, volume: 0, quoteVolume: 0, tradeCount: 0, takerBuyVolume: 0, takerBuyQuoteVolume: 0, firstTradeId: -1, lastTradeId: -1 };
    } else {
      k = {
        symbolIndex: symbol, interval: interval as KeyedKline['interval'], openTime: o, closeTime,
        open: ts[0]!.price, high: Math.max(...ts.map((t) => t.price)), low: Math.min(...ts.map((t) => t.price)), close: ts[ts.length - 1]!.price,
        volume: ts.reduce((a, t) => a + t.qty, 0),
        quoteVolume: ts.reduce((a, t) => a + t.qty * t.price, 0),
        tradeCount: ts.reduce((a, t) => a + t.lastId - t.firstId + 1, 0),
        takerBuyVolume: ts.filter((t) => !t.maker).reduce((a, t) => a + t.qty, 0),
        takerBuyQuoteVolume: ts.filter((t) => !t.maker).reduce((a, t) => a + t.qty * t.price, 0),
        firstTradeId: ts[0]!.firstId, lastTradeId: ts[ts.length - 1]!.lastId,
      };
      prevClose = k.close;
    }
    (isFinal ? finals : open).push(k);
    if (!isFinal) break;
  }
  return { finals, open };
}
