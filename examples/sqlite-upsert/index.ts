/**
 * Example: keep the latest klines in SQLite, by upsert, with the klinestream library.
 *
 *   npm run build
 *   KAFKA_BROKERS=localhost:19092 SCHEMA_REGISTRY_URL=http://localhost:18081/apis/ccompat/v7 \
 *     node dist/examples/sqlite-upsert/index.js --db klines.sqlite [--final] [--symbols BTCUSDT] [--intervals 1m,1h]
 *
 * One row per (symbol, interval, open_time), always the highest version seen: live klines are updated in
 * place until they are final. The consumer group (--group, default `sqlite-upsert`) commits its offsets
 * after each row is written, so a restart resumes where it stopped; records read again after a restart
 * are harmless, because the upsert never replaces a row by an older or equal version.
 * Without KAFKA_BROKERS it reads the embedded local stack's default addresses. --exit-at-end stops at the
 * end of the topic (as it was when the example started) instead of following it; Ctrl-C stops cleanly.
 */
import Database from 'better-sqlite3';
import { parseArgs } from 'node:util';
import { KlineConsumer, type Kline } from 'klinestream';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS klines (
  symbol TEXT NOT NULL, interval TEXT NOT NULL, open_time INTEGER NOT NULL, close_time INTEGER NOT NULL,
  open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
  volume REAL NOT NULL, quote_volume REAL NOT NULL, trade_count INTEGER NOT NULL,
  taker_buy_volume REAL NOT NULL, taker_buy_quote_volume REAL NOT NULL,
  first_trade_id INTEGER NOT NULL, last_trade_id INTEGER NOT NULL,
  is_final INTEGER NOT NULL, version INTEGER NOT NULL,
  PRIMARY KEY (symbol, interval, open_time)
) WITHOUT ROWID`;

// The highest version wins: an older or repeated record changes nothing.
const UPSERT = `
INSERT INTO klines VALUES (@symbol, @interval, @openTime, @closeTime, @open, @high, @low, @close, @volume, @quoteVolume,
  @tradeCount, @takerBuyVolume, @takerBuyQuoteVolume, @firstTradeId, @lastTradeId, @isFinal, @version)
ON CONFLICT (symbol, interval, open_time) DO UPDATE SET
  close_time = excluded.close_time, open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
  volume = excluded.volume, quote_volume = excluded.quote_volume, trade_count = excluded.trade_count,
  taker_buy_volume = excluded.taker_buy_volume, taker_buy_quote_volume = excluded.taker_buy_quote_volume,
  first_trade_id = excluded.first_trade_id, last_trade_id = excluded.last_trade_id,
  is_final = excluded.is_final, version = excluded.version
WHERE excluded.version > klines.version`;

const list = (s: string | undefined) => (s === undefined ? undefined : s.split(',').map((x) => x.trim()).filter((x) => x !== ''));

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      db: { type: 'string' }, group: { type: 'string' }, final: { type: 'boolean' }, symbols: { type: 'string' }, intervals: { type: 'string' },
      'exit-at-end': { type: 'boolean' },
    },
  });
  if (values.db === undefined) {
    process.stderr.write('usage: sqlite-upsert --db FILE [--group ID] [--final] [--symbols A,B] [--intervals 1m,1h] [--exit-at-end]\n');
    return 2;
  }
  const db = new Database(values.db);
  db.pragma('journal_mode = WAL');
  db.exec(SCHEMA);
  const upsert = db.prepare(UPSERT);

  const consumer = new KlineConsumer({
    brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(','),
    schemaRegistryUrl: process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:18081/apis/ccompat/v7',
    topicPrefix: process.env.KLINESTREAM_TOPIC_PREFIX ?? '',
    groupId: values.group ?? 'sqlite-upsert',
    fromBeginning: true,
    finalOnly: values.final === true,
    symbols: list(values.symbols),
    intervals: list(values.intervals),
  });
  let written = 0;
  const store = (k: Kline): void => {
    written += upsert.run({ ...k, isFinal: k.isFinal ? 1 : 0 }).changes;
  };
  const stop = () => void consumer.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    if (values['exit-at-end'] === true) await consumer.readToEnd(store);
    else await consumer.run(store);
  } finally {
    db.close();
  }
  const s = consumer.stats;
  process.stderr.write(`sqlite-upsert: ${s.delivered} klines delivered, ${written} rows written, ${s.duplicates + s.superseded} duplicates dropped\n`);
  return 0;
}

main().then((code) => (process.exitCode = code), (e: unknown) => {
  process.stderr.write(`sqlite-upsert: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
