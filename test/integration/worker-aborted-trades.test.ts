/**
 * What an aborted transaction wrote to `trades` never reaches the klines. This is what happens when the
 * producer is killed with a transaction open or fenced by a takeover: the records stay in the log, Kafka
 * marks them aborted, and the next producer writes the same trades again. kafkajs 2.2.4 on its own took
 * any record keyed `00 00 00 00` for an abort marker, which is exactly the key of symbol index 0 (BTCUSDT
 * here), and so delivered the aborted trade and the watermark after it (src/kafka/aborted-filter.ts).
 */
import * as path from 'node:path';
import { Partitioners } from 'kafkajs';
import { watermarkTrade, type Trade } from '../../src/codec/records';
import { SchemaCatalogue } from '../../src/codec/schema-catalogue';
import { RegistryClient } from '../../src/codec/schema-registry';
import { registerValueCodec } from '../../src/codec/topic-codecs';
import { binanceDataDir } from '../support/data-dir';
import { runCli, testConnection, testKafka, uniqueName } from './helpers';
import { allKlineRecords, appEnv, appPrefix, deleteApp, expectOk } from './pipeline-helpers';
import { readContent } from './support/trades-topic';

jest.setTimeout(180_000);

const file = path.join(binanceDataDir(), 'btcusdt-usdm-2023-04-04', 'aggtrade-frames.jsonl.gz');
const prefix = appPrefix('aborted');
const env = appEnv(prefix, { KLINESTREAM_PARTITIONS: '2' });

afterAll(() => deleteApp(prefix));

it('a worker applies the committed rewrite of a trade and nothing of the aborted transaction before it', async () => {
  await expectOk(runCli(['produce', '--source', `file:${file}`], env), 'produce');
  const content = await readContent(prefix);
  const btc = content.bySymbol.get('BTCUSDT')!;
  const entry = content.symbols.byName.get('BTCUSDT')!;
  expect(entry.index).toBe(0);
  const last = btc[btc.length - 1]!;

  // The next trade, in a minute of its own after the recording, first written in a transaction that a
  // "crash" aborts (with a watermark that would close its minute), then written again and committed.
  const minute = Math.floor(last.tradeTime / 60_000) * 60_000 + 120_000;
  const registry = new RegistryClient({ url: testConnection().schemaRegistryUrl });
  const codec = await registerValueCodec(registry, SchemaCatalogue.load(), `${prefix}trades`, 'Trade');
  const trade = (quantity: number): Trade => ({
    kind: 'TRADE', symbolIndex: 0, aggId: last.aggId + 1, firstTradeId: last.lastTradeId + 1, lastTradeId: last.lastTradeId + 1,
    price: last.price, quantity, tradeTime: minute + 5_000, eventTime: minute + 5_000, isBuyerMaker: false, targetPartition: -1,
  });
  const key = Buffer.alloc(4); // symbol index 0: 00 00 00 00
  const topic = `${prefix}trades`;
  const producer = testKafka().producer({ transactionalId: uniqueName('aborted-writer'), idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    const aborted = await producer.transaction();
    await aborted.send({ topic, acks: -1, messages: [
      { key, value: codec.encode(trade(1000)), partition: entry.partition },
      { key: null, value: codec.encode(watermarkTrade(minute + 600_000)), partition: entry.partition },
    ] });
    await aborted.abort();
    const committed = await producer.transaction();
    await committed.send({ topic, acks: -1, messages: [{ key, value: codec.encode(trade(0.5)), partition: entry.partition }] });
    await committed.commit();
  } finally {
    await producer.disconnect();
  }

  await expectOk(runCli(['work', '--until-caught-up'], env), 'work');
  const versions = (await allKlineRecords(`${prefix}klines`)).filter((k) => k.symbol === 'BTCUSDT' && k.interval === '1m' && k.openTime === minute);
  expect(versions.length).toBeGreaterThan(0);
  // Every version the worker published of that minute has the committed trade only, and none is final:
  // the only watermark past it was aborted.
  for (const k of versions) {
    expect({ volume: k.volume, tradeCount: k.tradeCount, isFinal: k.isFinal, firstTradeId: k.firstTradeId })
      .toEqual({ volume: 0.5, tradeCount: 1, isFinal: false, firstTradeId: last.lastTradeId + 1 });
  }
});
