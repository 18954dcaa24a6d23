/**
 * Produce benchmark: trades/s from a gzipped frames file into the local Kafka through the real producer
 * (src/producer/producer.ts, in-process, its real settings: one transaction per batch of up to 10,000 records
 * with SymbolEntry and producer-state records, watermarks, `--speed max`), against a baseline measured in the
 * same run, round-robin: a bare kafkajs idempotent producer (acks=all, no transactions) sending the same
 * trades, pre-encoded, in batches of 10,000 to a topic with the same partitions, keys and values.
 *
 *   node --expose-gc dist/scripts/bench/produce.bench.js [--trades N] [--runs N] [--data DIR] [--keep]
 *
 * Kafka and the registry: KAFKA_BROKERS / SCHEMA_REGISTRY_URL when set, else the local stack's defaults
 * (127.0.0.1:19092, http://127.0.0.1:18081/apis/ccompat/v7; `klinestream stack up` starts it). Every run uses
 * fresh topics under the prefix `bench-<random>-r<run>-` (a producer resumes from its producer-state, so a
 * second run into the same topics would drop everything as duplicates); all of them are deleted at the end
 * unless --keep.
 *
 * Input: the recorded frames (every `aggtrade-frames*.jsonl.gz` below <repo>/../shared/data/binance, or
 * KLINESTREAM_DATA_DIR, or --data) replayed in file order, loop after loop, until N trades, with ids and times
 * rewritten so that every loop is new trades: per symbol, aggregate and trade ids continue after the last
 * ones written (the producer drops a trade whose id is not above the last one of its symbol), and times
 * continue 1 ms after the previous recording. Written to a temp dir before any timing.
 *
 * Two rates per contender: end to end (producer: Producer.run() from the start, i.e. connect, topics, schemas,
 * state read, transactional init, the file, the drain; baseline: connect, sends, disconnect), and the write
 * phase (first commit / send to the last one), which is the steady rate; plus this process's CPU per trade
 * (the broker's is not in it), steadier than wall time when other work shares the machine. Ratios are the
 * median of the per-run ratios. Every producer run is checked by reading its `trades` topic back
 * (read_committed): the TRADE records must be exactly the trades written; every baseline run by its offsets.
 */
// First the stock kafkajs of the baseline, then (before src/ loads its own copy) the linear grouping the CLI
// uses: the producer under test runs in this process.
import { stockKafkajs } from './stock-kafkajs';
import '../../src/kafka/kafkajs-patch';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { Partitioners, type Kafka, type Message } from 'kafkajs';
import { SchemaCatalogue } from '../../src/codec/schema-catalogue';
import { TradeWireWriter, TRADE_MAX_RECORD_BYTES } from '../../src/codec/trade-wire';
import { loadConfig, topicNames, type Config } from '../../src/config/config';
import { AggTradeFrameParser, FrameResult, createAggTradeRecord } from '../../src/exchange/aggtrade-frame';
import { FrameFileReader } from '../../src/exchange/frame-file';
import { kafkaClient } from '../../src/kafka/client';
import { TopicReader } from '../../src/kafka/topic-reader';
import { createLogger } from '../../src/observability/log';
import { createRegistry } from '../../src/observability/metrics';
import { OutgoingBuffer } from '../../src/producer/outgoing-buffer';
import { Producer } from '../../src/producer/producer';
import type { Connection } from '../../src/stack/stack';
import { SymbolDirectory } from '../../src/symbols/symbol-directory';
import { frameFiles, referenceDataDir } from './bench-input';

const { values } = parseArgs({ options: { trades: { type: 'string' }, runs: { type: 'string' }, data: { type: 'string' }, keep: { type: 'boolean' } } });
const TRADES = Number(values.trades ?? 400_000);
const RUNS = Number(values.runs ?? 3);
const BASELINE_BATCH = 10_000; // = TradeWriter's maxBatch
const TRADE_ID = 1; // any valid id: the baseline's bytes are never decoded
const BENCH = `bench-${randomBytes(4).toString('hex')}-`;
const log = createLogger({ level: 'warn', bindings: { cmd: 'bench' } });

// ---- input

type AggTradeJson = { e: string; E: number; s: string; a: number; p: string; q: string; f: number; l: number; T: number; m: boolean };
type FrameJson = { stream: string; data: AggTradeJson };

/** The recordings as parsed frames, one array per file (a segment of the replay). */
async function loadSegments(files: string[]): Promise<FrameJson[][]> {
  const segments: FrameJson[][] = [];
  for (const f of files) {
    const seg: FrameJson[] = [];
    for await (const line of new FrameFileReader(f)) {
      const j = JSON.parse(line.frame.toString('utf8')) as Partial<FrameJson>;
      if (j.data?.e === 'aggTrade' && typeof j.stream === 'string') seg.push(j as FrameJson);
    }
    if (seg.length > 0) segments.push(seg);
  }
  return segments;
}

/** The replay as frame lines: segments in turn, ids and times shifted so that every trade is new. */
function replayLines(segments: FrameJson[][], n: number): string[] {
  const nextAgg = new Map<string, number>();
  const nextTrade = new Map<string, number>();
  const lastAgg = new Map<string, number>();
  const lines: string[] = [];
  let clock = -Infinity; // first segment keeps its times
  for (let k = 0; lines.length < n; k++) {
    const seg = segments[k % segments.length]!;
    // Per symbol of the segment: its lowest ids, to continue them after the last ones written.
    const minA = new Map<string, number>();
    const minF = new Map<string, number>();
    let minT = Infinity;
    for (const { data: d } of seg) {
      minA.set(d.s, Math.min(minA.get(d.s) ?? Infinity, d.a));
      minF.set(d.s, Math.min(minF.get(d.s) ?? Infinity, d.f));
      minT = Math.min(minT, d.T, d.E);
    }
    const aOff = new Map([...minA].map(([sym, m]) => [sym, (nextAgg.get(sym) ?? m) - m]));
    const fOff = new Map([...minF].map(([sym, m]) => [sym, (nextTrade.get(sym) ?? m) - m]));
    const tOff = Number.isFinite(clock) ? clock - minT : 0;
    for (const { stream, data: d } of seg) {
      if (lines.length >= n) break;
      const a = d.a + aOff.get(d.s)!;
      const fo = fOff.get(d.s)!;
      if (a <= (lastAgg.get(d.s) ?? -1)) continue; // a duplicate in the recording: the producer would drop it
      lastAgg.set(d.s, a);
      const data: AggTradeJson = { ...d, E: d.E + tOff, a, f: d.f + fo, l: d.l + fo, T: d.T + tOff };
      lines.push(JSON.stringify({ stream, data }));
      nextAgg.set(d.s, Math.max(nextAgg.get(d.s) ?? 0, a + 1));
      nextTrade.set(d.s, Math.max(nextTrade.get(d.s) ?? 0, data.l + 1));
      clock = Math.max(clock, data.T + 1, data.E + 1);
    }
  }
  return lines;
}

/**
 * The baseline's messages: the same trades, encoded as the producer encodes them (TradeWireWriter, key = the
 * 4-byte big-endian symbol index), on the partition the producer's SymbolDirectory gives each symbol.
 */
function baselineMessages(lines: string[], partitions: number): Message[][] {
  const parser = new AggTradeFrameParser();
  const rec = createAggTradeRecord();
  const directory = new SymbolDirectory();
  const rows = new OutgoingBuffer(lines.length);
  const wire = new TradeWireWriter(TRADE_ID);
  const arena = Buffer.allocUnsafeSlow(lines.length * TRADE_MAX_RECORD_BYTES);
  const keys: Buffer[] = [];
  const batches: Message[][] = [];
  let pos = 0;
  for (const line of lines) {
    if (parser.parse(line, rec) !== FrameResult.OK) throw new Error(`generated frame rejected: ${parser.reason}`);
    const s = directory.indexOf(rec.symbol) ?? directory.assign(rec.symbol, partitions).index;
    const p = rows.size;
    rows.pushRecord(s, directory.partitionOf(s), rec);
    const end = wire.writeFrom(rows, p, arena, pos);
    if (keys[s] === undefined) (keys[s] = Buffer.alloc(4)).writeInt32BE(s, 0);
    if (p % BASELINE_BATCH === 0) batches.push([]);
    batches[batches.length - 1]!.push({ key: keys[s]!, value: arena.subarray(pos, end), partition: rows.partition[p]! });
    pos = end;
  }
  return batches;
}

// ---- contenders

interface Result {
  trades: number;
  /** Seconds from start to end (producer: Producer.run(); baseline: connect to disconnect). */
  total: number;
  /** Seconds from the first commit (send) to the last. */
  write: number;
  /** CPU seconds (user + system) of this process over `total`: steadier than wall time on a shared machine (the broker's CPU is not in it). */
  cpu: number;
  note: string;
}

function benchConfig(prefix: string): Config {
  return loadConfig({
    ...process.env,
    KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? '127.0.0.1:19092',
    SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:18081/apis/ccompat/v7',
    KLINESTREAM_TOPIC_PREFIX: prefix,
    KLINESTREAM_METRICS_PORT: '0',
  });
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
}

function connectionOf(config: Config): Connection {
  return { brokers: config.brokers!, schemaRegistryUrl: config.schemaRegistryUrl!, embedded: false };
}

/** Sum and count of the producer's records-per-transaction histogram: what has been committed so far. */
async function committedRecords(registry: ReturnType<typeof createRegistry>): Promise<number> {
  const m = await registry.getSingleMetric('klinestream_producer_batch_records')?.get();
  return m?.values.find((v) => (v as { metricName?: string }).metricName === 'klinestream_producer_batch_records_sum')?.value ?? 0;
}

async function runProducer(file: string, run: number): Promise<Result> {
  const config = benchConfig(`${BENCH}r${run}-`);
  const registry = createRegistry('producer');
  const producer = new Producer({
    config, connection: connectionOf(config), source: { kind: 'file', path: file, speed: 'max' }, log, registry,
    signal: new AbortController().signal, progress: () => undefined,
  });
  // Poll the commit histogram for the write phase (a 10 ms timer costs next to nothing beside the producer).
  let first = NaN;
  let last = NaN;
  let seen = 0;
  const poll = setInterval(() => {
    void committedRecords(registry).then((n) => {
      const now = performance.now();
      if (n > 0 && Number.isNaN(first)) first = now;
      if (n > seen) {
        seen = n;
        last = now;
      }
    });
  }, 10);
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  let summary;
  try {
    summary = await producer.run();
  } finally {
    clearInterval(poll);
  }
  const total = (performance.now() - start) / 1000;
  const cpu = cpuSeconds(cpu0);
  if (summary.unwritten > 0 || summary.malformed > 0) throw new Error(`producer run ${run}: ${summary.unwritten} unwritten, ${summary.malformed} malformed`);
  const inTopic = await countTrades(config);
  if (inTopic !== summary.tradesWritten) throw new Error(`producer run ${run}: wrote ${summary.tradesWritten} trades but ${inTopic} TRADE records are in ${topicNames(config.topicPrefix).trades}`);
  return {
    trades: summary.tradesWritten, total, write: (last - first) / 1000, cpu,
    note: `${summary.transactions} txns, ${summary.duplicates} dups, ${inTopic.toLocaleString('en')} TRADE records read back`,
  };
}

/** TRADE records in the run's `trades` topic, read committed (the body's first byte is the kind: 0 = TRADE). */
async function countTrades(config: Config): Promise<number> {
  const kafka = kafkaClient(config, connectionOf(config), log, { clientId: 'klinestream-bench' });
  const admin = kafka.admin();
  await admin.connect();
  let trades = 0;
  const reader = new TopicReader({
    kafka, admin, topic: topicNames(config.topicPrefix).trades, groupPrefix: config.topicPrefix, log,
    onBatch: (_p, messages) => {
      for (const m of messages) if (m.value !== null && m.value[5] === 0) trades++;
    },
  });
  try {
    await reader.start();
  } finally {
    await reader.stop();
    await admin.disconnect();
  }
  return trades;
}

async function runBaseline(kafka: Kafka, batches: Message[][], topic: string, trades: number): Promise<Result> {
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false,
  });
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  await producer.connect();
  const first = performance.now();
  let sent = 0;
  for (const b of batches) {
    const messages = sent + b.length <= trades ? b : b.slice(0, trades - sent);
    if (messages.length === 0) break;
    await producer.send({ topic, acks: -1, messages });
    sent += messages.length;
  }
  const last = performance.now();
  await producer.disconnect();
  return { trades: sent, total: (performance.now() - start) / 1000, write: (last - first) / 1000, cpu: cpuSeconds(cpu0), note: `${Math.ceil(sent / BASELINE_BATCH)} sends` };
}

// ---- main

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const rate = (r: number) => `${Math.round(r).toLocaleString('en')} trades/s`;

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-produce-bench-'));
  const config = benchConfig(BENCH);
  const kafka = kafkaClient(config, connectionOf(config), log, { clientId: 'klinestream-bench' });
  const admin = kafka.admin();
  await admin.connect();
  try {
    // ---- inputs, before any timing
    SchemaCatalogue.load(); // fail early on a broken checkout
    const dir = referenceDataDir(values.data);
    const files = frameFiles(dir);
    const segments = await loadSegments(files);
    if (segments.length === 0) throw new Error(`no aggTrade frames in aggtrade-frames*.jsonl.gz below ${dir}`);
    const lines = replayLines(segments, TRADES);
    const file = path.join(tmp, 'frames.jsonl.gz');
    fs.writeFileSync(file, gzipSync(Buffer.from(lines.join('\n') + '\n')));
    const batches = baselineMessages(lines, config.partitions);
    process.stdout.write(
      `input: ${lines.length.toLocaleString('en')} trades replayed from ${segments.reduce((n, s) => n + s.length, 0).toLocaleString('en')} recorded frames (${files.length} files under ${dir}) -> ${file} (${(fs.statSync(file).size / 1e6).toFixed(1)} MB gzip); ${config.partitions} partitions; topic prefix ${BENCH}\n`,
    );

    const prod: Result[] = [];
    const base: Result[] = [];
    const stockBase: Result[] = [];
    const stock = new stockKafkajs.Kafka({ clientId: 'klinestream-bench-stock', brokers: connectionOf(config).brokers, logLevel: stockKafkajs.logLevel.NOTHING }) as unknown as Kafka;
    // Round-robin: baseline, producer, baseline, producer, ... so that machine noise hits both alike. The
    // baseline writes as many records as the producer wrote trades (all of them: the ids are unique).
    for (let r = 1; r <= RUNS; r++) {
      const topic = `${BENCH}r${r}-baseline-trades`;
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: config.partitions, replicationFactor: 1 }] });
      const stockTopic = `${BENCH}r${r}-stock-baseline-trades`;
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: stockTopic, numPartitions: config.partitions, replicationFactor: 1 }] });
      const sb = await runBaseline(stock, batches, stockTopic, lines.length);
      const b = await runBaseline(kafka, batches, topic, lines.length);
      for (const [t, x] of [[stockTopic, sb], [topic, b]] as const) {
        const offsets = await admin.fetchTopicOffsets(t);
        const inTopic = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
        if (inTopic !== x.trades) throw new Error(`baseline run ${r}: sent ${x.trades} but ${inTopic} records are in ${t}`);
      }
      stockBase.push(sb);
      base.push(b);
      const p = await runProducer(file, r);
      prod.push(p);
      process.stdout.write(
        `  run ${r}: stock baseline ${rate(sb.trades / sb.total)} end to end | baseline ${rate(b.trades / b.total)} end to end, ${rate(b.trades / b.write)} write, ${((b.cpu * 1e6) / b.trades).toFixed(1)} us CPU/trade (${b.note}) | ` +
          `producer ${rate(p.trades / p.total)} end to end, ${rate(p.trades / p.write)} write, ${((p.cpu * 1e6) / p.trades).toFixed(1)} us CPU/trade (${p.note}; ${p.total.toFixed(2)} s total, ${p.write.toFixed(2)} s writing)\n`,
      );
    }
    const med = (rs: Result[], f: (x: Result) => number) => median(rs.map(f));
    const us = (rs: Result[]) => med(rs, (x) => (x.cpu * 1e6) / x.trades);
    const row = (name: string, rs: Result[]) =>
      process.stdout.write(
        `  ${name.padEnd(56)} end to end ${rate(med(rs, (x) => x.trades / x.total)).padStart(18)}   write phase ${rate(med(rs, (x) => x.trades / x.write)).padStart(18)}   cpu ${us(rs).toFixed(1)} us/trade\n`,
      );
    process.stdout.write(`produce into Kafka (${lines.length.toLocaleString('en')} trades per run, median of ${RUNS}; CPU of this process only):\n`);
    row('stock baseline: bare kafkajs 2.2.4 as installed', stockBase);
    row('baseline: bare kafkajs with our linear grouping', base);
    row('producer: Producer.run(), file, --speed max', prod);
    // Ratios per run (each pair ran back to back), then their median: less exposed to load that comes and
    // goes on a shared machine than the ratio of the two medians.
    const verdict = (r: number) => (r >= 0.8 ? 'met' : 'NOT met');
    for (const [name, against] of [['stock baseline', stockBase], ['baseline with linear grouping', base]] as const) {
      const pairs = (f: (x: Result) => number) => median(prod.map((p, i) => f(p) / f(against[i]!)));
      const endToEnd = pairs((x) => x.trades / x.total);
      const write = pairs((x) => x.trades / x.write);
      const cpu = us(against) / us(prod);
      process.stdout.write(
        `producer / ${name} (median of the per-run ratios): end to end x${endToEnd.toFixed(2)} (${verdict(endToEnd)}), write phase x${write.toFixed(2)} (${verdict(write)}); ` +
          `CPU per trade x${cpu.toFixed(2)} (${verdict(cpu)}); target >= x0.80\n`,
      );
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!values.keep) {
      const mine = (await admin.listTopics()).filter((t) => t.startsWith(BENCH));
      if (mine.length > 0) await admin.deleteTopics({ topics: mine, timeout: 30_000 });
      process.stdout.write(`deleted ${mine.length} topics under ${BENCH}\n`);
    }
    await admin.disconnect();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
