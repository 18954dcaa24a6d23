/**
 * The kline CSV of SPEC section 5 (`klines --format csv`, `aggregate`): the exchange's column names and order.
 */
import type { KlineBatch } from '../aggregation/kline-batch';
import type { Kline } from '../codec/records';

export const KLINE_CSV_HEADER =
  'symbol,interval,open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume';

/**
 * Shortest decimal that reads back as the same double, never in exponent form (CSV readers and spreadsheets
 * expect plain decimals; the exchange prints plain decimals too).
 */
export function formatDecimal(x: number): string {
  const s = String(x);
  if (!s.includes('e')) return s;
  if (Math.abs(x) >= 1) return BigInt(Math.round(x)).toString();
  // Small magnitudes: find the fewest fixed decimals that round-trip.
  for (let digits = 1; digits <= 100; digits++) {
    const fixed = x.toFixed(digits);
    if (Number(fixed) === x) return fixed;
  }
  return x.toFixed(100);
}

export function klineCsvRow(batch: KlineBatch, i: number, symbol: string): string {
  return [
    symbol,
    batch.intervalName(i),
    batch.openTime[i],
    formatDecimal(batch.open[i]!),
    formatDecimal(batch.high[i]!),
    formatDecimal(batch.low[i]!),
    formatDecimal(batch.close[i]!),
    formatDecimal(batch.volume[i]!),
    batch.closeTime[i],
    formatDecimal(batch.quoteVolume[i]!),
    batch.tradeCount[i],
    formatDecimal(batch.takerBuyVolume[i]!),
    formatDecimal(batch.takerBuyQuoteVolume[i]!),
  ].join(',');
}

/** The same row for a decoded `Kline` record (`klines --format csv`): identical text for identical klines. */
export function klineRecordCsvRow(k: Kline): string {
  return [
    k.symbol,
    k.interval,
    k.openTime,
    formatDecimal(k.open),
    formatDecimal(k.high),
    formatDecimal(k.low),
    formatDecimal(k.close),
    formatDecimal(k.volume),
    k.closeTime,
    formatDecimal(k.quoteVolume),
    k.tradeCount,
    formatDecimal(k.takerBuyVolume),
    formatDecimal(k.takerBuyQuoteVolume),
  ].join(',');
}
