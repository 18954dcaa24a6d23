import { DAY_MS, INTERVAL_NAMES, intervalRule, monthIndexOfDay, daysFromCivil } from '../../src/aggregation/intervals';
import fc from 'fast-check';
import { referenceOpen } from '../support/reference-klines';

const utc = (s: string): number => Date.parse(s);

describe('interval rules', () => {
  it('1w opens on Monday 00:00 UTC, not on the Thursday of the epoch', () => {
    const w = intervalRule('1w');
    // 2024-07-18 is a Thursday.
    expect(w.openTime(utc('2024-07-18T12:34:56Z'))).toBe(utc('2024-07-15T00:00:00Z'));
    expect(new Date(w.openTime(utc('2024-07-18T12:34:56Z'))).getUTCDay()).toBe(1);
    // First and last millisecond of a week.
    expect(w.openTime(utc('2024-07-15T00:00:00.000Z'))).toBe(utc('2024-07-15T00:00:00Z'));
    expect(w.openTime(utc('2024-07-21T23:59:59.999Z'))).toBe(utc('2024-07-15T00:00:00Z'));
    expect(w.openTime(utc('2024-07-22T00:00:00.000Z'))).toBe(utc('2024-07-22T00:00:00Z'));
    expect(w.nextOpen(utc('2024-07-15T00:00:00Z')) - 1).toBe(utc('2024-07-21T23:59:59.999Z'));
  });

  it('1M is the calendar month: month ends, year end, leap Februaries', () => {
    const m = intervalRule('1M');
    expect(m.openTime(utc('2024-02-29T23:59:59.999Z'))).toBe(utc('2024-02-01T00:00:00Z'));
    expect(m.nextOpen(utc('2024-02-01T00:00:00Z'))).toBe(utc('2024-03-01T00:00:00Z'));
    expect(m.nextOpen(utc('2023-02-01T00:00:00Z')) - utc('2023-02-01T00:00:00Z')).toBe(28 * DAY_MS);
    expect(m.nextOpen(utc('2024-02-01T00:00:00Z')) - utc('2024-02-01T00:00:00Z')).toBe(29 * DAY_MS);
    expect(m.nextOpen(utc('2100-02-01T00:00:00Z')) - utc('2100-02-01T00:00:00Z')).toBe(28 * DAY_MS); // not a leap year
    expect(m.nextOpen(utc('2000-02-01T00:00:00Z')) - utc('2000-02-01T00:00:00Z')).toBe(29 * DAY_MS); // 400-year rule
    expect(m.openTime(utc('2023-12-31T23:59:59.999Z'))).toBe(utc('2023-12-01T00:00:00Z'));
    expect(m.nextOpen(utc('2023-12-01T00:00:00Z'))).toBe(utc('2024-01-01T00:00:00Z'));
    expect(m.openTime(utc('2024-01-01T00:00:00.000Z'))).toBe(utc('2024-01-01T00:00:00Z'));
    expect(m.addIntervals(utc('2023-11-01T00:00:00Z'), 3)).toBe(utc('2024-02-01T00:00:00Z'));
    expect(m.countBetween(utc('2023-11-01T00:00:00Z'), utc('2024-02-01T00:00:00Z'))).toBe(3);
  });

  it('fixed intervals: first and last millisecond, counts and offsets', () => {
    const h4 = intervalRule('4h');
    expect(h4.openTime(utc('2024-07-18T03:59:59.999Z'))).toBe(utc('2024-07-18T00:00:00Z'));
    expect(h4.openTime(utc('2024-07-18T04:00:00.000Z'))).toBe(utc('2024-07-18T04:00:00Z'));
    const m3 = intervalRule('3m');
    expect(m3.countBetween(utc('2024-07-18T00:00:00Z'), utc('2024-07-18T01:00:00Z'))).toBe(20);
    expect(m3.addIntervals(utc('2024-07-18T00:00:00Z'), 2)).toBe(utc('2024-07-18T00:06:00Z'));
  });

  it('civil date helpers agree with Date.UTC', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1900, max: 2400 }), fc.integer({ min: 0, max: 11 }), fc.integer({ min: 1, max: 28 }), (y, m, d) => {
        const days = daysFromCivil(y, m, d);
        expect(days * DAY_MS).toBe(Date.UTC(y, m, d));
        expect(monthIndexOfDay(days)).toBe(y * 12 + m);
      }),
    );
  });

  it.each(INTERVAL_NAMES)('%s agrees with a Date-based reference on random instants', (name) => {
    const rule = intervalRule(name);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: utc('2200-01-01T00:00:00Z') }), (t) => {
        const open = rule.openTime(t);
        expect(open).toBe(referenceOpen(name, t));
        const next = rule.nextOpen(open);
        expect(open <= t && t <= next - 1).toBe(true);
        expect(referenceOpen(name, next)).toBe(next);
        expect(referenceOpen(name, next - 1)).toBe(open);
        expect(rule.countBetween(open, next)).toBe(1);
        expect(rule.addIntervals(open, 1)).toBe(next);
      }),
      { numRuns: 300 },
    );
  });
});
