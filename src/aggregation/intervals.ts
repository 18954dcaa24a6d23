/**
 * Kline interval rules in UTC. Each interval is settled once into a rule object: either a fixed size with an
 * alignment offset (minutes to days, and weeks, which open on Monday 00:00 UTC) or the calendar month.
 * All functions are allocation-free integer arithmetic on epoch milliseconds (no Date objects).
 */

import { INTERVAL_NAMES, type IntervalName } from '../config/interval-names';

// Defined with the configuration (which validates them), re-exported for every user of the interval rules.
export { INTERVAL_NAMES, type IntervalName };

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;
export const WEEK_MS = 7 * DAY_MS;
/** 1970-01-01 was a Thursday; the first Monday 00:00 UTC is 4 days later. Weeks are aligned to it. */
const MONDAY_OFFSET_MS = 4 * DAY_MS;

export interface IntervalRule {
  readonly name: IntervalName;
  /** Fixed length in ms, or 0 for the calendar month. */
  readonly sizeMs: number;
  /** Start of the interval that holds `t`. */
  openTime(t: number): number;
  /** Start of the interval after the one that opens at `open`; closeTime = nextOpen(open) - 1. */
  nextOpen(open: number): number;
  /** Start of the interval `k` intervals after the one that opens at `open`. */
  addIntervals(open: number, k: number): number;
  /** How many intervals start in [fromOpen, toOpen) (both are interval starts). */
  countBetween(fromOpen: number, toOpen: number): number;
}

/** floor-mod that is correct for negative numbers too (times before 1970 are not expected, but cost nothing). */
function mod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}

class FixedInterval implements IntervalRule {
  constructor(
    readonly name: IntervalName,
    readonly sizeMs: number,
    private readonly offsetMs: number,
  ) {}
  openTime(t: number): number {
    return t - mod(t - this.offsetMs, this.sizeMs);
  }
  nextOpen(open: number): number {
    return open + this.sizeMs;
  }
  addIntervals(open: number, k: number): number {
    return open + k * this.sizeMs;
  }
  countBetween(fromOpen: number, toOpen: number): number {
    return toOpen > fromOpen ? Math.round((toOpen - fromOpen) / this.sizeMs) : 0;
  }
}

/**
 * Civil-date conversions (days since 1970-01-01 <-> proleptic Gregorian year/month), after Howard Hinnant's
 * public-domain `days_from_civil` / `civil_from_days`. Months are 0-based here, as in Date.UTC.
 */
export function daysFromCivil(year: number, month0: number, day: number): number {
  const m = month0 + 1;
  const y = m <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = m > 2 ? m - 3 : m + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Returns year * 12 + month0 for the day `days` since the epoch. */
export function monthIndexOfDay(days: number): number {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const m = mp < 10 ? mp + 3 : mp - 9; // 1..12
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return y * 12 + (m - 1);
}

function monthStart(monthIndex: number): number {
  const year = Math.floor(monthIndex / 12);
  return daysFromCivil(year, monthIndex - year * 12, 1) * DAY_MS;
}

class CalendarMonth implements IntervalRule {
  readonly name = '1M' as const;
  readonly sizeMs = 0;
  openTime(t: number): number {
    return monthStart(monthIndexOfDay(Math.floor(t / DAY_MS)));
  }
  nextOpen(open: number): number {
    return monthStart(monthIndexOfDay(Math.floor(open / DAY_MS)) + 1);
  }
  addIntervals(open: number, k: number): number {
    return monthStart(monthIndexOfDay(Math.floor(open / DAY_MS)) + k);
  }
  countBetween(fromOpen: number, toOpen: number): number {
    if (toOpen <= fromOpen) return 0;
    return monthIndexOfDay(Math.floor(toOpen / DAY_MS)) - monthIndexOfDay(Math.floor(fromOpen / DAY_MS));
  }
}

const FIXED_SIZES: Record<Exclude<IntervalName, '1M'>, number> = {
  '1m': MINUTE_MS, '3m': 3 * MINUTE_MS, '5m': 5 * MINUTE_MS, '15m': 15 * MINUTE_MS, '30m': 30 * MINUTE_MS,
  '1h': HOUR_MS, '2h': 2 * HOUR_MS, '4h': 4 * HOUR_MS, '6h': 6 * HOUR_MS, '8h': 8 * HOUR_MS, '12h': 12 * HOUR_MS,
  '1d': DAY_MS, '1w': WEEK_MS,
};

export function intervalRule(name: IntervalName): IntervalRule {
  if (name === '1M') return new CalendarMonth();
  const size = FIXED_SIZES[name];
  if (size === undefined) throw new RangeError(`unknown interval ${String(name)}`);
  return new FixedInterval(name, size, name === '1w' ? MONDAY_OFFSET_MS : 0);
}

export function isIntervalName(s: string): s is IntervalName {
  return (INTERVAL_NAMES as readonly string[]).includes(s);
}
