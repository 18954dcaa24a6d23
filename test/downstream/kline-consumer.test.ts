/**
 * KlineConsumer without a broker: options from the configuration, topic and group naming, bad options.
 * Consuming itself is tested against the real broker in test/integration/klines-command.test.ts.
 */
import { loadConfig } from '../../src/config/config';
import { KlineConsumer, klineConsumerOptions } from '../../src/downstream/kline-consumer';
import { KlinestreamError } from '../../src/errors';

const connection = { brokers: ['kafka-1:9092', 'kafka-2:9092'], schemaRegistryUrl: 'http://registry:8081', embedded: false };

describe('klineConsumerOptions', () => {
  it('carries the connection, the prefix and the security settings (plain options a library user could write)', () => {
    const config = loadConfig({
      KLINESTREAM_TOPIC_PREFIX: 'prod.', KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p',
      KAFKA_SSL: 'true', SCHEMA_REGISTRY_USERNAME: 'ru', SCHEMA_REGISTRY_PASSWORD: 'rp',
    });
    expect(klineConsumerOptions(config, connection, { finalOnly: true, symbols: ['BTCUSDT'] })).toEqual({
      brokers: connection.brokers,
      schemaRegistryUrl: connection.schemaRegistryUrl,
      schemaRegistryAuth: { username: 'ru', password: 'rp' },
      topicPrefix: 'prod.',
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' },
      kafkaLogLevel: 'warn',
      finalOnly: true,
      symbols: ['BTCUSDT'],
    });
  });

  it('leaves out what is not configured', () => {
    expect(klineConsumerOptions(loadConfig({}), connection)).toEqual({
      brokers: connection.brokers, schemaRegistryUrl: connection.schemaRegistryUrl, topicPrefix: '', kafkaLogLevel: 'warn',
    });
  });
});

describe('KlineConsumer construction', () => {
  const base = { brokers: ['localhost:9092'], schemaRegistryUrl: 'http://localhost:8081' };

  it('reads <prefix>klines; without a group id an ephemeral group under the prefix', () => {
    const a = new KlineConsumer({ ...base, topicPrefix: 'x.' });
    expect(a.topic).toBe('x.klines');
    expect(a.ephemeral).toBe(true);
    expect(a.groupId).toMatch(/^x\.klinestream-klines-[0-9a-f]{12}$/);
    expect(new KlineConsumer({ ...base, topicPrefix: 'x.' }).groupId).not.toBe(a.groupId);
    const b = new KlineConsumer({ ...base, groupId: 'dashboard', topic: 'other-klines' });
    expect(b).toMatchObject({ topic: 'other-klines', groupId: 'dashboard', ephemeral: false });
    expect(b.stats).toEqual({ received: 0, decodeFailures: 0, filtered: 0, offered: 0, delivered: 0, duplicates: 0, superseded: 0, notFinal: 0, evicted: 0 });
  });

  it.each([
    [{ ...base, brokers: [] }],
    [{ ...base, schemaRegistryUrl: '' }],
    [{ ...base, groupId: '' }],
  ])('refuses %j', (options) => {
    expect(() => new KlineConsumer(options)).toThrow(KlinestreamError);
  });

  it('stop() before run() makes it return at once without connecting; an instance consumes once', async () => {
    // No broker listens on localhost:9092 here: connecting would fail (after kafkajs' retries).
    const c = new KlineConsumer(base);
    await c.stop();
    await expect(c.readToEnd(() => undefined)).resolves.toBeUndefined();
    await expect(c.run(() => undefined)).rejects.toThrow(/once per instance/);
    expect(c.stats.received).toBe(0);
  });
});
