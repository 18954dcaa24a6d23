/**
 * The kline interval names (exchange spelling), finest first. Here, below every layer, because the
 * configuration validates KLINESTREAM_INTERVALS against them; the rules of each interval are in
 * src/aggregation/intervals.ts.
 */
export const INTERVAL_NAMES = ['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d', '1w', '1M'] as const;
export type IntervalName = (typeof INTERVAL_NAMES)[number];
