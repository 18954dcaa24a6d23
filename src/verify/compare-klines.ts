/**
 * Our final klines against the exchange's, field by field, at the precision the exchange prints.
 *
 * Why "printed precision": the exchange's klines are decimal strings with a fixed number of decimals per
 * field (USD-M: the symbol's price / quantity precision; spot: 8), while ours are doubles summed from the same
 * trades. A double that rounds to the exchange's string at its own number of decimals is the same value; one
 * that does not is a real difference (a trade more or less, a wrong price), never float noise. Counts and
 * times are integers and compared exactly.
 *
 * Klines only one side has are reported apart from value mismatches: at the exchange but not ours (a gap, a
 * kline not final yet) and ours but not at the exchange (a kline that should not exist).
 */
import type { Kline } from '../codec/records';

/** One kline as the exchange serves it: times and count numbers, every decimal its printed string. */
export interface ExchangeKline {
  openTime: number;
  closeTime: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  quoteVolume: string;
  tradeCount: number;
  takerBuyVolume: string;
  takerBuyQuoteVolume: string;
}

export const DECIMAL_FIELDS = ['open', 'high', 'low', 'close', 'volume', 'quoteVolume', 'takerBuyVolume', 'takerBuyQuoteVolume'] as const;
export const INTEGER_FIELDS = ['closeTime', 'tradeCount'] as const;
export type ComparedField = (typeof DECIMAL_FIELDS)[number] | (typeof INTEGER_FIELDS)[number];

export interface KlineKey {
  symbol: string;
  interval: string;
  openTime: number;
}

export interface FieldMismatch extends KlineKey {
  field: ComparedField;
  /** Ours at the exchange's precision (what was compared); `oursExact` the full double. */
  ours: string;
  oursExact: string;
  theirs: string;
}

export interface SeriesComparison {
  /** Klines both sides have with every field equal. */
  matched: number;
  /** Klines both sides have with at least one field different. */
  mismatchedKlines: number;
  mismatches: FieldMismatch[];
  /** Open times the exchange has and we do not. */
  onlyExchange: number[];
  /** Open times we have and the exchange does not. */
  onlyOurs: number[];
}

function decimalsOf(text: string): number {
  const dot = text.indexOf('.');
  return dot < 0 ? 0 : text.length - dot - 1;
}

/** The shortest plain decimal of a double (no exponent), for reports. */
function exactText(x: number): string {
  const s = String(x);
  if (!s.includes('e')) return s;
  for (let digits = 1; digits <= 100; digits++) {
    const fixed = x.toFixed(digits);
    if (Number(fixed) === x) return fixed;
  }
  return x.toFixed(100);
}

/**
 * Ours printed with the decimals of the exchange's string. toFixed rounds the double's exact binary value,
 * which is what a sum that is off by float noise needs (38.946999999999996 -> "38.947").
 */
export function atPrecision(ours: number, theirs: string): string {
  return ours.toFixed(Math.min(100, decimalsOf(theirs)));
}

/** Equal at the exchange's printed precision (numerically, so "1482.0" and "1482.00000000" are the same). */
export function sameAtPrecision(ours: number, theirs: string): boolean {
  return Number(atPrecision(ours, theirs)) === Number(theirs);
}

/** Field differences of one kline both sides have (empty when it matches). */
export function compareKline(ours: Kline, theirs: ExchangeKline): FieldMismatch[] {
  const key = { symbol: ours.symbol, interval: ours.interval, openTime: ours.openTime };
  const out: FieldMismatch[] = [];
  for (const f of DECIMAL_FIELDS) {
    if (!sameAtPrecision(ours[f], theirs[f])) {
      out.push({ ...key, field: f, ours: atPrecision(ours[f], theirs[f]), oursExact: exactText(ours[f]), theirs: theirs[f] });
    }
  }
  for (const f of INTEGER_FIELDS) {
    if (ours[f] !== theirs[f]) out.push({ ...key, field: f, ours: String(ours[f]), oursExact: String(ours[f]), theirs: String(theirs[f]) });
  }
  return out;
}

/**
 * One symbol and interval: ours and the exchange's klines of the same window (the caller selects both the
 * same way). Open times are the identity; each side must hold an open time once.
 */
export function compareSeries(ours: readonly Kline[], theirs: readonly ExchangeKline[]): SeriesComparison {
  const result: SeriesComparison = { matched: 0, mismatchedKlines: 0, mismatches: [], onlyExchange: [], onlyOurs: [] };
  const exchangeByOpen = new Map(theirs.map((k) => [k.openTime, k]));
  const ourOpens = new Set<number>();
  for (const k of [...ours].sort((a, b) => a.openTime - b.openTime)) {
    ourOpens.add(k.openTime);
    const e = exchangeByOpen.get(k.openTime);
    if (e === undefined) {
      result.onlyOurs.push(k.openTime);
      continue;
    }
    const diffs = compareKline(k, e);
    if (diffs.length === 0) result.matched++;
    else {
      result.mismatchedKlines++;
      result.mismatches.push(...diffs);
    }
  }
  for (const e of theirs) if (!ourOpens.has(e.openTime)) result.onlyExchange.push(e.openTime);
  result.onlyExchange.sort((a, b) => a - b);
  return result;
}
