/**
 * Worker benchmarks on a real Kafka (issue 8), all measured in the same run:
 *
 *   1. throughput: trades/s from `trades` to `klines` with 1 and 2 workers (and 1 under exactly-once), next to a bare kafkajs eachBatch
 *      consumer that only counts the same topic's messages. The topic is filled before any timing, by the
 *      real producer (`klinestream produce --source file:<frames> --speed max`: SymbolEntry records, Avro
 *      trades keyed by symbol index on each symbol's placement partition, watermarks every 250 ms of event
 *      time), from a generated frames file (Zipf-like activity over the symbols, ~2,000 trades per second of
 *      event time). Every contender gets a fresh group and fresh klines / kline-state / DLQ topics (as
 *      `klinestream replay` does) and runs in its own process (worker-child.ts: the Worker of `klinestream
 *      work --until-caught-up`); contenders take turns, round-robin, --runs rounds. Reported per contender
 *      (medians): trades / (first group join -> caught up, klines published and offsets committed), the
 *      steady rate between 10% and 90% of the topic's offsets (committed offsets for the workers, polled),
 *      the process wall time, and the ratios to the bare consumer (median of the ratios within a round).
 *   2. latency (worker-latency.ts): trade production -> its kline update readable on `klines`, p50 / p99, at a
 *      steady 20,000 trades/s into one running worker.
 *   3. restore (worker-latency.ts): a fresh worker of the same group restores 1,000 symbols x 14 intervals
 *      from `kline-state`: restore ms and resident memory, once from fresh state (one record per symbol) and
 *      once after 10 s of live trading at 20,000 trades/s (every flush adds the state of the symbols it
 *      changed, and a restore reads every record not yet compacted away).
 *   4. catch-up (worker-catch-up.ts): `work --until-caught-up` through a day-long silence of 100 symbols
 *      (~261,000 klines closed at once), under both guarantees, next to `aggregate` of the same frames.
 *
 *   node --expose-gc dist/scripts/bench/worker.bench.js [--trades N] [--symbols N] [--runs N]
 *        [--only throughput,latency,restore,catch-up] [--catch-up-runs N] [--latency-rate N] [--latency-seconds N] [--latency-symbols N]
 *        [--restore-symbols N] [--restore-trades N] [--restore-runs N] [--restore-live-rate N] [--restore-live-seconds N]
 *        [--brokers H:P] [--schema-registry URL] [--keep]
 *
 * Quick run: --trades 500K --runs 3 --latency-seconds 10 --restore-runs 1 (about a minute).
 *
 * Defaults: 2,000,000 trades over 500 symbols, 4 partitions, 5 rounds; 20,000 trades/s for 25 s (after 5 s of
 * warm-up) over 500 symbols; 1,000 symbols, 3 restores of each kind. Needs a running Kafka + registry (default the local
 * stack, `klinestream stack up`; or KAFKA_BROKERS / SCHEMA_REGISTRY_URL). Everything runs under the topic
 * prefix `wbench-<random>-`; its topics, groups and schema subjects are deleted at the end (--keep keeps them).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { Admin } from 'kafkajs';
import { topicNames } from '../../src/config/config';
import { ensureTopics } from '../../src/kafka/topics';
import {
  PARTITIONS, appEnv, benchConnection, benchKafka, cleanup, expectExit, fmt, median, runCli, startChild, topicEnds, writeFramesFile,
  type BenchConnection, type ChildHandle, type ChildMessage,
} from './worker-bench-support';
import { catchUpBench } from './worker-catch-up';
import { latencyBench, restoreBench } from './worker-latency';

const { values } = parseArgs({
  options: {
    trades: { type: 'string' }, symbols: { type: 'string' }, runs: { type: 'string' }, only: { type: 'string' }, 'catch-up-runs': { type: 'string' },
    'latency-rate': { type: 'string' }, 'latency-seconds': { type: 'string' }, 'latency-symbols': { type: 'string' },
    'restore-symbols': { type: 'string' }, 'restore-trades': { type: 'string' }, 'restore-runs': { type: 'string' },
    'restore-live-rate': { type: 'string' }, 'restore-live-seconds': { type: 'string' },
    brokers: { type: 'string' }, 'schema-registry': { type: 'string' }, keep: { type: 'boolean' },
  },
});

/** `500K`, `2M`, `2000000`. */
function count(raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(raw);
  if (!m) throw new Error(`not a count: ${raw}`);
  return Math.round(Number(m[1]) * (m[2] === '' ? 1 : /k/i.test(m[2]!) ? 1e3 : 1e6));
}

const TRADES = count(values.trades, 2_000_000);
const SYMBOLS = count(values.symbols, 500);
const RUNS = count(values.runs, 5);
const ONLY = new Set((values.only ?? 'throughput,latency,restore,catch-up').split(','));
const CONN: BenchConnection = benchConnection(values.brokers, values['schema-registry']);
const BASE = `wbench-${randomBytes(3).toString('hex')}-`;
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'wbench-'));
const CACHE = path.join(WORK, 'cache');

interface Outcome {
  /** Trades over first group join -> caught up. */
  rate: number;
  /** Trades over the time from 10% to 90% of the topic's offsets. */
  steady: number;
  wallMs: number;
  note: string;
}

const logs = (h: ChildHandle, msg: string) => h.messages.filter((m): m is Extract<ChildMessage, { type: 'log' }> => m.type === 'log' && m.msg === msg);
const done = (h: ChildHandle) => h.messages.find((m): m is Extract<ChildMessage, { type: 'done' }> => m.type === 'done');

async function bare(env: NodeJS.ProcessEnv, trades: string, ends: Record<number, number>, tag: string, tradeCount: number): Promise<Outcome> {
  const t0 = Date.now();
  const h = startChild({ mode: 'bare', groupId: `${BASE}tp.bare-${tag}`, topic: trades, ends }, env);
  await expectExit('bare consumer', h.exited);
  const join = logs(h, 'partitions assigned')[0]!.time;
  const end = logs(h, 'caught up: the group has no lag')[0]!.time;
  const mark = (n: string) => h.messages.find((m): m is Extract<ChildMessage, { type: 'mark' }> => m.type === 'mark' && m.name === n)!;
  const s = done(h)!.summary as { messages: number; trades: number };
  if (s.trades !== tradeCount) throw new Error(`bare consumer counted ${s.trades} trades, the producer wrote ${tradeCount}`);
  return {
    rate: tradeCount / ((end - join) / 1000), steady: (0.8 * tradeCount) / ((mark('p90').time - mark('p10').time) / 1000), wallMs: Date.now() - t0,
    note: `${fmt(s.messages)} messages`,
  };
}

/** The contender's own output topics, created before its workers start (two workers would race to create them). */
async function contenderTopics(admin: Admin, tag: string) {
  const t = { groupId: `${BASE}tp.group-${tag}`, klinesTopic: `${BASE}tp.klines-${tag}`, klineStateTopic: `${BASE}tp.kline-state-${tag}`, dlqTopic: `${BASE}tp.dlq-${tag}` };
  await admin.createTopics({
    waitForLeaders: true,
    topics: [
      { topic: t.klinesTopic, numPartitions: PARTITIONS, replicationFactor: 1 },
      { topic: t.klineStateTopic, numPartitions: PARTITIONS, replicationFactor: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      { topic: t.dlqTopic, numPartitions: 1, replicationFactor: 1 },
    ],
  });
  return t;
}

async function workers(n: number, env: NodeJS.ProcessEnv, admin: Admin, trades: string, endTotal: number, tag: string, tradeCount: number): Promise<Outcome> {
  const t = await contenderTopics(admin, tag);
  const t0 = Date.now();
  const hs = Array.from({ length: n }, () => startChild({ mode: 'worker', ...t, untilCaughtUp: true }, env));
  // Committed offsets of the group, polled: when 10% and 90% of the topic's offsets were committed.
  const crossings: number[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling && crossings.length < 2) {
      const offsets = await admin.fetchOffsets({ groupId: t.groupId, topics: [trades] }).catch(() => []);
      let sum = 0;
      for (const p of offsets[0]?.partitions ?? []) sum += Math.max(0, Number(p.offset));
      const now = Date.now();
      if (crossings.length === 0 && sum >= 0.1 * endTotal) crossings.push(now);
      if (crossings.length === 1 && sum >= 0.9 * endTotal) crossings.push(now);
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  for (const h of hs) await expectExit(`worker (${n} workers)`, h.exited);
  polling = false;
  await poller;
  const join = Math.min(...hs.map((h) => logs(h, 'partitions assigned')[0]!.time));
  const end = Math.max(...hs.map((h) => logs(h, 'caught up: the group has no lag')[0]!.time));
  const sums = hs.map((h) => done(h)!.summary as { tradesApplied: number; duplicates: number; lateTrades: number; dlq: number; finalKlines: number; liveKlines: number; flushes: number });
  const applied = sums.reduce((a, s) => a + s.tradesApplied, 0);
  const dupes = sums.reduce((a, s) => a + s.duplicates, 0);
  if (applied < tradeCount) throw new Error(`${n} worker(s) applied ${applied} trades of ${tradeCount}`);
  const bad = sums.reduce((a, s) => a + s.lateTrades + s.dlq, 0);
  if (bad > 0) throw new Error(`${n} worker(s): ${bad} late or DLQ records on a clean topic`);
  const rebalances = hs.reduce((a, h) => a + logs(h, 'partitions assigned').length, 0) - n;
  const steady = crossings.length === 2 ? (0.8 * tradeCount) / ((crossings[1]! - crossings[0]!) / 1000) : NaN;
  return {
    rate: tradeCount / ((end - join) / 1000), steady, wallMs: Date.now() - t0,
    note: `${fmt(sums.reduce((a, s) => a + s.finalKlines, 0))} final + ${fmt(sums.reduce((a, s) => a + s.liveKlines, 0))} live klines in ` +
      `${sums.reduce((a, s) => a + s.flushes, 0)} flushes` + (n > 1 ? `; ${rebalances} extra assignments, ${fmt(applied - tradeCount + dupes)} trades re-read` : ''),
  };
}

async function throughput(admin: Admin): Promise<void> {
  const env = appEnv(CONN, `${BASE}tp.`, CACHE);
  const names = topicNames(`${BASE}tp.`);
  const file = path.join(WORK, 'frames.jsonl.gz');
  let t = Date.now();
  await writeFramesFile(file, { trades: TRADES, symbols: SYMBOLS, rate: 2000, start: Date.parse('2026-01-05T00:00:00Z'), seed: 42 });
  console.log(`frames file: ${fmt(TRADES)} trades of ${SYMBOLS} symbols, ${(fs.statSync(file).size / 1048576).toFixed(0)} MB gzipped, in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  t = Date.now();
  const fill = await expectExit('produce', runCli(['produce', '--source', `file:${file}`, '--speed', 'max'], env));
  fs.rmSync(file);
  const written = /produce: (\d+) trades written in (\d+) transactions/.exec(fill.stderr);
  const tradeCount = Number(written?.[1] ?? NaN);
  if (tradeCount !== TRADES) throw new Error(`the producer wrote ${written?.[1]} trades, expected ${TRADES}:\n${fill.stderr.slice(-3000)}`);
  const { total, ends } = await topicEnds(admin, names.trades);
  console.log(
    `filled ${names.trades} (${PARTITIONS} partitions, ${fmt(total)} offsets: trades, watermarks, transaction markers) with \`klinestream produce --speed max\` ` +
      `in ${((Date.now() - t) / 1000).toFixed(1)} s (${fmt(tradeCount / ((Date.now() - t) / 1000))} trades/s, ${written![2]} transactions)`,
  );
  const contenders: Array<[string, (tag: string) => Promise<Outcome>]> = [
    ['bare kafkajs eachBatch (count only)', (tag) => bare(env, names.trades, ends, tag, tradeCount)],
    ['1 worker', (tag) => workers(1, env, admin, names.trades, total, `w1-${tag}`, tradeCount)],
    ['2 workers (one group)', (tag) => workers(2, env, admin, names.trades, total, `w2-${tag}`, tradeCount)],
    // Issue 9: the same single worker with its flushes as Kafka transactions (one per input partition).
    ['1 worker, --guarantee exactly-once', (tag) => workers(1, { ...env, KLINESTREAM_GUARANTEE: 'exactly-once' }, admin, names.trades, total, `w1eos-${tag}`, tradeCount)],
  ];
  const results = contenders.map(() => [] as Outcome[]);
  for (let r = 0; r < RUNS; r++) {
    for (let c = 0; c < contenders.length; c++) {
      const o = await contenders[c]![1](`r${r}`);
      results[c]!.push(o);
      console.log(`  run ${r + 1} ${contenders[c]![0]}: ${fmt(o.rate)} trades/s join->caught up, ${fmt(o.steady)} trades/s 10%->90%, ${(o.wallMs / 1000).toFixed(1)} s wall; ${o.note}`);
    }
  }
  const rate = results.map((rs) => median(rs.map((o) => o.rate)));
  const steady = results.map((rs) => median(rs.map((o) => o.steady)));
  const wall = results.map((rs) => median(rs.map((o) => o.wallMs)));
  // Ratios within each round (the machine's load drifts between rounds), then their median.
  const ratio = results.map((rs) => median(rs.map((o, r) => o.rate / results[0]![r]!.rate)));
  const steadyRatio = results.map((rs) => median(rs.map((o, r) => o.steady / results[0]![r]!.steady)));
  console.log(`\nthroughput, ${fmt(TRADES)} trades, ${SYMBOLS} symbols, ${PARTITIONS} partitions, 14 intervals, flush ${env.KLINESTREAM_FLUSH_INTERVAL_MS ?? 250} ms; median of ${RUNS} run(s)`);
  console.log('contender                               join->caught up   ratio     10%->90%   ratio   process wall   (ratios: median of the per-round ratios)');
  for (let c = 0; c < contenders.length; c++) {
    console.log(
      `${contenders[c]![0].padEnd(38)} ${fmt(rate[c]!).padStart(10)} tr/s ${ratio[c]!.toFixed(2).padStart(7)} ` +
        `${fmt(steady[c]!).padStart(9)} tr/s ${steadyRatio[c]!.toFixed(2).padStart(6)} ${(wall[c]! / 1000).toFixed(1).padStart(10)} s`,
    );
  }
  console.log(`target: 1 worker >= 70% of the bare consumer (join->caught up): ${(100 * ratio[1]!).toFixed(0)}% ${ratio[1]! >= 0.7 ? 'met' : 'NOT met'}`);
}

async function main(): Promise<void> {
  const { kafka, config, log } = benchKafka(appEnv(CONN, BASE, CACHE), 'wbench');
  const admin = kafka.admin();
  await admin.connect();
  console.log(`worker benchmarks on ${CONN.brokers} (prefix ${BASE}), ${os.cpus().length} cores, node ${process.version}`);
  const stop = () => {
    console.log('interrupted: cleaning up');
    void cleanup(admin, CONN.registry, BASE).finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    // One set of app topics per section (the prefix names trades too); created here, as a producer would.
    for (const s of ['tp.', 'lat.', 'rs.']) await ensureTopics(admin, { ...config, topicPrefix: `${BASE}${s}` }, log);
    if (ONLY.has('throughput')) await throughput(admin);
    if (ONLY.has('latency')) {
      await latencyBench({
        conn: CONN, prefix: `${BASE}lat.`, cacheDir: CACHE, admin, rate: count(values['latency-rate'], 20_000), seconds: count(values['latency-seconds'], 25),
        symbols: count(values['latency-symbols'], 500),
      });
    }
    if (ONLY.has('restore')) {
      await restoreBench({
        conn: CONN, prefix: `${BASE}rs.`, cacheDir: CACHE, admin, work: WORK, symbols: count(values['restore-symbols'], 1000),
        trades: count(values['restore-trades'], 50_000), runs: count(values['restore-runs'], 3),
        liveRate: count(values['restore-live-rate'], 20_000), liveSeconds: count(values['restore-live-seconds'], 10),
      });
    }
    if (ONLY.has('catch-up')) await catchUpBench({ conn: CONN, prefix: `${BASE}cu.`, cacheDir: CACHE, admin, runs: count(values['catch-up-runs'], 3) });
  } finally {
    if (values.keep !== true) {
      const c = await cleanup(admin, CONN.registry, BASE);
      console.log(`\ncleaned up: ${c.topics} topics, ${c.groups} groups, ${c.subjects} schema subjects of ${BASE}`);
    }
    await admin.disconnect();
    fs.rmSync(WORK, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
