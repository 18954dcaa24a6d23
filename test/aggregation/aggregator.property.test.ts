/**
 * Property tests: random trades (several symbols, skewed clocks, gaps from seconds to weeks, duplicates),
 * watermarks and flush/confirm/giveBack interleavings, checked against the naive reference. Prices and
 * quantities are dyadic fractions so that every sum is exact and comparisons can be exact.
 */
import fc from 'fast-check';
import { APPLIED, DUPLICATE, KlineAggregator, LATE, NEEDS_FLUSH } from '../../src/aggregation/aggregator';
import { KlineBatch, batchRecord, type KlineRecord } from '../../src/aggregation/kline-batch';
import { INTERVAL_NAMES, type IntervalName } from '../../src/aggregation/intervals';
import type { Trade } from '../support/aggregation-harness';
import { klineKey, referenceKlines, referenceOpen, type KeyedKline } from '../support/reference-klines';

type Op =
  | { kind: 'trade'; symbol: number; advance: number; skew: number; price: number; qty: number; maker: boolean; trades: number }
  | { kind: 'dup'; symbol: number }
  | { kind: 'watermark'; offset: number }
  | { kind: 'flush' }
  | { kind: 'confirm' }
  | { kind: 'giveBack' };

const SYMBOLS = 3;
const GRACE = 2000;
const advance = fc.oneof(
  // Mostly seconds; sometimes minutes; rarely days or a month (each month of gap is ~43k empty 1m klines).
  { weight: 40, arbitrary: fc.integer({ min: 0, max: 20_000 }) },
  { weight: 10, arbitrary: fc.integer({ min: 0, max: 600_000 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 3 * 86_400_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 40 * 86_400_000 }) },
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('trade' as const), symbol: fc.integer({ min: 0, max: SYMBOLS - 1 }), advance, skew: fc.integer({ min: 0, max: 3000 }), price: fc.integer({ min: 1, max: 400 }), qty: fc.integer({ min: 1, max: 64 }), maker: fc.boolean(), trades: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dup' as const), symbol: fc.integer({ min: 0, max: SYMBOLS - 1 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('watermark' as const), offset: fc.integer({ min: -5000, max: 120_000 }) }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'flush' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'confirm' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'giveBack' as const }) },
);
const intervalSet = fc.subarray([...INTERVAL_NAMES], { minLength: 1 });

function run(intervals: IntervalName[], ops: Op[], batchCapacity: number, queueCapacity: number) {
  const agg = new KlineAggregator({ intervals, graceMs: GRACE, finalQueueCapacity: queueCapacity });
  const batch = new KlineBatch(batchCapacity);
  const published: KlineRecord[] = [];
  let checkedOut: KlineRecord[] | null = null;
  let clock = Date.parse('2024-02-27T23:50:00Z');
  let nextId = 1;
  // Reference bookkeeping.
  const accepted: Trade[][] = Array.from({ length: SYMBOLS }, () => []);
  const sent: Trade[][] = Array.from({ length: SYMBOLS }, () => []);
  const lastAgg = new Array<number>(SYMBOLS).fill(-1);
  const wmMax = new Array<number>(SYMBOLS).fill(-Infinity);
  const lastTime = new Array<number>(SYMBOLS).fill(-Infinity);

  const flush = () => {
    agg.flush(batch);
    checkedOut = [];
    for (let i = 0; i < batch.length; i++) checkedOut.push(batchRecord(batch, i));
  };
  const confirm = () => {
    agg.confirm();
    published.push(...checkedOut!);
    checkedOut = null;
  };
  const makeRoom = () => {
    // The queue is full: publish what is checked out (or check out and publish) to free it.
    if (checkedOut) confirm();
    flush();
    confirm();
  };
  const expectedBaseOpen = (s: number) => referenceOpen('1m', Math.max(lastTime[s]!, wmMax[s]!));

  for (const o of ops) {
    if (o.kind === 'trade' || o.kind === 'dup') {
      let t: Trade;
      if (o.kind === 'dup') {
        const prev = sent[o.symbol]!;
        if (prev.length === 0) continue;
        t = prev[prev.length - 1]!;
      } else {
        clock += o.advance;
        const time = Math.max(clock - o.skew, sent[o.symbol]!.length ? sent[o.symbol]![sent[o.symbol]!.length - 1]!.time : 0);
        const id = nextId;
        nextId += o.trades;
        t = { symbol: o.symbol, aggId: id, firstId: id, lastId: id + o.trades - 1, price: o.price / 4, qty: o.qty / 8, time, maker: o.maker };
        sent[o.symbol]!.push(t);
      }
      let r;
      while ((r = agg.ingest(t.symbol, t.aggId, t.firstId, t.lastId, t.price, t.qty, t.time, t.maker)) === NEEDS_FLUSH) makeRoom();
      const s = t.symbol;
      if (t.aggId <= lastAgg[s]!) {
        expect(r).toBe(DUPLICATE);
      } else if (accepted[s]!.length > 0 && t.time < expectedBaseOpen(s)) {
        expect(r).toBe(LATE);
        lastAgg[s] = t.aggId;
      } else {
        expect(r).toBe(APPLIED);
        lastAgg[s] = t.aggId;
        accepted[s]!.push(t);
        lastTime[s] = Math.max(lastTime[s]!, t.time);
      }
    } else if (o.kind === 'watermark') {
      const w = clock + o.offset;
      while (agg.advanceWatermark(w) === NEEDS_FLUSH) makeRoom();
      for (let s = 0; s < SYMBOLS; s++) if (accepted[s]!.length > 0) wmMax[s] = Math.max(wmMax[s]!, w - GRACE);
    } else if (o.kind === 'flush') {
      if (!checkedOut) flush();
    } else if (o.kind === 'confirm') {
      if (checkedOut) confirm();
    } else if (checkedOut) {
      agg.giveBack();
      checkedOut = null;
    }
  }
  if (checkedOut) confirm();
  do {
    flush();
    confirm();
  } while (agg.hasPending);
  return { published, accepted, eventTime: (s: number) => Math.max(lastTime[s]!, wmMax[s]!) };
}

function sameKline(a: KeyedKline, b: KeyedKline): boolean {
  for (const key of Object.keys(b) as Array<keyof KeyedKline>) if (a[key] !== b[key]) return false;
  return true;
}

function strip(k: KlineRecord): KeyedKline {
  const { version: _v, isFinal: _f, ...rest } = k;
  return rest;
}

describe('KlineAggregator against the reference', () => {
  it('publishes every final kline exactly once with the reference values, and the latest live state of open klines', () => {
    fc.assert(
      fc.property(
        intervalSet,
        fc.array(op, { minLength: 1, maxLength: 250 }),
        fc.integer({ min: 16, max: 300 }),
        fc.integer({ min: 64, max: 256 }),
        (intervals, ops, batchCapacity, queueCapacity) => {
          const { published, accepted, eventTime } = run(intervals, ops, batchCapacity, queueCapacity);
          const finals = new Map<string, KlineRecord>();
          const lastLive = new Map<string, KlineRecord>();
          for (const k of published) {
            const key = klineKey(k);
            if (k.isFinal) {
              expect(finals.has(key)).toBe(false); // exactly once
              expect(k.version).toBe(k.tradeCount + 1);
              finals.set(key, k);
            } else {
              expect(finals.has(key)).toBe(false); // never live after final
              expect(k.version).toBe(k.tradeCount);
              lastLive.set(key, k);
            }
          }
          let expectedFinals = 0;
          const mismatches: unknown[] = [];
          const check = (kind: string, got: KlineRecord | undefined, want: KeyedKline) => {
            if (got === undefined || !sameKline(strip(got), want)) mismatches.push({ kind, want, got });
          };
          for (let s = 0; s < SYMBOLS; s++) {
            for (const iv of intervals) {
              const ref = referenceKlines(s, iv, accepted[s]!, eventTime(s));
              expectedFinals += ref.finals.length;
              for (const k of ref.finals) check('final', finals.get(klineKey(k)), k);
              for (const k of ref.open) check('live', lastLive.get(klineKey(k)), k);
            }
          }
          expect(mismatches.slice(0, 3)).toEqual([]);
          expect(finals.size).toBe(expectedFinals);
        },
      ),
      { numRuns: 200 },
    );
  });
});
