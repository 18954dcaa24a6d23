/**
 * The codec against the real broker and the real schema registry (the local stack, or KAFKA_BROKERS /
 * SCHEMA_REGISTRY_URL): records go through Kafka and come back through a decoder that learns writer schemas
 * from the registry by id, exactly as a worker does. Topics and subjects are unique per test.
 */
import { Partitioners, type Consumer, type Kafka, type Producer } from 'kafkajs';
import { AvroCodec } from '../../src/codec/avro-codec';
import { EncodeArena } from '../../src/codec/encode-arena';
import { symbolEntry, watermarkTrade, type Kline, type SymbolEntry, type Trade } from '../../src/codec/records';
import { SchemaCatalogue, compileSchema, type CatalogueEntry } from '../../src/codec/schema-catalogue';
import { RegistryClient, valueSubject } from '../../src/codec/schema-registry';
import { registerValueCodec, valueDecoder } from '../../src/codec/topic-codecs';
import { KlinestreamError } from '../../src/errors';
import { KafkaResources, testConnection, testKafka, uniqueName } from './helpers';

jest.setTimeout(120_000);

const catalogue = SchemaCatalogue.load();
const TRADE = catalogue.get('Trade');

interface SchemaJson {
  fields: Array<Record<string, unknown>>;
}

/** The catalogue's Trade schema with a change applied: how a developer would edit trade.avsc. */
function tradeVariant(change: (schema: SchemaJson) => void): CatalogueEntry {
  const schema = JSON.parse(TRADE.text) as SchemaJson;
  change(schema);
  return compileSchema(schema, 'Trade variant');
}

function trade(i: number): Trade {
  return {
    kind: 'TRADE',
    symbolIndex: i % 7,
    aggId: 3_000_000_000 + i,
    firstTradeId: 6_000_000_000 + 2 * i,
    lastTradeId: 6_000_000_001 + 2 * i,
    price: 67_000 + i / 100,
    quantity: 0.001 * (i + 1),
    tradeTime: 1_717_171_717_000 + i,
    eventTime: 1_717_171_717_005 + i,
    isBuyerMaker: i % 2 === 0,
    targetPartition: -1,
  };
}

/** Reads `count` raw values from the start of `topic` with a fresh group; resolves as soon as they are in. */
async function readValues(kafka: Kafka, resources: KafkaResources, topic: string, count: number): Promise<Buffer[]> {
  const consumer: Consumer = kafka.consumer({ groupId: resources.groupId('codec-it'), maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const values: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve, reject) => {
      // A deadline, not a pause: it only turns a hang into a message saying how far the read got.
      timer = setTimeout(() => reject(new Error(`read ${values.length} of ${count} records from ${topic} within 60 s`)), 60_000);
      consumer.run({
        eachMessage: async ({ message }) => {
          if (message.value === null) return reject(new Error(`null value at offset ${message.offset}`));
          values.push(message.value);
          if (values.length === count) resolve();
        },
      }).catch(reject);
    }).finally(() => clearTimeout(timer));
    return values;
  } finally {
    await consumer.disconnect();
  }
}

async function produce(producer: Producer, topic: string, messages: Array<{ key: string; value: Buffer }>): Promise<void> {
  await producer.send({ topic, acks: -1, messages });
}

describe('codec against the real broker and schema registry', () => {
  let kafka: Kafka;
  let resources: KafkaResources;
  let producer: Producer;
  let registry: RegistryClient;

  beforeAll(async () => {
    kafka = testKafka(uniqueName('codec-it'));
    resources = new KafkaResources(kafka);
    producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    registry = new RegistryClient({ url: testConnection().schemaRegistryUrl });
  });

  afterAll(async () => {
    await producer?.disconnect();
    await resources?.cleanup();
  });

  it('a Trade (and a watermark) written through the arena come back equal field for field', async () => {
    const [topic] = await resources.createTopics({ prefix: 'codec-trades' });
    const writer = await registerValueCodec(registry, catalogue, topic!, 'Trade');
    expect(writer.schemaId).toEqual(expect.any(Number));
    // Registering the same schema again is idempotent: same id, so restarts do not pile up versions.
    expect((await registerValueCodec(registry, catalogue, topic!, 'Trade')).schemaId).toBe(writer.schemaId);

    const sent = [trade(1), trade(2), watermarkTrade(1_717_171_718_000, 1_717_171_718_250), trade(3)];
    const arena = new EncodeArena(128);
    const messages = sent.map((t) => ({ key: String(t.symbolIndex), value: arena.encode(writer, t) }));
    await produce(producer, topic!, messages);
    arena.reset();

    // A separate decoder that has never seen the id: it must fetch the writer schema from the registry.
    const reader = valueDecoder(registry, catalogue, 'Trade');
    expect(reader.hasSchema(writer.schemaId!)).toBe(false);
    const values = await readValues(kafka, resources, topic!, sent.length);
    const received: Trade[] = [];
    for (const v of values) received.push(await reader.decodeAsync(v));
    expect(received).toEqual(sent);
    expect(reader.hasSchema(writer.schemaId!)).toBe(true);
  });

  it('Kline and SymbolEntry round-trip through their registered subjects too', async () => {
    const [klineTopic, symbolTopic] = await resources.createTopics({ prefix: 'codec-klines' }, { prefix: 'codec-symbols' });
    const klineWriter = await registerValueCodec(registry, catalogue, klineTopic!, 'Kline');
    const symbolWriter = await registerValueCodec(registry, catalogue, symbolTopic!, 'SymbolEntry');
    const kline: Kline = {
      symbol: 'BTCUSDT', interval: '1M', openTime: 1_717_200_000_000, closeTime: 1_719_791_999_999, open: 67_000, high: 71_000.5,
      low: 60_000.25, close: 62_500, volume: 1_234.5, quoteVolume: 81_234_567.89, tradeCount: 0, takerBuyVolume: 0,
      takerBuyQuoteVolume: 0, firstTradeId: -1, lastTradeId: -1, isFinal: true, version: 1,
    };
    const entry: SymbolEntry = symbolEntry('ETHUSDT', 1, { baseAsset: 'ETH', quoteAsset: 'USDT', pricePrecision: 2 });
    await produce(producer, klineTopic!, [{ key: kline.symbol, value: klineWriter.encode(kline) }]);
    await produce(producer, symbolTopic!, [{ key: entry.symbol, value: symbolWriter.encode(entry) }]);

    const [klineValue] = await readValues(kafka, resources, klineTopic!, 1);
    const [symbolValue] = await readValues(kafka, resources, symbolTopic!, 1);
    expect(await valueDecoder(registry, catalogue, 'Kline').decodeAsync(klineValue!)).toEqual(kline);
    expect(await valueDecoder(registry, catalogue, 'SymbolEntry').decodeAsync(symbolValue!)).toEqual(entry);
  });

  it('a backward-compatible change registers, and records of the old schema decode with the new reader', async () => {
    const [topic] = await resources.createTopics({ prefix: 'codec-evolve' });
    const subject = valueSubject(topic!);
    const v1 = await registerValueCodec(registry, catalogue, topic!, 'Trade');
    const oldRecords = [trade(10), trade(11)];
    await produce(producer, topic!, oldRecords.map((t) => ({ key: String(t.symbolIndex), value: v1.encode(t) })));

    // v2: a new field with a default. BACKWARD: the new schema reads everything written with the old one.
    const v2Entry = tradeVariant((s) => s.fields.push({ name: 'venue', type: 'string', default: 'binance-usdm', doc: 'Where the trade happened.' }));
    const v2Id = await registry.register(subject, v2Entry.text);
    expect(v2Id).not.toBe(v1.schemaId);
    const v2 = new AvroCodec<Trade & { venue: string }>(v2Entry, { registry, schemaId: v2Id });
    const newRecord = { ...trade(12), venue: 'binance-spot' };
    await produce(producer, topic!, [{ key: '5', value: v2.encode(newRecord) }]);

    // A fresh new-schema reader, as a restarted worker would have: it knows neither id yet.
    const reader = new AvroCodec<Trade & { venue: string }>(v2Entry, { registry });
    const values = await readValues(kafka, resources, topic!, 3);
    const decoded: Array<Trade & { venue: string }> = [];
    for (const v of values) decoded.push(await reader.decodeAsync(v));
    expect(decoded).toEqual([...oldRecords.map((t) => ({ ...t, venue: 'binance-usdm' })), newRecord]);

    // The old reader still reads the new record too (the added field is skipped): full compatibility here.
    expect(await valueDecoder(registry, catalogue, 'Trade').decodeAsync(values[2]!)).toEqual(trade(12));
  });

  it('an incompatible change is refused with SCHEMA_INCOMPATIBLE naming the subject', async () => {
    const topic = uniqueName('codec-incompatible');
    const subject = valueSubject(topic);
    await registerValueCodec(registry, catalogue, topic, 'Trade');

    const retyped = tradeVariant((s) => {
      const price = s.fields.find((f) => f.name === 'price')!;
      price.type = 'string';
    });
    const noDefault = tradeVariant((s) => s.fields.push({ name: 'venue', type: 'string' }));
    for (const variant of [retyped, noDefault]) {
      const error = await registry.register(subject, variant.text).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(KlinestreamError);
      const e = error as KlinestreamError;
      expect(e.code).toBe('SCHEMA_INCOMPATIBLE');
      expect(e.message).toContain(`"${subject}"`);
      expect(e.message).toContain('io.klinestream.Trade');
      expect(e.message).toContain('BACKWARD');
      expect(e.message).toContain('HTTP 409');
      expect(e.details).toMatchObject({ subject, status: 409 });
    }
    // The refused versions left nothing behind: the original still registers idempotently.
    expect((await registerValueCodec(registry, catalogue, topic, 'Trade')).schemaId).toEqual(expect.any(Number));
  });

  it('a subject configured with another compatibility level is refused with a SCHEMA_REGISTRY error saying so', async () => {
    const subject = valueSubject(uniqueName('codec-config'));
    const url = testConnection().schemaRegistryUrl;
    await registry.register(subject, TRADE.text);
    const put = await fetch(`${url}/config/${subject}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ compatibility: 'NONE' }),
    });
    expect(put.status).toBe(200);
    const error = await registry.register(subject, TRADE.text).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(KlinestreamError);
    expect((error as KlinestreamError).code).toBe('SCHEMA_REGISTRY');
    expect((error as KlinestreamError).message).toContain('BACKWARD != NONE');
  });

  it('processes registering a new subject at the same moment all get its one id (the config write race)', async () => {
    // Workers of one deployment start together; each registers the output subjects. Apicurio refuses the
    // second compatibility-config write with 409, which must not stop a worker.
    const url = testConnection().schemaRegistryUrl;
    for (let round = 0; round < 3; round++) {
      const subject = valueSubject(uniqueName('codec-race'));
      const clients = Array.from({ length: 8 }, () => new RegistryClient({ url }));
      const ids = await Promise.all(clients.map((c) => c.register(subject, TRADE.text)));
      expect(new Set(ids).size).toBe(1);
      const config = await fetch(`${url}/config/${subject}`);
      expect(((await config.json()) as { compatibilityLevel: string }).compatibilityLevel).toBe('BACKWARD');
    }
  });

  it('a schema id the registry never issued is CODEC_UNKNOWN_SCHEMA, not a registry failure', async () => {
    const reader = valueDecoder(registry, catalogue, 'Trade');
    const record = new AvroCodec<Trade>(TRADE, { schemaId: 2_000_000_000 }).encode(trade(1));
    const error = await reader.decodeAsync(record).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(KlinestreamError);
    expect((error as KlinestreamError).code).toBe('CODEC_UNKNOWN_SCHEMA');
    expect((error as KlinestreamError).details).toMatchObject({ schemaId: 2_000_000_000, byteLength: record.length });
  });
});
