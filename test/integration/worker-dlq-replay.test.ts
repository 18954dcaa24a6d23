/**
 * Bad records never stop a partition: undecodable values, unknown schema ids, symbol indexes nobody knows
 * and late trades land in `trades-dlq` with their reason and source coordinates, and the worker keeps going
 * (SPEC 4.5). `replay --from earliest` rebuilds the same finals as the live run into another topic, without
 * touching the live group; `replay --from <time>` publishes no kline that opens before the time.
 */
import * as path from 'node:path';
import { Partitioners } from 'kafkajs';
import type { Kline, Trade } from '../../src/codec/records';
import { SchemaCatalogue } from '../../src/codec/schema-catalogue';
import { RegistryClient } from '../../src/codec/schema-registry';
import { registerValueCodec } from '../../src/codec/topic-codecs';
import { binanceDataDir } from '../support/data-dir';
import { runCli, testConnection, testKafka } from './helpers';
import { allKlineRecords, appEnv, appPrefix, deleteApp, expectOk, finalsFrom, finalsOf, sortKlines, waitFor } from './pipeline-helpers';

const file = path.join(binanceDataDir(), 'btcusdt-usdm-2023-04-04', 'aggtrade-frames.jsonl.gz');
const prefix = appPrefix('dlq');
const env = appEnv(prefix, { KLINESTREAM_PARTITIONS: '2' });

afterAll(() => deleteApp(prefix));

it('poison records go to the DLQ with reason and source; the worker goes on; replay rebuilds the same finals', async () => {
  await expectOk(runCli(['produce', '--source', `file:${file}`], env), 'produce');
  const kafka = testKafka();
  const registry = new RegistryClient({ url: testConnection().schemaRegistryUrl });
  const codec = await registerValueCodec(registry, SchemaCatalogue.load(), `${prefix}trades`, 'Trade');
  const trade = (over: Partial<Trade>): Buffer => codec.encode({
    kind: 'TRADE', symbolIndex: 0, aggId: 9e12, firstTradeId: 9e12, lastTradeId: 9e12, price: 1, quantity: 1,
    tradeTime: Date.parse('2023-04-04T23:55:00Z'), eventTime: Date.parse('2023-04-04T23:55:00Z'), isBuyerMaker: false, targetPartition: -1, ...over,
  });
  const unknownId = Buffer.concat([Buffer.from([0, 0x0f, 0x42, 0x3f, 0x00]), Buffer.from('whatever')]); // schema id 999999
  const key = (i: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(i, 0);
    return b;
  };
  // BTCUSDT is symbol 0; the producer put it on one of the two partitions: poison both.
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const poison = [
    { key: key(0), value: Buffer.from('not avro at all') },
    { key: key(0), value: unknownId },
    { key: key(4242), value: trade({ symbolIndex: 4242 }) },
    // A trade of a minute that is long final: late. Its id is above every real one, so it is not a duplicate.
    { key: key(0), value: trade({}) },
  ];
  for (const partition of [0, 1]) await producer.send({ topic: `${prefix}trades`, acks: -1, messages: poison.map((m) => ({ ...m, partition })) });
  await producer.disconnect();

  const r = await expectOk(runCli(['work', '--until-caught-up'], env), 'work');
  expect(r.stderr).toMatch(/to the DLQ/);

  // The DLQ holds what was refused, with why and where from.
  const dlq: Array<{ reason: string; partition: string; offset: string; value: string }> = [];
  const consumer = kafka.consumer({ groupId: `${prefix}test-dlq-reader` });
  await consumer.connect();
  await consumer.subscribe({ topic: `${prefix}trades-dlq`, fromBeginning: true });
  try {
    await consumer.run({
      eachMessage: async ({ message }) => {
        const h = (n: string) => message.headers![n]!.toString();
        dlq.push({ reason: h('klinestream.reason'), partition: h('klinestream.source.partition'), offset: h('klinestream.source.offset'), value: message.value!.toString('latin1') });
      },
    });
    await waitFor('8 DLQ records', () => dlq.length >= 8, 60_000);
  } finally {
    await consumer.disconnect();
  }
  const reasons = dlq.map((d) => d.reason).sort();
  // Every poison record on both partitions; the stray BTCUSDT trade is late where BTCUSDT lives and a
  // wrong-partition trade on the other one (applying it there would give the symbol a second owner).
  expect(reasons.filter((x) => x === 'undecodable')).toHaveLength(2);
  expect(reasons.filter((x) => x === 'unknown-schema')).toHaveLength(2);
  expect(reasons.filter((x) => x === 'unknown-symbol')).toHaveLength(2);
  expect(reasons.filter((x) => x === 'late')).toHaveLength(1);
  expect(reasons.filter((x) => x === 'wrong-partition')).toHaveLength(1);
  expect(dlq.find((d) => d.reason === 'undecodable')!.value).toBe('not avro at all');
  for (const d of dlq) expect(Number(d.offset)).toBeGreaterThan(0);

  // The real trades are untouched by the poison: the finals are the offline ones.
  const offline = await expectOk(runCli(['aggregate', '--source', `file:${file}`, '--format', 'json']), 'aggregate');
  const expected = sortKlines(offline.stdout.trim().split('\n').map((l) => JSON.parse(l) as Kline));
  const live = sortKlines(await finalsOf(env));
  expect(live.filter((k) => k.symbol === 'BTCUSDT')).toEqual(expected);

  // Replay from the earliest retained trade into another topic: the same finals; the live group untouched.
  const admin = kafka.admin();
  await admin.connect();
  const before = await admin.fetchOffsets({ groupId: `${prefix}klinestream-workers`, topics: [`${prefix}trades`] });
  await expectOk(runCli(['replay', '--from', 'earliest', '--to-topic', `${prefix}rebuilt`], env), 'replay');
  expect(finalsFrom(await allKlineRecords(`${prefix}rebuilt`))).toEqual(live);
  expect(await admin.fetchOffsets({ groupId: `${prefix}klinestream-workers`, topics: [`${prefix}trades`] })).toEqual(before);
  // Replay from a time: nothing that opens before it (it would be partial).
  const from = Date.parse('2023-04-05T00:00:00Z');
  await expectOk(runCli(['replay', '--from', '2023-04-05T00:00:00Z', '--to-topic', `${prefix}rebuilt-from`], env), 'replay --from time');
  const partial = await allKlineRecords(`${prefix}rebuilt-from`);
  expect(partial.length).toBeGreaterThan(0);
  expect(partial.filter((k) => k.openTime < from)).toEqual([]);
  expect(finalsFrom(partial)).toEqual(live.filter((k) => k.openTime >= from));
  // Replays clean their own group and state away.
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(`${prefix}klinestream-replay`));
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}kline-state-replay`));
  await admin.disconnect();
  expect({ groups, topics }).toEqual({ groups: [], topics: [] });
}, 240_000);
