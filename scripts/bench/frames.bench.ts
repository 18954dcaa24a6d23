/**
 * Frames benchmark: the producer's per-frame path on the real recorded aggTrade frames (bytes in, Confluent
 * wire-format Trade records out, one core), against a plain JSON.parse baseline measured in the same run,
 * round-robin. For every contender: frames/s (median of the runs), the ratio to the baseline, user CPU per
 * frame (and its ratio: the steadier figure when the machine is shared), garbage collections per timed loop.
 *
 *   node --expose-gc dist/scripts/bench/frames.bench.js [--frames N] [--runs N] [--data DIR]
 *
 * Contenders:
 *   baseline   buf.toString + JSON.parse, `data ?? root`, parseFloat of p/q, symbol -> index in a Map, a Trade
 *              object, avsc AvroCodec.encodeInto into a reused chunk (what a straightforward producer does);
 *   ours       AggTradeFrameParser.parse (the byte scanner of aggtrade-scan.ts, JSON.parse for what it
 *              declines; the same validation) into the reused AggTradeRecord,
 *              SymbolDirectory.indexOf/partitionOf, OutgoingBuffer.pushRecord, TradeWireWriter.writeFrom in
 *              batches as TradeWriter.writeBatch does (the producer's path without the sequencer and Kafka).
 * Two breakdown lines say where the time goes: JSON.parse alone, and AggTradeFrameParser.parse alone.
 *
 * Input: every `aggtrade-frames*.jsonl.gz` below <repo>/../shared/data/binance (or KLINESTREAM_DATA_DIR, or
 * --data), read with the producer's own FrameFileReader, each line copied into its own Buffer, then cycled to
 * N frames (references, not copies) before any timing. Both paths are checked to produce byte-identical
 * records for every distinct frame first.
 */
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { AvroCodec } from '../../src/codec/avro-codec';
import type { Trade } from '../../src/codec/records';
import { SchemaCatalogue } from '../../src/codec/schema-catalogue';
import { TRADE_MAX_RECORD_BYTES, TradeWireWriter } from '../../src/codec/trade-wire';
import { AggTradeFrameParser, FrameResult, createAggTradeRecord } from '../../src/exchange/aggtrade-frame';
import { FrameFileReader } from '../../src/exchange/frame-file';
import { OutgoingBuffer } from '../../src/producer/outgoing-buffer';
import { SymbolDirectory } from '../../src/symbols/symbol-directory';
import { frameFiles, referenceDataDir } from './bench-input';

const { values } = parseArgs({ options: { frames: { type: 'string' }, runs: { type: 'string' }, data: { type: 'string' } } });
const FRAMES = Number(values.frames ?? 1_000_000);
const RUNS = Number(values.runs ?? 5);
const TRADE_ID = 7;
const PARTITIONS = 6; // KLINESTREAM_PARTITIONS default
const BATCH = 4_096; // records encoded per TradeWriter-style batch (the producer's maxBatch is 10,000; same per-record work)
const CHUNK_BYTES = 1 << 20; // encode target, rewound when nearly full (TradeWriter reuses one 1 MiB chunk)
const LIMIT = CHUNK_BYTES - 1024;

/** Every frame line of the files, each in its own Buffer (what a WebSocket message is). */
async function loadFrames(files: string[]): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  for (const f of files) for await (const line of new FrameFileReader(f)) if (line.oversizeBytes === 0) frames.push(Buffer.from(line.frame));
  return frames;
}

// ---- measuring, as in codec.bench.ts

const gcStarts: number[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcStarts.push(e.startTime);
});
gcObserver.observe({ entryTypes: ['gc'] });
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 50));
const collect = () => (globalThis as { gc?: () => void }).gc?.();

interface Timing {
  seconds: number;
  /** User CPU seconds of the process during the loop (includes V8's GC helper threads). */
  cpuSeconds: number;
  gcs: number;
  /** What the loop returned (bytes written): kept so that no work can be optimised away. */
  checksum: number;
}

async function timeIt(run: () => number): Promise<Timing> {
  collect();
  await settle();
  const from = performance.now();
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const checksum = run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpuSeconds = process.cpuUsage(cpu).user / 1e6;
  const to = performance.now();
  await settle();
  const gcs = gcStarts.filter((t) => t >= from && t <= to).length;
  return { seconds, cpuSeconds, gcs, checksum };
}

interface Contender {
  name: string;
  /** Runs once over all FRAMES frames; returns a checksum (bytes written) so no work is optimised away. */
  run: () => number;
  rates: number[];
  cpuNs: number[];
  gcs: number[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const mega = (rate: number) => `${(rate / 1e6).toFixed(3)} M frames/s`;
const mk = (name: string, run: () => number): Contender => ({ name, run, rates: [], cpuNs: [], gcs: [] });

async function main(): Promise<void> {
  if (!(globalThis as { gc?: unknown }).gc) process.stdout.write('note: run with node --expose-gc for a clean heap before each timed run\n');
  const dir = referenceDataDir(values.data);
  const files = frameFiles(dir);
  if (files.length === 0) throw new Error(`no aggtrade-frames*.jsonl.gz below ${dir}`);
  const distinct = await loadFrames(files);
  const frames: Buffer[] = new Array<Buffer>(FRAMES);
  for (let i = 0; i < FRAMES; i++) frames[i] = distinct[i % distinct.length]!;
  const bytesTotal = distinct.reduce((n, b) => n + b.length, 0);
  process.stdout.write(
    `input: ${distinct.length.toLocaleString('en')} recorded frames (${files.length} files under ${dir}, mean ${(bytesTotal / distinct.length).toFixed(0)} B), cycled to ${FRAMES.toLocaleString('en')} per timed loop\n`,
  );

  const catalogue = SchemaCatalogue.load();
  const codec = new AvroCodec<Trade>(catalogue.get('Trade'), { schemaId: TRADE_ID });
  const wire = new TradeWireWriter(TRADE_ID, catalogue.get('Trade'));
  const chunk = Buffer.allocUnsafeSlow(CHUNK_BYTES);

  // ---- baseline: what a producer written the obvious way does per frame
  const baseIndex = new Map<string, number>();
  const baselineOne = (frame: Buffer, target: Buffer, pos: number): number => {
    const root = JSON.parse(frame.toString('utf8')) as { data?: Record<string, unknown> } & Record<string, unknown>;
    const d = root.data ?? root;
    if (d.e !== 'aggTrade') return pos;
    const name = d.s as string;
    let s = baseIndex.get(name);
    if (s === undefined) baseIndex.set(name, (s = baseIndex.size));
    const t: Trade = {
      kind: 'TRADE', symbolIndex: s, aggId: d.a as number, firstTradeId: d.f as number, lastTradeId: d.l as number,
      price: parseFloat(d.p as string), quantity: parseFloat(d.q as string), tradeTime: d.T as number, eventTime: d.E as number,
      isBuyerMaker: d.m as boolean, targetPartition: -1,
    };
    return codec.encodeInto(t, target, pos);
  };

  // ---- ours: the producer's objects, one of each, reused frame after frame
  const parser = new AggTradeFrameParser();
  const rec = createAggTradeRecord();
  const directory = new SymbolDirectory();
  const buffer = new OutgoingBuffer(BATCH);
  let bad = 0;
  /** Parses and buffers one frame; returns whether the batch is full. */
  const oursPush = (frame: Buffer): boolean => {
    if (parser.parse(frame, rec) !== FrameResult.OK) {
      bad++;
      return false;
    }
    const s = directory.indexOf(rec.symbol) ?? directory.assign(rec.symbol, PARTITIONS).index;
    buffer.pushRecord(s, directory.partitionOf(s), rec);
    return buffer.full;
  };
  /** TradeWriter.writeBatch step 1: every buffered row encoded back to back; returns the end. */
  const oursFlush = (target: Buffer, pos: number): number => {
    for (let i = 0; i < buffer.size; i++) pos = wire.writeFrom(buffer, buffer.at(i), target, pos);
    buffer.drop(buffer.size);
    return pos;
  };

  // Same records byte for byte from both paths, on every distinct frame (symbol indexes agree because both
  // number symbols in order of first appearance).
  {
    const a = Buffer.alloc(256);
    const b = Buffer.alloc(256);
    for (let i = 0; i < distinct.length; i++) {
      const endA = baselineOne(distinct[i]!, a, 0);
      oursPush(distinct[i]!);
      const endB = oursFlush(b, 0);
      if (!a.subarray(0, endA).equals(b.subarray(0, endB))) throw new Error(`frame ${i}: our record differs from the baseline's: ${distinct[i]!.toString()}`);
    }
    if (bad > 0) throw new Error(`${bad} recorded frames rejected by AggTradeFrameParser: ${parser.reason}`);
  }
  process.stdout.write(`checked: ${distinct.length.toLocaleString('en')} frames give byte-identical Trade records on both paths (${directory.size} symbols)\n`);

  const contenders: Contender[] = [
    mk('baseline: JSON.parse + Map + avsc encodeInto', () => {
      let pos = 0;
      let sum = 0;
      for (let i = 0; i < FRAMES; i++) {
        pos = baselineOne(frames[i]!, chunk, pos);
        if (pos > LIMIT) {
          sum += pos;
          pos = 0;
        }
      }
      return sum + pos;
    }),
    mk('ours: AggTradeFrameParser + directory + wire', () => {
      let pos = 0;
      let sum = 0;
      for (let i = 0; i < FRAMES; i++) {
        if (!oursPush(frames[i]!)) continue;
        if (pos > CHUNK_BYTES - BATCH * TRADE_MAX_RECORD_BYTES) {
          sum += pos;
          pos = 0;
        }
        pos = oursFlush(chunk, pos);
      }
      return sum + oursFlush(chunk, 0);
    }),
    mk('breakdown: JSON.parse(buf.toString()) only', () => {
      let sum = 0;
      for (let i = 0; i < FRAMES; i++) sum += (JSON.parse(frames[i]!.toString('utf8')) as { data: { a: number } }).data.a & 1;
      return sum;
    }),
    mk('breakdown: AggTradeFrameParser.parse only', () => {
      let sum = 0;
      for (let i = 0; i < FRAMES; i++) if (parser.parse(frames[i]!, rec) === FrameResult.OK) sum += rec.aggId & 1;
      return sum;
    }),
  ];

  // One untimed round (JIT), then round-robin so that machine noise hits every contender alike.
  for (const c of contenders) await timeIt(c.run);
  for (let r = 0; r < RUNS; r++) {
    const line: string[] = [];
    for (const c of contenders) {
      const t = await timeIt(c.run);
      c.rates.push(FRAMES / t.seconds);
      c.cpuNs.push((t.cpuSeconds * 1e9) / FRAMES);
      c.gcs.push(t.gcs);
      line.push(`${mega(FRAMES / t.seconds)} (${t.gcs} GCs)`);
    }
    process.stdout.write(`  run ${r + 1}: ${line.join(' | ')}\n`);
  }
  if (bad > 0) throw new Error(`${bad} frames rejected during the timed loops`);
  const base = median(contenders[0]!.rates);
  const baseCpu = median(contenders[0]!.cpuNs);
  process.stdout.write(
    `frames -> wire-format Trade records (${FRAMES.toLocaleString('en')} frames per timed loop, median of ${RUNS}; wall-clock rate and ratio to the baseline, user CPU per frame and its ratio, GCs per timed loop):\n`,
  );
  for (const c of contenders) {
    const rate = median(c.rates);
    process.stdout.write(
      `  ${c.name.padEnd(46)} ${mega(rate).padStart(18)}  x${(rate / base).toFixed(2).padEnd(6)} cpu ${median(c.cpuNs).toFixed(0).padStart(5)} ns/frame (x${(baseCpu / median(c.cpuNs)).toFixed(2)})  GCs ${c.gcs.join(',')}\n`,
    );
  }
  const ours = median(contenders[1]!.rates);
  const oursCpu = median(contenders[1]!.cpuNs);
  process.stdout.write(
    `targets: ours / baseline = x${(ours / base).toFixed(2)} wall, x${(baseCpu / oursCpu).toFixed(2)} CPU (target x2.00: ${ours / base >= 2 ? 'met' : 'NOT met'}); ` +
      `ours ${mega(ours)} wall, ${mega(1e9 / oursCpu)} per CPU second (target 1 M frames/s: ${ours >= 1e6 ? 'met' : 'NOT met'})\n`,
  );
  gcObserver.disconnect();
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
