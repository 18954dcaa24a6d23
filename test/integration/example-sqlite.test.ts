/**
 * examples/sqlite-upsert against the real broker and registry: klines written the way workers write them
 * (repeats, older versions republished after a crash, finals published twice), read by the example into
 * SQLite, twice with the same consumer group (the second run resumes after new records arrived). The table
 * equals `klinestream klines --final` in final-only mode, and the latest version of every kline otherwise.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Partitioners, type Producer } from 'kafkajs';
import type { AvroCodec } from '../../src/codec/avro-codec';
import type { Kline } from '../../src/codec/records';
import { SchemaCatalogue } from '../../src/codec/schema-catalogue';
import { RegistryClient } from '../../src/codec/schema-registry';
import { registerValueCodec } from '../../src/codec/topic-codecs';
import { KLINE_CSV_HEADER, klineRecordCsvRow } from '../../src/downstream/kline-csv';
import { KafkaResources, builtCli, expectSuccess, runCli, testConnection, testKafka, uniqueName, type CliResult } from './helpers';

jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLE = path.join(ROOT, 'dist', 'examples', 'sqlite-upsert', 'index.js');
const BASE = 1_767_225_600_000;

interface Row {
  symbol: string; interval: string; open_time: number; close_time: number; open: number; high: number; low: number; close: number;
  volume: number; quote_volume: number; trade_count: number; taker_buy_volume: number; taker_buy_quote_volume: number;
  first_trade_id: number; last_trade_id: number; is_final: number; version: number;
}
type Db = { prepare(sql: string): { all(): Row[] }; close(): void };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Database = require('better-sqlite3') as new (file: string, options?: { readonly?: boolean }) => Db;

function kline(symbol: string, interval: string, i: number, version: number, isFinal: boolean): Kline {
  const ms = interval === '1m' ? 60_000 : 300_000;
  const n = isFinal ? version - 1 : version;
  const open = 100 + symbol.charCodeAt(0) + i;
  return {
    symbol, interval, openTime: BASE + i * ms, closeTime: BASE + (i + 1) * ms - 1, open, high: open + n, low: open - n / 2, close: open + n / 4,
    volume: n * 1.5, quoteVolume: n * 1.5 * open, tradeCount: n * 2, takerBuyVolume: n / 2, takerBuyQuoteVolume: (n / 2) * open,
    firstTradeId: 1000 * i + 1, lastTradeId: 1000 * i + n * 2, isFinal, version,
  };
}
const live = (s: string, iv: string, i: number, v: number) => kline(s, iv, i, v, false);
const fin = (s: string, iv: string, i: number, v: number) => kline(s, iv, i, v, true);

const PHASE1: Kline[] = [
  live('BTCUSDT', '1m', 0, 1), live('BTCUSDT', '1m', 0, 3), live('BTCUSDT', '1m', 0, 3), fin('BTCUSDT', '1m', 0, 5), live('BTCUSDT', '5m', 0, 2),
  live('BTCUSDT', '1m', 0, 2), fin('BTCUSDT', '1m', 0, 5), live('BTCUSDT', '1m', 1, 2), live('ETHUSDT', '1m', 0, 1), fin('ETHUSDT', '1m', 0, 2),
];
const PHASE2: Kline[] = [
  live('BTCUSDT', '1m', 1, 1), fin('BTCUSDT', '1m', 1, 4), live('BTCUSDT', '1m', 2, 1), fin('BTCUSDT', '5m', 0, 6),
  live('ETHUSDT', '1m', 1, 0), fin('ETHUSDT', '1m', 1, 1), fin('ETHUSDT', '1m', 0, 2), live('ETHUSDT', '1m', 2, 3),
];

function latest(ks: Kline[]): Kline[] {
  const m = new Map<string, Kline>();
  for (const k of ks) {
    const key = `${k.symbol}|${k.interval}|${k.openTime}`;
    if ((m.get(key)?.version ?? -1) < k.version) m.set(key, k);
  }
  return [...m.values()];
}

function rowKline(r: Row): Kline {
  return {
    symbol: r.symbol, interval: r.interval, openTime: r.open_time, closeTime: r.close_time, open: r.open, high: r.high, low: r.low, close: r.close,
    volume: r.volume, quoteVolume: r.quote_volume, tradeCount: r.trade_count, takerBuyVolume: r.taker_buy_volume, takerBuyQuoteVolume: r.taker_buy_quote_volume,
    firstTradeId: r.first_trade_id, lastTradeId: r.last_trade_id, isFinal: r.is_final === 1, version: r.version,
  };
}

function table(file: string): Kline[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare('SELECT * FROM klines').all().map(rowKline);
  } finally {
    db.close();
  }
}

const sorted = (ks: Kline[]) => ks.map((k) => JSON.stringify(k)).sort();

function runExample(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  builtCli();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [EXAMPLE, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('examples/sqlite-upsert', () => {
  const resources = new KafkaResources(testKafka(uniqueName('sqlite-example')));
  let producer: Producer;
  let codec: AvroCodec<Kline>;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let prefix: string;

  beforeAll(async () => {
    prefix = `${uniqueName('sqlx')}.`;
    const topic = `${prefix}klines`;
    resources.trackTopic(topic);
    const admin = await resources.admin();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
    codec = await registerValueCodec(new RegistryClient({ url: testConnection().schemaRegistryUrl }), SchemaCatalogue.load(), topic, 'Kline');
    producer = testKafka(uniqueName('sqlx-producer')).producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-sqlite-'));
    env = { ...process.env, KLINESTREAM_TOPIC_PREFIX: prefix, KLINESTREAM_LOG_LEVEL: 'warn' };
  });

  afterAll(async () => {
    await producer?.disconnect();
    const admin = await resources.admin();
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
    if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
    await resources.cleanup();
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  const send = (ks: Kline[]) => producer.send({ topic: `${prefix}klines`, acks: -1, messages: ks.map((k) => ({ key: k.symbol, value: codec.encode(k) })) });

  it('keeps the latest version per kline, and only finals with --final; resumes across a restart', async () => {
    const all = path.join(dir, 'all.sqlite');
    const finals = path.join(dir, 'final.sqlite');
    await send(PHASE1);
    for (const [db, extra] of [[all, []], [finals, ['--final']]] as const) {
      const r = await runExample(['--db', db, '--group', `${prefix}all-${extra.length}`, '--exit-at-end', ...extra], env);
      expectSuccess(r);
    }
    expect(sorted(table(all))).toEqual(sorted(latest(PHASE1)));
    expect(sorted(table(finals))).toEqual(sorted(latest(PHASE1).filter((k) => k.isFinal)));

    await send(PHASE2);
    for (const [db, extra] of [[all, []], [finals, ['--final']]] as const) {
      const r = await runExample(['--db', db, '--group', `${prefix}all-${extra.length}`, '--exit-at-end', ...extra], env);
      expectSuccess(r);
      // Resumed from the committed offsets: only the new records were read.
      expect(r.stderr).toMatch(/sqlite-upsert: \d+ klines delivered/);
      expect(Number(/(\d+) klines delivered/.exec(r.stderr)![1])).toBeLessThanOrEqual(PHASE2.length);
    }
    const everything = [...PHASE1, ...PHASE2];
    expect(sorted(table(all))).toEqual(sorted(latest(everything)));

    // The final-only table is exactly what `klines --final` prints.
    const cli = await runCli(['klines', '--final', '--from-beginning', '--exit-at-end', '--format', 'csv'], env);
    expectSuccess(cli);
    const lines = cli.stdout.trim().split('\n');
    expect(lines[0]).toBe(KLINE_CSV_HEADER);
    expect(table(finals).map(klineRecordCsvRow).sort()).toEqual(lines.slice(1).sort());
    expect(lines.length - 1).toBe(latest(everything).filter((k) => k.isFinal).length);
  });
});
