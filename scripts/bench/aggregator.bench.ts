/**
 * `npm run bench`: throughput of the kline aggregator against two baselines measured in the same run (a naive
 * Map-and-object implementation, and a plain struct-of-arrays loop that updates all 14 slots per trade),
 * garbage collections and young-generation bytes allocated during each timed loop, and the cost of a flush
 * versus how many slots changed (it must not depend on how many slots exist). Inputs are generated before
 * any timing starts.
 *
 *   node --expose-gc dist/scripts/bench/aggregator.bench.js [--trades N] [--runs N]
 */
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics } from 'node:v8';
import { KlineAggregator, NEEDS_FLUSH } from '../../src/aggregation/aggregator';
import { INTERVAL_NAMES } from '../../src/aggregation/intervals';
import { KlineBatch } from '../../src/aggregation/kline-batch';
import { TradeColumns } from '../../src/aggregation/trade-columns';
import { AllSlotsAggregator } from './all-slots-aggregator';
import { NaiveAggregator } from './naive-aggregator';
import { prng } from './bench-input';

const { values } = parseArgs({ options: { trades: { type: 'string' }, runs: { type: 'string' }, symbols: { type: 'string' } } });
const TRADES = Number(values.trades ?? 5_000_000);
const RUNS = Number(values.runs ?? 5);
const SYMBOLS = Number(values.symbols ?? 500);
const FLUSH_EVERY = 65_536; // trades between flushes inside the timed loop, as a worker flushes on a timer
const CHUNK = 4_096; // trades per ingestColumns() call, like one Kafka fetch batch; a watermark after each
const FLUSH_EVERY_CHUNKS = FLUSH_EVERY / CHUNK;
const WARM_CHUNKS = 256; // 1,048,576 trades fed to each new aggregator before its timed loop

interface Input {
  symbol: Int32Array;
  aggId: Float64Array;
  firstId: Float64Array;
  lastId: Float64Array;
  price: Float64Array;
  qty: Float64Array;
  time: Float64Array;
  maker: Uint8Array;
  names: string[];
}

/** Zipf-like activity (exponent 1) over SYMBOLS symbols, ~2,000 trades per second of event time, random-walk prices. */
function generate(n: number): Input {
  const rnd = prng(42);
  const cdf = new Float64Array(SYMBOLS);
  let total = 0;
  for (let s = 0; s < SYMBOLS; s++) cdf[s] = total += 1 / (s + 1);
  for (let s = 0; s < SYMBOLS; s++) cdf[s]! /= total;
  const input: Input = {
    symbol: new Int32Array(n), aggId: new Float64Array(n), firstId: new Float64Array(n), lastId: new Float64Array(n),
    price: new Float64Array(n), qty: new Float64Array(n), time: new Float64Array(n), maker: new Uint8Array(n),
    names: Array.from({ length: SYMBOLS }, (_, s) => `SYM${s}USDT`),
  };
  const lastPrice = Float64Array.from({ length: SYMBOLS }, () => 10 + rnd() * 1000);
  const nextId = new Float64Array(SYMBOLS).fill(1_000_000);
  let time = Date.parse('2024-07-18T00:00:00Z');
  for (let i = 0; i < n; i++) {
    const u = rnd();
    let lo = 0;
    let hi = SYMBOLS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    const s = lo;
    time += rnd() < 0.5 ? 0 : 1; // ~2 trades per ms
    const p = Math.max(0.01, lastPrice[s]! * (1 + (rnd() - 0.5) * 0.001));
    lastPrice[s] = Math.round(p * 100) / 100;
    const trades = 1 + Math.floor(rnd() * 3);
    input.symbol[i] = s;
    input.aggId[i] = nextId[s]!;
    input.firstId[i] = nextId[s]! * 4;
    input.lastId[i] = nextId[s]! * 4 + trades - 1;
    nextId[s]! += 1;
    input.price[i] = lastPrice[s]!;
    input.qty[i] = Math.round(rnd() * 10_000) / 1000 + 0.001;
    input.time[i] = time;
    input.maker[i] = rnd() < 0.5 ? 1 : 0;
  }
  return input;
}

/** Start times of every GC; observer callbacks arrive late, so a window is counted by start time afterwards. */
const gcStarts: number[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcStarts.push(e.startTime);
});
gcObserver.observe({ entryTypes: ['gc'] });

/** Lets pending GC entries reach the observer before they are read. */
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 50));

function collect(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

interface Timing {
  seconds: number;
  gcs: number;
  /** Bytes allocated in the young generation during the run; exact only when no GC ran (else undefined). */
  youngBytes: number | undefined;
}

function youngUsed(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_used_size ?? 0;
}

async function timeIt(run: () => void): Promise<Timing> {
  collect();
  await settle();
  const from = performance.now();
  const usedBefore = youngUsed();
  const start = process.hrtime.bigint();
  run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const usedAfter = youngUsed();
  const to = performance.now();
  await settle();
  const gcs = gcStarts.filter((t) => t >= from && t <= to).length;
  return { seconds, gcs, youngBytes: gcs === 0 ? usedAfter - usedBefore : undefined };
}

/** The typed input cut into Kafka-batch-sized TradeColumns, before timing (a worker decodes into these). */
function toColumns(input: Input, n: number): TradeColumns[] {
  const chunks: TradeColumns[] = [];
  for (let from = 0; from < n; from += CHUNK) {
    const cols = new TradeColumns(Math.min(CHUNK, n - from));
    for (let i = from; i < from + cols.capacity; i++) {
      cols.push(input.symbol[i]!, input.aggId[i]!, input.firstId[i]!, input.lastId[i]!, input.price[i]!, input.qty[i]!, input.time[i]!, input.maker[i] === 1);
    }
    chunks.push(cols);
  }
  return chunks;
}

/**
 * Returns the timed part only: the aggregator is built and fed the first WARM_CHUNKS chunks before timing, so
 * the loop runs in optimized code. A new instance invalidates the optimized code V8 specialised for the
 * previous one, and until it is reoptimized the interpreter boxes every double: with a warm-up of 64 chunks
 * that showed up as 1 or 2 scavenges in the timed loop, with 256 as none (and 0 bytes allocated).
 */
function runTyped(chunks: TradeColumns[]): () => void {
  const agg = new KlineAggregator({ intervals: INTERVAL_NAMES, initialSymbols: SYMBOLS });
  const batch = new KlineBatch(16_384);
  const drain = () => {
    do {
      agg.flush(batch);
      agg.confirm();
    } while (agg.hasPending);
  };
  const feed = (from: number, to: number) => {
    for (let c = from; c < to; c++) {
      const cols = chunks[c]!;
      let next = 0;
      while ((next = agg.ingestColumns(cols, next)) < cols.length) drain();
      while (agg.advanceWatermark(cols.tradeTime[cols.length - 1]!) === NEEDS_FLUSH) drain();
      if ((c & (FLUSH_EVERY_CHUNKS - 1)) === 0) drain();
    }
  };
  feed(0, WARM_CHUNKS);
  return () => feed(WARM_CHUNKS, chunks.length);
}

function runNaive(input: Input, n: number): () => void {
  const agg = new NaiveAggregator();
  return () => {
    const { symbol, firstId, lastId, price, qty, time, maker, names } = input;
    for (let i = 0; i < n; i++) {
      agg.ingest(names[symbol[i]!]!, firstId[i]!, lastId[i]!, price[i]!, qty[i]!, time[i]!, maker[i] === 1);
      if ((i & (FLUSH_EVERY - 1)) === 0) agg.flush();
    }
  };
}

function runAllSlots(input: Input, n: number): () => void {
  const agg = new AllSlotsAggregator(SYMBOLS);
  agg.ingest(input.symbol, input.firstId, input.lastId, input.price, input.qty, input.time, input.maker, 0, WARM_CHUNKS * CHUNK);
  return () => agg.ingest(input.symbol, input.firstId, input.lastId, input.price, input.qty, input.time, input.maker, WARM_CHUNKS * CHUNK, n);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

interface Contender {
  name: string;
  trades: number;
  make: () => () => void;
  rates: number[];
  gcs: number[];
  young: Array<number | undefined>;
}

const mega = (rate: number) => `${(rate / 1e6).toFixed(2)} M trades/s`;
const bytes = (b: number | undefined) => (b === undefined ? 'n/a (a GC ran)' : `${b.toLocaleString('en')} B`);

async function throughput(): Promise<void> {
  process.stdout.write(`generating ${TRADES.toLocaleString('en')} trades over ${SYMBOLS} symbols (Zipf), before timing ...\n`);
  const input = generate(TRADES);
  const chunks = toColumns(input, TRADES);
  const timedTrades = chunks.slice(WARM_CHUNKS).reduce((n, c) => n + c.length, 0);
  const naiveTrades = Math.min(TRADES, 1_000_000);
  const contenders: Contender[] = [
    { name: 'typed-array aggregator', trades: timedTrades, make: () => runTyped(chunks), rates: [], gcs: [], young: [] },
    { name: 'all-slots SoA baseline', trades: timedTrades, make: () => runAllSlots(input, TRADES), rates: [], gcs: [], young: [] },
    { name: 'naive Map-and-object', trades: naiveTrades, make: () => runNaive(input, naiveTrades), rates: [], gcs: [], young: [] },
  ];
  // One untimed round first (JIT, and the heap settling to its working size: without it the first timed
  // run of each contender caught a GC left over from input generation), then round-robin rounds so that
  // machine noise hits every contender alike.
  for (const c of contenders) await timeIt(c.make());
  for (let r = 0; r < RUNS; r++) {
    const line: string[] = [];
    for (const c of contenders) {
      const t = await timeIt(c.make());
      c.rates.push(c.trades / t.seconds);
      c.gcs.push(t.gcs);
      c.young.push(t.youngBytes);
      line.push(`${c.name.split(' ')[0]} ${mega(c.trades / t.seconds)} (${t.gcs} GCs)`);
    }
    process.stdout.write(`  run ${r + 1}: ${line.join(', ')}\n`);
  }
  const [typed, allSlots, naive] = contenders.map((c) => median(c.rates)) as [number, number, number];
  process.stdout.write(`throughput, all 14 intervals, one core (median of ${RUNS}; GCs and young-generation bytes allocated per timed run):\n`);
  for (const c of contenders) {
    process.stdout.write(`  ${c.name.padEnd(24)} ${mega(median(c.rates)).padStart(18)}   GCs ${c.gcs.join(',')}   allocated ${c.young.map(bytes).join(', ')}\n`);
  }
  process.stdout.write(`  ratio typed / naive:     ${(typed / naive).toFixed(1)}x\n  ratio typed / all-slots: ${(typed / allSlots).toFixed(1)}x\n`);
}

/** Flush cost with `dirtySymbols` changed symbols in an aggregator of `totalSymbols` symbols x 14 intervals. */
async function flushCost(totalSymbols: number, dirtySymbols: number, iterations: number): Promise<number> {
  const agg = new KlineAggregator({ intervals: INTERVAL_NAMES, initialSymbols: totalSymbols, maxSymbols: totalSymbols });
  const batch = new KlineBatch(Math.max(1024, dirtySymbols * 14 + 64));
  const t0 = Date.parse('2024-07-18T00:00:00Z');
  let id = 1;
  for (let s = 0; s < totalSymbols; s++) agg.ingest(s, id++, 1, 1, 100, 1, t0, false);
  do {
    agg.flush(batch);
    agg.confirm();
  } while (agg.hasPending);
  // Prepare the touched symbols spread over the whole range, then time flush + confirm only.
  const stride = Math.floor(totalSymbols / dirtySymbols);
  let total = 0n;
  for (let it = 0; it < iterations; it++) {
    for (let k = 0; k < dirtySymbols; k++) agg.ingest(k * stride, id++, 1, 1, 100 + (it & 7), 1, t0 + 1, false);
    const start = process.hrtime.bigint();
    agg.flush(batch);
    agg.confirm();
    total += process.hrtime.bigint() - start;
  }
  return Number(total) / iterations / 1000; // microseconds
}

async function flushes(): Promise<void> {
  const slots = (symbols: number) => (symbols * 14).toLocaleString('en');
  const big = 35_715; // ~500k slots
  const small = 715; // ~10k slots
  await flushCost(small, 1, 200); // warm-up
  const tenOfBig = await flushCost(big, 1, 2000);
  const tenOfSmall = await flushCost(small, 1, 2000);
  const tenKOfBig = await flushCost(big, small, 200);
  process.stdout.write(
    `flush + confirm (mean over many flushes):\n` +
      `  14 dirty slots of ${slots(big)}: ${tenOfBig.toFixed(2)} us\n` +
      `  14 dirty slots of ${slots(small)}:    ${tenOfSmall.toFixed(2)} us   (same changed count, 50x fewer slots: cost ratio ${(tenOfBig / tenOfSmall).toFixed(2)})\n` +
      `  ${slots(small)} dirty slots of ${slots(big)}: ${tenKOfBig.toFixed(2)} us (715x the changed slots: cost ratio ${(tenKOfBig / tenOfBig).toFixed(0)}x)\n`,
  );
}

async function main(): Promise<void> {
  if (!(globalThis as { gc?: unknown }).gc) process.stdout.write('note: run with node --expose-gc for a clean heap before each timed run\n');
  await throughput();
  await flushes();
  gcObserver.disconnect();
}

void main();
