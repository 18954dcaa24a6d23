/**
 * Plausible times at the producer's edge (SPEC 4.8, docs/times.md): a trade whose time cannot be real is bad
 * input (SPEC 4.5), rejected before anything downstream (the sequencer, the watermark clock, the aggregator)
 * sees it. The rules, checked in this order on every trade the parser accepted:
 *
 *   1. unit: a time is in milliseconds when it lies in the plausible window [fromMs, toMs) (default
 *      2017-01-01 .. 2100-01-01); a time that lies there only once divided by 1000 is in microseconds. A live
 *      stream must be in milliseconds; a file is in the unit most of its first trades use (detectTimeUnit),
 *      and a trade in the other unit is rejected. Microsecond trades of a microsecond file are converted to
 *      ms exactly (integer floor, never a floating-point division).
 *   2. window: T and E (both in ms by now) inside [fromMs, toMs).
 *   3. event skew: |T - E| <= eventSkewMs (the exchange stamps E right after T; 2 s is the most in the
 *      recordings, the default tolerance is 60 s).
 *   4. clock (live only, `now` given): T and E at most clockAheadMs after the local wall clock.
 *
 * The check fills the same reused record in place and allocates only the reason text of a rejected trade.
 * REST trades (no E) use checkTime() with rules 2 and 4.
 */
import type { AggTradeRecord } from './aggtrade-frame';

export interface TimeRules {
  /** Earliest plausible time, epoch ms (inclusive). */
  fromMs: number;
  /** Latest plausible time, epoch ms (exclusive). */
  toMs: number;
  /** Largest |tradeTime - eventTime| accepted. */
  eventSkewMs: number;
  /** Live: how far a time may be ahead of the local clock. */
  clockAheadMs: number;
}

/** ns only ever comes from an archive CSV (a frame's integers stop at 2^53, below any ns epoch). */
export type TimeUnit = 'ms' | 'us' | 'ns';
const UNIT_NAMES: Readonly<Record<TimeUnit, string>> = { ms: 'milliseconds', us: 'microseconds', ns: 'nanoseconds' };

export const TIME_OK = 0;
export const TIME_UNIT = 1;
export const TIME_OUTSIDE = 2;
export const TIME_SKEW = 3;
export const TIME_AHEAD = 4;
export type TimeVerdict = typeof TIME_OK | typeof TIME_UNIT | typeof TIME_OUTSIDE | typeof TIME_SKEW | typeof TIME_AHEAD;

/** Metric labels (klinestream_producer_bad_frames_total{reason}) of the verdicts, by verdict. */
export const TIME_REASONS: readonly string[] = ['ok', 'time_unit', 'time_outside_window', 'time_event_skew', 'time_ahead_of_clock'];

/** The unit of one time by magnitude, or undefined when it is plausible in neither. */
export function unitOf(t: number, rules: TimeRules): TimeUnit | undefined {
  if (t >= rules.fromMs && t < rules.toMs) return 'ms';
  if (t >= rules.fromMs * 1000 && t < rules.toMs * 1000) return 'us';
  if (t >= rules.fromMs * 1e6 && t < rules.toMs * 1e6) return 'ns';
  return undefined;
}

/** Exact integer microseconds to milliseconds (floor); `t` is a safe non-negative integer. */
export function usToMs(t: number): number {
  return (t - (t % 1000)) / 1000;
}

function iso(t: number): string {
  return Number.isFinite(t) && Math.abs(t) < 8.64e15 ? new Date(t).toISOString() : String(t);
}

export class TradeTimeCheck {
  /** Why the last check() / checkTime() failed; empty after TIME_OK. */
  reason = '';
  /** Trades rejected so far, by verdict (index = verdict). */
  readonly rejected = new Float64Array(5);

  constructor(
    readonly rules: TimeRules,
    /** The unit the source sends (live: always ms). */
    readonly unit: TimeUnit = 'ms',
  ) {}

  /**
   * Checks a parsed trade whose times are as the source sent them; on TIME_OK they are in ms (converted in
   * place from a microsecond source). `now`: the local wall clock for a live source, NaN for a file.
   */
  check(r: AggTradeRecord, now: number): TimeVerdict {
    const rules = this.rules;
    const t = r.tradeTime;
    const e = r.eventTime;
    const tu = unitOf(t, rules);
    const eu = unitOf(e, rules);
    if (tu !== this.unit || eu !== this.unit) {
      const name = tu !== this.unit ? 'trade time T' : 'event time E';
      const bad = tu !== this.unit ? t : e;
      const badUnit = tu !== this.unit ? tu : eu;
      if (badUnit === undefined) return this.fail(TIME_OUTSIDE, `implausible time: ${name} ${bad} is outside ${iso(rules.fromMs)} .. ${iso(rules.toMs)} in any unit`);
      return this.fail(TIME_UNIT, `time unit: ${name} ${bad} is in ${UNIT_NAMES[badUnit]}, this source sends ${UNIT_NAMES[this.unit]}`);
    }
    if (this.unit === 'us') {
      r.tradeTime = usToMs(t);
      r.eventTime = usToMs(e);
    }
    return this.checkMs(r.tradeTime, r.eventTime, now);
  }

  /**
   * Checks a trade a parser already converted to ms (the archive CSV reads its unit from the digits):
   * `recordUnit` is the unit its text was in, which must be the source's.
   */
  checkConverted(r: AggTradeRecord, recordUnit: TimeUnit, now: number): TimeVerdict {
    if (recordUnit !== this.unit) {
      return this.fail(TIME_UNIT, `time unit: trade time ${r.tradeTime} was written in ${UNIT_NAMES[recordUnit]}, this source sends ${UNIT_NAMES[this.unit]}`);
    }
    const rules = this.rules;
    if (!(r.tradeTime >= rules.fromMs && r.tradeTime < rules.toMs)) {
      return this.fail(TIME_OUTSIDE, `implausible time: trade time ${r.tradeTime} is outside ${iso(rules.fromMs)} .. ${iso(rules.toMs)}`);
    }
    return this.checkMs(r.tradeTime, r.eventTime, now);
  }

  /** A single time in ms (a REST trade's T): the window and the clock. */
  checkTime(t: number, now: number): TimeVerdict {
    const rules = this.rules;
    if (!(t >= rules.fromMs && t < rules.toMs)) {
      const u = unitOf(t, rules);
      if (u !== undefined) return this.fail(TIME_UNIT, `time unit: trade time ${t} is in ${UNIT_NAMES[u]}, not milliseconds`);
      return this.fail(TIME_OUTSIDE, `implausible time: trade time ${t} is outside ${iso(rules.fromMs)} .. ${iso(rules.toMs)}`);
    }
    if (!Number.isNaN(now) && t > now + rules.clockAheadMs) {
      return this.fail(TIME_AHEAD, `implausible time: trade time ${iso(t)} is ${t - now} ms ahead of the local clock (tolerance ${rules.clockAheadMs} ms)`);
    }
    this.reason = '';
    return TIME_OK;
  }

  /** Rules 3 and 4 on times in ms (rule 2 holds already). */
  private checkMs(t: number, e: number, now: number): TimeVerdict {
    const rules = this.rules;
    const skew = t - e;
    if (skew > rules.eventSkewMs || -skew > rules.eventSkewMs) {
      return this.fail(TIME_SKEW, `implausible time: trade time ${t} is ${Math.abs(skew)} ms ${skew > 0 ? 'after' : 'before'} its event time ${e} (tolerance ${rules.eventSkewMs} ms)`);
    }
    if (!Number.isNaN(now)) {
      const latest = t > e ? t : e;
      if (latest > now + rules.clockAheadMs) {
        return this.fail(TIME_AHEAD, `implausible time: ${iso(latest)} is ${latest - now} ms ahead of the local clock (tolerance ${rules.clockAheadMs} ms)`);
      }
    }
    this.reason = '';
    return TIME_OK;
  }

  private fail(verdict: Exclude<TimeVerdict, typeof TIME_OK>, reason: string): TimeVerdict {
    this.rejected[verdict]++;
    this.reason = reason;
    return verdict;
  }
}

/**
 * Votes over the first trade times of a file: the unit most of them use (ties: ms). One odd trade at the start
 * cannot decide the unit of a whole file; `times` yields at most `limit` times.
 */
export function voteUnit(times: Iterable<number>, rules: TimeRules): TimeUnit {
  const votes = { ms: 0, us: 0, ns: 0 };
  for (const t of times) {
    const u = unitOf(t, rules);
    if (u !== undefined) votes[u]++;
  }
  if (votes.us > votes.ms && votes.us >= votes.ns) return 'us';
  if (votes.ns > votes.ms && votes.ns > votes.us) return 'ns';
  return 'ms';
}
