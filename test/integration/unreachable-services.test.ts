/**
 * A command pointed at a broker or registry that is not there ends with one sentence naming the address
 * and the setting it came from (exit 1): no stack trace, no error-level log line, no kafkajs class name.
 */
import { topicNames } from '../../src/config/config';
import { KafkaResources, runCli, testConnection, uniqueName } from './helpers';

jest.setTimeout(120_000);

function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('{') && (JSON.parse(l) as { level: string }).level === 'error');
}

describe('unreachable services', () => {
  const resources = new KafkaResources();
  afterAll(() => resources.cleanup());

  it('an unreachable broker: one sentence naming 127.0.0.1:1 and KAFKA_BROKERS, exit 1', async () => {
    const r = await runCli(['work'], { ...process.env, KAFKA_BROKERS: '127.0.0.1:1', KLINESTREAM_TOPIC_PREFIX: `${uniqueName('unreachable')}-` }, 60_000);
    expect(r.code).toBe(1);
    const last = r.stderr.trimEnd().split('\n').at(-1);
    expect(last).toBe('klinestream work: cannot reach the Kafka broker at 127.0.0.1:1 (KAFKA_BROKERS): connection refused');
    expect(errorLines(r.stderr)).toEqual([]);
    expect(r.stderr).not.toMatch(/KafkaJS|\n\s+at /);
  });

  it('the flag is named when the address came from --brokers', async () => {
    const r = await runCli(['klines', '--exit-at-end', '--brokers', '127.0.0.1:1'], { ...process.env, KAFKA_BROKERS: '' }, 60_000);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe('klinestream klines: cannot reach the Kafka broker at 127.0.0.1:1 (--brokers): connection refused');
  });

  it('an unreachable registry: one sentence naming its URL and SCHEMA_REGISTRY_URL, exit 1', async () => {
    const prefix = `${uniqueName('unreachable-registry')}-`;
    const names = topicNames(prefix);
    for (const t of [names.trades, names.symbols, names.klines, names.klineState, names.tradesDlq, names.producerState]) resources.trackTopic(t);
    const url = 'http://127.0.0.1:1/apis/ccompat/v7';
    const r = await runCli(['work'], { ...process.env, KAFKA_BROKERS: testConnection().brokers.join(','), SCHEMA_REGISTRY_URL: url, KLINESTREAM_TOPIC_PREFIX: prefix }, 60_000);
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toBe(`klinestream work: cannot reach the schema registry at ${url} (SCHEMA_REGISTRY_URL): connection refused`);
    expect(errorLines(r.stderr)).toEqual([]);
  });
});
