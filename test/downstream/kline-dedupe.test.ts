/**
 * KlineDeduper against simple references, with fast-check:
 *
 * - "worker streams": what a worker group really publishes per symbol and interval: every kline's versions
 *   in order, its final, the next kline...; crashes rewind to an older restored state and publish again
 *   from there (a different subset of the live versions, the same finals); records are repeated (producer
 *   retries); series interleave arbitrarily (different partitions). On such streams the bounded deduper
 *   must deliver exactly what an unbounded reference delivers ("version above the highest delivered for this
 *   (symbol, interval, openTime)"), and final-only must deliver every final once, in order.
 * - arbitrary streams: whatever the input, no version is delivered twice or below a delivered one, finals
 *   come in openTime order per series, and memory stays within its bound.
 */
import fc from 'fast-check';
import { KlineDeduper, type KlineIdentity } from '../../src/downstream/kline-dedupe';

const MINUTE = 60_000;
const SYMBOLS = ['BTCUSDT', 'ETHUSDT'];
const INTERVALS = ['1m', '5m'];

function rec(symbol: string, interval: string, openTime: number, version: number, isFinal: boolean): KlineIdentity {
  return { symbol, interval, openTime, version, isFinal };
}

function keyOf(k: KlineIdentity): string {
  return `${k.symbol}|${k.interval}|${k.openTime}`;
}

function seriesOf(k: KlineIdentity): string {
  return `${k.symbol}|${k.interval}`;
}

/** The unbounded reference: deliver a version above the highest one delivered for the same kline. */
function reference(records: KlineIdentity[]): KlineIdentity[] {
  const max = new Map<string, number>();
  const out: KlineIdentity[] = [];
  for (const r of records) {
    const seen = max.get(keyOf(r));
    if (seen !== undefined && r.version <= seen) continue;
    max.set(keyOf(r), r.version);
    out.push(r);
  }
  return out;
}

interface SeriesPlan {
  /** Trades per kline; version after n trades is n, plus 1 once final. */
  trades: number[];
  /** The last kline stays open (not final) at the end of the stream. */
  lastOpen: boolean;
  /** Crash points: after `at` states of the current pass, rewind `back` states (a lagging restored state). */
  crashes: Array<{ at: number; back: number }>;
  /** Which live states a pass publishes (cycled): flush timing. */
  liveMask: boolean[];
  /** Which records are sent twice (cycled): producer retries. */
  dupMask: boolean[];
}

interface State {
  openTime: number;
  version: number;
  isFinal: boolean;
}

/** Every state a series goes through: for each kline its live versions, then its final. */
function states(plan: SeriesPlan): State[] {
  const out: State[] = [];
  plan.trades.forEach((n, i) => {
    const openTime = 1_700_000_040_000 + i * MINUTE;
    // An empty interval is published live once with version 0; otherwise once per trade folded in.
    for (let v = n === 0 ? 0 : 1; v <= n; v++) out.push({ openTime, version: v, isFinal: false });
    if (!(plan.lastOpen && i === plan.trades.length - 1)) out.push({ openTime, version: n + 1, isFinal: true });
  });
  return out;
}

/** What the worker publishes for one series, crashes and retries included; and its true finals. */
function publish(symbol: string, interval: string, plan: SeriesPlan): { records: KlineIdentity[]; finals: KlineIdentity[] } {
  const all = states(plan);
  const records: KlineIdentity[] = [];
  let m = 0;
  let d = 0;
  const nextLive = (): boolean => plan.liveMask.length === 0 || plan.liveMask[m++ % plan.liveMask.length]!;
  const nextDup = (): boolean => plan.dupMask.length > 0 && plan.dupMask[d++ % plan.dupMask.length]!;
  const emit = (s: State): void => {
    const r = rec(symbol, interval, s.openTime, s.version, s.isFinal);
    records.push(r);
    if (nextDup()) records.push({ ...r });
  };
  let pos = 0;
  for (const crash of [...plan.crashes, undefined]) {
    const stop = crash === undefined ? all.length : Math.min(all.length, pos + crash.at);
    // The last state before a flush is always published (the flush publishes the current state); finals always.
    for (let i = pos; i < stop; i++) if (all[i]!.isFinal || i === stop - 1 || nextLive()) emit(all[i]!);
    if (crash !== undefined) pos = Math.max(0, stop - crash.back);
  }
  const finals = all.filter((s) => s.isFinal).map((s) => rec(symbol, interval, s.openTime, s.version, true));
  return { records, finals };
}

/** Merges per-series queues in the order `picks` says (then round robin), keeping each queue's order. */
function interleave(queues: KlineIdentity[][], picks: number[]): KlineIdentity[] {
  const qs = queues.map((q) => [...q]);
  const out: KlineIdentity[] = [];
  let k = 0;
  while (qs.some((q) => q.length > 0)) {
    let i = k < picks.length ? picks[k]! % qs.length : k % qs.length;
    k++;
    while (qs[i]!.length === 0) i = (i + 1) % qs.length;
    out.push(qs[i]!.shift()!);
  }
  return out;
}

const seriesPlan: fc.Arbitrary<SeriesPlan> = fc.record({
  trades: fc.array(fc.nat(4), { minLength: 1, maxLength: 6 }),
  lastOpen: fc.boolean(),
  crashes: fc.array(fc.record({ at: fc.integer({ min: 1, max: 12 }), back: fc.nat(12) }), { maxLength: 3 }),
  liveMask: fc.array(fc.boolean(), { maxLength: 16 }),
  dupMask: fc.array(fc.boolean(), { maxLength: 16 }),
});

/** 1..4 series (2 symbols x 2 intervals), each with its plan, and an interleaving. */
const workerStream = fc
  .record({
    plans: fc.array(seriesPlan, { minLength: 1, maxLength: 4 }),
    picks: fc.array(fc.nat(3), { maxLength: 200 }),
  })
  .map(({ plans, picks }) => {
    const published = plans.map((p, i) => publish(SYMBOLS[i % 2]!, INTERVALS[Math.floor(i / 2)]!, p));
    return {
      records: interleave(published.map((p) => p.records), picks),
      finals: published.map((p) => p.finals),
    };
  });

function groupBySeries(records: KlineIdentity[]): Map<string, KlineIdentity[]> {
  const out = new Map<string, KlineIdentity[]>();
  for (const r of records) {
    const list = out.get(seriesOf(r)) ?? [];
    list.push(r);
    out.set(seriesOf(r), list);
  }
  return out;
}

function run(d: KlineDeduper, records: KlineIdentity[], check: (d: KlineDeduper) => void = () => undefined): KlineIdentity[] {
  const out: KlineIdentity[] = [];
  for (const r of records) {
    if (d.offer(r)) out.push(r);
    check(d);
  }
  return out;
}

/** The memory invariant: only klines not final yet are remembered, after the newest final of their series. */
function checkBounded(d: KlineDeduper, perSeries: number): void {
  expect(d.openCount).toBeLessThanOrEqual(d.seriesCount * perSeries);
  for (const o of d.openKlines()) {
    if (o.lastFinal !== undefined) expect(o.openTime).toBeGreaterThan(o.lastFinal);
  }
}

describe('KlineDeduper on worker streams (crashes, republished versions, retries, interleaved series)', () => {
  it('delivers exactly what the unbounded reference delivers, remembering at most one open kline per series', () => {
    const seen = { duplicates: 0, superseded: 0 };
    fc.assert(
      fc.property(workerStream, ({ records }) => {
        const d = new KlineDeduper();
        const out = run(d, records, (x) => checkBounded(x, 1));
        expect(out).toEqual(reference(records));
        seen.duplicates += d.counters.duplicates;
        seen.superseded += d.counters.superseded;
      }),
      { numRuns: 500 },
    );
    // The generator does exercise both rules (republished versions of open klines, and of finalized ones).
    expect(seen.duplicates).toBeGreaterThan(0);
    expect(seen.superseded).toBeGreaterThan(0);
  });

  it('delivers every final once, and versions of one kline only upwards', () => {
    fc.assert(
      fc.property(workerStream, ({ records, finals }) => {
        const out = run(new KlineDeduper(), records);
        const bySeries = groupBySeries(out.filter((r) => r.isFinal));
        for (const f of finals) {
          if (f.length === 0) continue;
          expect(bySeries.get(seriesOf(f[0]!))).toEqual(f);
        }
        const last = new Map<string, number>();
        for (const r of out) {
          expect(r.version).toBeGreaterThan(last.get(keyOf(r)) ?? -1);
          last.set(keyOf(r), r.version);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('final-only delivers each final exactly once, in openTime order per series, and keeps no open klines', () => {
    fc.assert(
      fc.property(workerStream, ({ records, finals }) => {
        const d = new KlineDeduper({ finalOnly: true });
        const out = run(d, records, (x) => expect(x.openCount).toBe(0));
        expect(out.every((r) => r.isFinal)).toBe(true);
        const bySeries = groupBySeries(out);
        const expected = finals.filter((f) => f.length > 0);
        expect(bySeries.size).toBe(expected.length);
        for (const f of expected) expect(bySeries.get(seriesOf(f[0]!))).toEqual(f);
        // Equal to the reference restricted to finals: the latest version of each final kline.
        expect(out).toEqual(reference(records).filter((r) => r.isFinal));
        expect(d.seriesCount).toBeLessThanOrEqual(4);
      }),
      { numRuns: 500 },
    );
  });
});

const anyRecord = fc.record({
  symbol: fc.constantFrom(...SYMBOLS),
  interval: fc.constantFrom(...INTERVALS),
  openTime: fc.nat(30).map((i) => i * MINUTE),
  version: fc.nat(8),
  isFinal: fc.boolean(),
});

describe('KlineDeduper on arbitrary streams', () => {
  it('never delivers a version at or below one delivered, only delivers what the reference would, and stays bounded', () => {
    fc.assert(
      fc.property(fc.array(anyRecord, { maxLength: 300 }), fc.integer({ min: 1, max: 4 }), (records, cap) => {
        const d = new KlineDeduper({ maxOpenPerSeries: cap });
        const out = run(d, records, (x) => checkBounded(x, cap));
        const finalsSeen = new Map<string, number>();
        for (const r of out) {
          if (!r.isFinal) continue;
          // Finals of one series are delivered in strictly increasing openTime order.
          expect(r.openTime).toBeGreaterThan(finalsSeen.get(seriesOf(r)) ?? -1);
          finalsSeen.set(seriesOf(r), r.openTime);
        }
        if (d.counters.evicted === 0) {
          // Without evictions every delivery is one the reference makes (in the same order): a subsequence.
          const ref = reference(records);
          let j = 0;
          for (const r of out) {
            while (j < ref.length && ref[j] !== r) j++;
            expect(j).toBeLessThan(ref.length);
            j++;
          }
          const last = new Map<string, number>();
          for (const r of out) {
            expect(r.version).toBeGreaterThan(last.get(keyOf(r)) ?? -1);
            last.set(keyOf(r), r.version);
          }
        }
        const c = d.counters;
        expect(c.offered).toBe(records.length);
        expect(c.delivered + c.duplicates + c.superseded + c.notFinal).toBe(records.length);
      }),
      { numRuns: 500 },
    );
  });

  it('final-only delivers only finals, at most one per kline, in openTime order per series, whatever the input', () => {
    fc.assert(
      fc.property(fc.array(anyRecord, { maxLength: 300 }), (records) => {
        const d = new KlineDeduper({ finalOnly: true });
        const out = run(d, records, (x) => expect(x.openCount).toBe(0));
        const seen = new Set<string>();
        const last = new Map<string, number>();
        for (const r of out) {
          expect(r.isFinal).toBe(true);
          expect(seen.has(keyOf(r))).toBe(false);
          seen.add(keyOf(r));
          expect(r.openTime).toBeGreaterThan(last.get(seriesOf(r)) ?? -1);
          last.set(seriesOf(r), r.openTime);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('KlineDeduper examples', () => {
  it('drops repeated and older versions, delivers newer ones, and forgets a kline once it is final', () => {
    const d = new KlineDeduper();
    const t0 = 1_700_000_040_000;
    expect(d.offer(rec('BTCUSDT', '1m', t0, 3, false))).toBe(true);
    expect(d.offer(rec('BTCUSDT', '1m', t0, 3, false))).toBe(false);
    expect(d.offer(rec('BTCUSDT', '1m', t0, 2, false))).toBe(false);
    expect(d.offer(rec('BTCUSDT', '5m', t0, 2, false))).toBe(true); // another series
    expect(d.openVersion('BTCUSDT', '1m', t0)).toBe(3);
    expect(d.offer(rec('BTCUSDT', '1m', t0, 5, false))).toBe(true);
    expect(d.offer(rec('BTCUSDT', '1m', t0, 6, true))).toBe(true);
    expect(d.openVersion('BTCUSDT', '1m', t0)).toBeUndefined();
    expect(d.lastFinalOpenTime('BTCUSDT', '1m')).toBe(t0);
    expect(d.openCount).toBe(1); // only the 5m kline
    // After a crash: the same versions again, final included; all dropped.
    expect(d.offer(rec('BTCUSDT', '1m', t0, 4, false))).toBe(false);
    expect(d.offer(rec('BTCUSDT', '1m', t0, 6, true))).toBe(false);
    expect(d.offer(rec('BTCUSDT', '1m', t0 + MINUTE, 1, false))).toBe(true);
    expect(d.counters).toEqual({ offered: 9, delivered: 5, duplicates: 4, superseded: 0, notFinal: 0, evicted: 0 });
  });

  it('final-only: live records are skipped, a final is delivered once, older finals after a newer one are dropped', () => {
    const d = new KlineDeduper({ finalOnly: true });
    const t0 = 1_700_000_040_000;
    expect(d.offer(rec('ETHUSDT', '1m', t0, 3, false))).toBe(false);
    expect(d.offer(rec('ETHUSDT', '1m', t0, 4, true))).toBe(true);
    expect(d.offer(rec('ETHUSDT', '1m', t0, 4, true))).toBe(false);
    expect(d.offer(rec('ETHUSDT', '1m', t0 + MINUTE, 1, true))).toBe(true);
    expect(d.classify(rec('ETHUSDT', '1m', t0, 4, true))).toBe('superseded');
    expect(d.counters).toMatchObject({ delivered: 2, duplicates: 1, superseded: 1, notFinal: 1 });
    expect(d.openCount).toBe(0);
    expect(d.seriesCount).toBe(1);
  });

  it('memory does not grow with time: a day of 1m klines leaves one remembered entry per series', () => {
    const d = new KlineDeduper();
    const t0 = 1_700_000_040_000;
    for (let i = 0; i < 1440; i++) {
      for (const symbol of SYMBOLS) {
        for (let v = 1; v <= 3; v++) d.offer(rec(symbol, '1m', t0 + i * MINUTE, v, false));
        d.offer(rec(symbol, '1m', t0 + i * MINUTE, 4, true));
        d.offer(rec(symbol, '1m', t0 + i * MINUTE, 2, false)); // a republished old version
      }
    }
    expect(d.openCount).toBe(0);
    expect(d.seriesCount).toBe(2);
    expect(d.counters.delivered).toBe(1440 * 2 * 4);
  });

  it('open klines that never become final are capped per series (oldest forgotten first)', () => {
    const d = new KlineDeduper({ maxOpenPerSeries: 3 });
    for (let i = 0; i < 10; i++) d.offer(rec('BTCUSDT', '1m', i * MINUTE, 1, false));
    expect(d.openCount).toBe(3);
    expect(d.counters.evicted).toBe(7);
    expect([...d.openKlines()].map((o) => o.openTime)).toEqual([7, 8, 9].map((i) => i * MINUTE));
    expect(() => new KlineDeduper({ maxOpenPerSeries: 0 })).toThrow(RangeError);
  });
});
