/**
 * Codec benchmark: the compiled wire readers/writers (src/codec/trade-wire.ts, kline-wire.ts) against avsc
 * (AvroCodec), measured in the same run, round-robin: Trade decode into TradeColumns, Trade encode, Kline
 * encode. For every contender: records/s (median of the runs), the ratio to the avsc baseline, garbage
 * collections and young-generation bytes allocated during each timed loop, and young-generation bytes per
 * record from a short probe loop after a full GC. Inputs are generated (and checked byte for byte against
 * avsc) before any timing starts.
 *
 *   node --expose-gc dist/scripts/bench/codec.bench.js [--records N] [--runs N] [--data DIR | --synthetic]
 *
 * Trades are the real aggTrade frames of <repo>/../shared/data/binance (or KLINESTREAM_DATA_DIR, or --data),
 * cycled to N records; without them (or with --synthetic), a synthetic Zipf-like stream.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics } from 'node:v8';
import { gunzipSync } from 'node:zlib';
import { INTERVAL_NAMES } from '../../src/aggregation/intervals';
import { KlineBatch, batchRecord } from '../../src/aggregation/kline-batch';
import { TradeColumns } from '../../src/aggregation/trade-columns';
import { AvroCodec } from '../../src/codec/avro-codec';
import { KlineWireWriter } from '../../src/codec/kline-wire';
import type { Kline, Trade, TradeKind } from '../../src/codec/records';
import { SchemaCatalogue, findPackageRoot } from '../../src/codec/schema-catalogue';
import { TRADE_MAX_RECORD_BYTES, TRADE_OK, TradeRows, TradeWireReader, TradeWireWriter } from '../../src/codec/trade-wire';
import { prng } from './bench-input';

const { values } = parseArgs({ options: { records: { type: 'string' }, runs: { type: 'string' }, data: { type: 'string' }, synthetic: { type: 'boolean' } } });
const RECORDS = Number(values.records ?? 1_000_000);
const RUNS = Number(values.runs ?? 5);
const POOL = 65_536; // distinct trade records, cycled through in the timed loops
const KLINE_POOL = 16_384; // rows of the Kline batch (one flush's worth), cycled
const COLUMNS = 4_096; // TradeColumns capacity: one Kafka fetch batch, cleared when full
const CHUNK_BYTES = 1 << 20; // encode target, rewound when full (as an arena after reset())
const TRADE_ID = 7;
const KLINE_ID = 8;
const KINDS: readonly TradeKind[] = ['TRADE', 'WATERMARK', 'HANDOVER'];

/** Struct-of-arrays trade source (the producer's OutgoingBuffer has this shape). */
class BenchTradeRows extends TradeRows {
  length = 0;
  push(symbol: number, a: number, f: number, l: number, p: number, q: number, t: number, e: number, m: boolean): void {
    const i = this.length++;
    this.symbol[i] = symbol;
    this.aggId[i] = a;
    this.firstTradeId[i] = f;
    this.lastTradeId[i] = l;
    this.price[i] = p;
    this.quantity[i] = q;
    this.tradeTime[i] = t;
    this.eventTime[i] = e;
    this.isBuyerMaker[i] = m ? 1 : 0;
  }
  object(i: number): Trade {
    return {
      kind: KINDS[this.kind[i]!]!, symbolIndex: this.symbol[i]!, aggId: this.aggId[i]!, firstTradeId: this.firstTradeId[i]!, lastTradeId: this.lastTradeId[i]!,
      price: this.price[i]!, quantity: this.quantity[i]!, tradeTime: this.tradeTime[i]!, eventTime: this.eventTime[i]!,
      isBuyerMaker: this.isBuyerMaker[i] === 1, targetPartition: this.targetPartition[i]!,
    };
  }
}

function dataDir(): string | undefined {
  if (values.synthetic) return undefined;
  const dir = values.data ?? process.env.KLINESTREAM_DATA_DIR ?? path.resolve(findPackageRoot(), '..', 'shared', 'data', 'binance');
  return fs.existsSync(dir) ? dir : undefined;
}

/** Every aggTrade of every `*\/aggtrade-frames.jsonl.gz` under `dir` (up to POOL), symbols numbered in order of appearance. */
function realTrades(dir: string): { rows: BenchTradeRows; names: string[]; files: number } | undefined {
  const files = fs.readdirSync(dir).map((d) => path.join(dir, d, 'aggtrade-frames.jsonl.gz')).filter((f) => fs.existsSync(f)).sort();
  if (files.length === 0) return undefined;
  const rows = new BenchTradeRows(POOL);
  const names: string[] = [];
  const index = new Map<string, number>();
  for (const file of files) {
    for (const line of gunzipSync(fs.readFileSync(file)).toString('utf8').split('\n')) {
      if (line.length === 0 || rows.length >= POOL) continue;
      const d = (JSON.parse(line) as { data?: Record<string, unknown> }).data ?? {};
      if (d.e !== 'aggTrade') continue;
      const s = String(d.s);
      let k = index.get(s);
      if (k === undefined) index.set(s, (k = names.push(s) - 1));
      rows.push(k, Number(d.a), Number(d.f), Number(d.l), Number(d.p), Number(d.q), Number(d.T), Number(d.E), d.m === true);
    }
  }
  return rows.length === 0 ? undefined : { rows, names, files: files.length };
}

/** Synthetic: 500 symbols (Zipf-like), exchange-sized ids and epoch ms, random-walk prices. */
function syntheticTrades(): { rows: BenchTradeRows; names: string[] } {
  const rnd = prng(42);
  const symbols = 500;
  const rows = new BenchTradeRows(POOL);
  const lastPrice = Float64Array.from({ length: symbols }, () => 10 + rnd() * 1000);
  const nextId = new Float64Array(symbols).fill(2_000_000_000);
  let time = Date.parse('2024-07-18T00:00:00Z');
  for (let i = 0; i < POOL; i++) {
    const s = Math.min(symbols - 1, Math.floor(symbols ** rnd()) - 1);
    time += rnd() < 0.5 ? 0 : 1;
    lastPrice[s] = Math.round(Math.max(0.01, lastPrice[s]! * (1 + (rnd() - 0.5) * 0.001)) * 100) / 100;
    const id = nextId[s]!++;
    const n = 1 + Math.floor(rnd() * 3);
    rows.push(s, id, id * 2, id * 2 + n - 1, lastPrice[s]!, Math.round(rnd() * 10_000) / 1000 + 0.001, time, time + Math.floor(rnd() * 5), rnd() < 0.5);
  }
  return { rows, names: Array.from({ length: symbols }, (_, s) => `SYM${s}USDT`) };
}

/** A flush's worth of klines: every interval, realistic magnitudes. */
function klineBatch(symbols: number): KlineBatch {
  const rnd = prng(7);
  const b = new KlineBatch(KLINE_POOL);
  const t0 = Date.parse('2024-07-18T00:00:00Z');
  for (let i = 0; i < KLINE_POOL; i++) {
    const iv = i % INTERVAL_NAMES.length;
    const p = 100 + rnd() * 60_000;
    const n = 1 + Math.floor(rnd() * 5000);
    const first = 5_000_000_000 + Math.floor(rnd() * 1e8);
    b.symbolIndex[i] = Math.floor(rnd() * symbols);
    b.intervalId[i] = iv;
    b.openTime[i] = t0 + Math.floor(i / 14) * 60_000;
    b.closeTime[i] = b.openTime[i]! + 59_999;
    b.open[i] = Math.round(p * 100) / 100;
    b.high[i] = Math.round(p * 1.01 * 100) / 100;
    b.low[i] = Math.round(p * 0.99 * 100) / 100;
    b.close[i] = Math.round(p * (1 + (rnd() - 0.5) * 0.02) * 100) / 100;
    b.volume[i] = rnd() * 500;
    b.quoteVolume[i] = b.volume[i]! * p;
    b.tradeCount[i] = n;
    b.takerBuyVolume[i] = b.volume[i]! * rnd();
    b.takerBuyQuoteVolume[i] = b.takerBuyVolume[i]! * p;
    b.firstTradeId[i] = first;
    b.lastTradeId[i] = first + n - 1;
    b.isFinal[i] = rnd() < 0.3 ? 1 : 0;
    b.version[i] = n + b.isFinal[i]!;
  }
  b.length = KLINE_POOL;
  return b;
}

// ---- measuring, as in aggregator.bench.ts

const gcStarts: number[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcStarts.push(e.startTime);
});
gcObserver.observe({ entryTypes: ['gc'] });
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 50));
const collect = () => (globalThis as { gc?: () => void }).gc?.();
const youngUsed = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_used_size ?? 0;

interface Timing {
  seconds: number;
  /** User CPU seconds of the process during the loop (the machine may be shared: wall time then overstates). */
  cpuSeconds: number;
  gcs: number;
  /** Young-generation bytes allocated during the loop; exact only when no GC ran (else undefined). */
  youngBytes: number | undefined;
}

async function timeIt(run: (n: number) => void, n: number): Promise<Timing> {
  collect();
  await settle();
  const from = performance.now();
  const usedBefore = youngUsed();
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  run(n);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpuSeconds = process.cpuUsage(cpu).user / 1e6;
  const usedAfter = youngUsed();
  const to = performance.now();
  await settle();
  const gcs = gcStarts.filter((t) => t >= from && t <= to).length;
  return { seconds, cpuSeconds, gcs, youngBytes: gcs === 0 ? usedAfter - usedBefore : undefined };
}

const PROBE = 20_000;

/** Young bytes per record over a short loop right after a full GC (short enough not to trigger a scavenge). */
async function probe(run: (n: number) => void): Promise<number | undefined> {
  const t = await timeIt(run, PROBE);
  return t.youngBytes === undefined ? undefined : t.youngBytes / PROBE;
}

interface Contender {
  name: string;
  run: (n: number) => void;
  rates: number[];
  cpuNs: number[];
  gcs: number[];
  young: Array<number | undefined>;
  perRecord?: number | undefined;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const mega = (rate: number) => `${(rate / 1e6).toFixed(2)} M rec/s`;
const bytes = (b: number | undefined) => (b === undefined ? 'n/a (a GC ran)' : `${b.toLocaleString('en')} B`);

async function group(title: string, contenders: Contender[]): Promise<void> {
  // One untimed round (JIT), then round-robin so that machine noise hits every contender alike.
  for (const c of contenders) await timeIt(c.run, RECORDS);
  for (let r = 0; r < RUNS; r++) {
    const line: string[] = [];
    for (const c of contenders) {
      const t = await timeIt(c.run, RECORDS);
      c.rates.push(RECORDS / t.seconds);
      c.cpuNs.push((t.cpuSeconds * 1e9) / RECORDS);
      c.gcs.push(t.gcs);
      c.young.push(t.youngBytes);
      line.push(`${mega(RECORDS / t.seconds)} (${t.gcs} GCs)`);
    }
    process.stdout.write(`  run ${r + 1}: ${line.join(' | ')}\n`);
  }
  for (const c of contenders) c.perRecord = await probe(c.run);
  const base = median(contenders[0]!.rates);
  const baseCpu = median(contenders[0]!.cpuNs);
  process.stdout.write(
    `${title} (${RECORDS.toLocaleString('en')} records per timed loop, median of ${RUNS}; wall-clock rate and ratio to the first line, user CPU per record and its ratio, GCs and young-generation bytes per timed loop, young bytes per record in a ${PROBE.toLocaleString('en')}-record probe after a full GC):\n`,
  );
  for (const c of contenders) {
    const rate = median(c.rates);
    const per = c.perRecord === undefined ? 'n/a' : `${c.perRecord.toFixed(1)} B/record`;
    process.stdout.write(
      `  ${c.name.padEnd(44)} ${mega(rate).padStart(15)}  x${(rate / base).toFixed(2).padEnd(6)} cpu ${median(c.cpuNs).toFixed(0).padStart(4)} ns/rec (x${(baseCpu / median(c.cpuNs)).toFixed(2)})  GCs ${c.gcs.join(',').padEnd(16)} young ${c.young.map(bytes).join(', ')}  probe ${per}\n`,
    );
  }
}

function mk(name: string, run: (n: number) => void): Contender {
  return { name, run, rates: [], cpuNs: [], gcs: [], young: [] };
}

async function main(): Promise<void> {
  if (!(globalThis as { gc?: unknown }).gc) process.stdout.write('note: run with node --expose-gc for a clean heap before each timed run\n');
  const catalogue = SchemaCatalogue.load();
  const tradeCodec = new AvroCodec<Trade>(catalogue.get('Trade'), { schemaId: TRADE_ID });
  const klineCodec = new AvroCodec<Kline>(catalogue.get('Kline'), { schemaId: KLINE_ID });

  // ---- inputs, before any timing
  const dir = dataDir();
  const real = dir === undefined ? undefined : realTrades(dir);
  const { rows, names } = real ?? syntheticTrades();
  const n = rows.length;
  process.stdout.write(
    real !== undefined
      ? `input: ${n.toLocaleString('en')} real aggTrades (${names.length} symbols, ${real.files} files under ${dir}), cycled\n`
      : `input: ${n.toLocaleString('en')} synthetic trades (${names.length} symbols), cycled\n`,
  );
  const objects = Array.from({ length: n }, (_, i) => rows.object(i));
  const all = Buffer.allocUnsafeSlow(n * TRADE_MAX_RECORD_BYTES);
  const views: Buffer[] = [];
  const tradeWriter = new TradeWireWriter(TRADE_ID, catalogue.get('Trade'));
  let at = 0;
  for (let i = 0; i < n; i++) {
    const end = tradeWriter.writeFrom(rows, i, all, at);
    views.push(all.subarray(at, end));
    at = end;
  }
  const reader = new TradeWireReader(TRADE_ID, catalogue.get('Trade'));
  {
    // The inputs are what avsc writes and reads: byte-identical records, same decoded values.
    const cols = new TradeColumns(1);
    for (let i = 0; i < n; i++) {
      if (!views[i]!.equals(tradeCodec.encode(objects[i]!))) throw new Error(`record ${i}: TradeWireWriter bytes differ from avsc`);
      cols.clear();
      if (reader.read(views[i]!, cols) !== TRADE_OK || cols.aggId[0] !== objects[i]!.aggId || cols.price[0] !== objects[i]!.price) throw new Error(`record ${i}: TradeWireReader disagrees with avsc`);
    }
  }
  const batch = klineBatch(names.length);
  const klineWriter = new KlineWireWriter(KLINE_ID, { catalogueEntry: catalogue.get('Kline') });
  names.forEach((name, s) => klineWriter.setSymbolName(s, name));
  const klines = Array.from({ length: KLINE_POOL }, (_, i) => ({ ...batchRecord(batch, i), symbol: names[batch.symbolIndex[i]!]! }));
  const klineObjects: Kline[] = klines.map(({ symbolIndex: _s, ...k }) => k);
  {
    const scratch = Buffer.alloc(4096);
    for (let i = 0; i < KLINE_POOL; i++) {
      const end = klineWriter.write(batch, i, scratch, 0);
      if (!scratch.subarray(0, end).equals(klineCodec.encode(klineObjects[i]!))) throw new Error(`kline ${i}: KlineWireWriter bytes differ from avsc`);
    }
  }
  process.stdout.write(`checked: ${n.toLocaleString('en')} Trade and ${KLINE_POOL.toLocaleString('en')} Kline records byte-identical to avsc\n`);

  // What the measuring itself allocates (hrtime BigInts, cpuUsage objects, ...): the floor of "young" below.
  const harness = await timeIt(() => undefined, 0);
  await timeIt(() => undefined, 0);
  const floor = (await timeIt(() => undefined, 0)).youngBytes;
  process.stdout.write(`harness: a timed empty loop shows ${bytes(floor ?? harness.youngBytes)} young-generation bytes (measurement overhead, not per record)\n`);

  const cols = new TradeColumns(COLUMNS);
  const chunk = Buffer.allocUnsafeSlow(CHUNK_BYTES);
  const limit = CHUNK_BYTES - 512;

  // ---- Trade decode into columns
  await group('Trade decode into TradeColumns', [
    mk('avsc AvroCodec.decode + cols.push', (count) => {
      let k = 0;
      for (let r = 0; r < count; r++) {
        const t = tradeCodec.decode(views[k]!);
        if (t.kind === 'TRADE') {
          if (cols.length === COLUMNS) cols.clear();
          cols.push(t.symbolIndex, t.aggId, t.firstTradeId, t.lastTradeId, t.price, t.quantity, t.tradeTime, t.isBuyerMaker);
        }
        if (++k === n) k = 0;
      }
    }),
    mk('TradeWireReader.read', (count) => {
      let k = 0;
      for (let r = 0; r < count; r++) {
        if (cols.length === COLUMNS) cols.clear();
        reader.read(views[k]!, cols);
        if (++k === n) k = 0;
      }
    }),
  ]);

  // ---- Trade encode
  await group('Trade encode (wire format, into a reused 1 MiB chunk)', [
    mk('avsc AvroCodec.encodeInto (objects prebuilt)', (count) => {
      let k = 0;
      let pos = 0;
      for (let r = 0; r < count; r++) {
        pos = tradeCodec.encodeInto(objects[k]!, chunk, pos);
        if (pos > limit) pos = 0;
        if (++k === n) k = 0;
      }
    }),
    mk('avsc encodeInto (object built from columns)', (count) => {
      let k = 0;
      let pos = 0;
      for (let r = 0; r < count; r++) {
        pos = tradeCodec.encodeInto(rows.object(k), chunk, pos);
        if (pos > limit) pos = 0;
        if (++k === n) k = 0;
      }
    }),
    mk('TradeWireWriter.writeFrom (columns)', (count) => {
      let k = 0;
      let pos = 0;
      for (let r = 0; r < count; r++) {
        pos = tradeWriter.writeFrom(rows, k, chunk, pos);
        if (pos > limit) pos = 0;
        if (++k === n) k = 0;
      }
    }),
  ]);

  // ---- Kline encode
  await group('Kline encode (wire format, into a reused 1 MiB chunk)', [
    mk('avsc AvroCodec.encodeInto (objects prebuilt)', (count) => {
      let k = 0;
      let pos = 0;
      for (let r = 0; r < count; r++) {
        pos = klineCodec.encodeInto(klineObjects[k]!, chunk, pos);
        if (pos > limit) pos = 0;
        if (++k === KLINE_POOL) k = 0;
      }
    }),
    mk('avsc encodeInto (object built from batch row)', (count) => {
      let k = 0;
      let pos = 0;
      for (let r = 0; r < count; r++) {
        const rec = batchRecord(batch, k);
        const obj: Kline = {
          symbol: names[rec.symbolIndex]!, interval: rec.interval, openTime: rec.openTime, closeTime: rec.closeTime, open: rec.open, high: rec.high,
          low: rec.low, close: rec.close, volume: rec.volume, quoteVolume: rec.quoteVolume, tradeCount: rec.tradeCount, takerBuyVolume: rec.takerBuyVolume,
          takerBuyQuoteVolume: rec.takerBuyQuoteVolume, firstTradeId: rec.firstTradeId, lastTradeId: rec.lastTradeId, isFinal: rec.isFinal, version: rec.version,
        };
        pos = klineCodec.encodeInto(obj, chunk, pos);
        if (pos > limit) pos = 0;
        if (++k === KLINE_POOL) k = 0;
      }
    }),
    mk('KlineWireWriter.write (batch row)', (count) => {
      let k = 0;
      let pos = 0;
      for (let r = 0; r < count; r++) {
        pos = klineWriter.write(batch, k, chunk, pos);
        if (pos > limit) pos = 0;
        if (++k === KLINE_POOL) k = 0;
      }
    }),
  ]);
  gcObserver.disconnect();
}

void main();
