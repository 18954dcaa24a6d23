/**
 * The default plausible-time window (docs/times.md): a trade time or watermark outside
 * [PLAUSIBLE_FROM_MS, PLAUSIBLE_TO_MS) cannot be a real time in milliseconds. The aggregator refuses it
 * (INVALID), so the number of empty klines any input can make it emit is bounded by this window; the producer
 * rejects such trades at its edge. Configurable (KLINESTREAM_PLAUSIBLE_TIME_FROM / _TO).
 */

/** 2017-01-01T00:00:00Z: before the exchange's first trade. */
export const PLAUSIBLE_FROM_MS = Date.UTC(2017, 0, 1);
/** 2100-01-01T00:00:00Z. */
export const PLAUSIBLE_TO_MS = Date.UTC(2100, 0, 1);
