import { ConfigError } from '../../src/errors';
import { describeSettings, loadConfig, parseBrokers, topicNames } from '../../src/config/config';

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('defaults to the embedded stack, all intervals, 2 s grace and 250 ms flushes', () => {
    const c = loadConfig({}, {});
    expect(c.brokers).toBeUndefined();
    expect(c.schemaRegistryUrl).toBeUndefined();
    expect(c.intervals).toHaveLength(14);
    expect([c.graceMs, c.flushIntervalMs, c.httpPort, c.topicPrefix, c.logLevel]).toEqual([2000, 250, 8080, '', 'info']);
    expect(c.exchangeWsUrl).toBe('wss://fstream.binance.com');
  });

  it('takes a flag over the environment, and the environment over the default; empty env counts as unset', () => {
    const env = { KAFKA_BROKERS: 'a:1,b:2', KLINESTREAM_GRACE_MS: '500', KLINESTREAM_TOPIC_PREFIX: '' };
    const c = loadConfig(env, { 'grace-ms': '0', intervals: '1h,1m' });
    expect(c.brokers).toEqual(['a:1', 'b:2']);
    expect(c.graceMs).toBe(0);
    expect(c.topicPrefix).toBe('');
    expect(c.intervals).toEqual(['1m', '1h']); // canonical order
  });

  it.each([
    [{ KAFKA_BROKERS: ':::' }, 'KAFKA_BROKERS', /expected host:port, got ":::"/],
    [{ KAFKA_BROKERS: 'localhost:99999' }, 'KAFKA_BROKERS (localhost:99999)', /outside 1\.\.65535/],
    [{ KAFKA_BROKERS: ' , ' }, 'KAFKA_BROKERS', /empty list/],
    [{ SCHEMA_REGISTRY_URL: 'ftp://x' }, 'SCHEMA_REGISTRY_URL', /expected a http: or https: URL/],
    [{ SCHEMA_REGISTRY_URL: 'not a url' }, 'SCHEMA_REGISTRY_URL', /expected a URL/],
    [{ KLINESTREAM_EXCHANGE_WS_URL: 'http://x' }, 'KLINESTREAM_EXCHANGE_WS_URL', /ws: or wss:/],
    [{ KLINESTREAM_HTTP_PORT: 'eighty' }, 'KLINESTREAM_HTTP_PORT', /TCP port number/],
    [{ KLINESTREAM_INTERVALS: '1m,2m' }, 'KLINESTREAM_INTERVALS', /unknown interval "2m"/],
    [{ KLINESTREAM_INTERVALS: '1m,1m' }, 'KLINESTREAM_INTERVALS', /listed twice/],
    [{ KLINESTREAM_GRACE_MS: '-5' }, 'KLINESTREAM_GRACE_MS', /whole number/],
    [{ KLINESTREAM_FLUSH_INTERVAL_MS: '1000' }, 'KLINESTREAM_FLUSH_INTERVAL_MS', /between 1 and 250/],
    [{ KLINESTREAM_TOPIC_PREFIX: 'a b' }, 'KLINESTREAM_TOPIC_PREFIX', /letters, digits/],
    [{ KLINESTREAM_LOG_LEVEL: 'loud' }, 'KLINESTREAM_LOG_LEVEL', /one of debug, info, warn, error/],
    [{ KLINESTREAM_STACK_KAFKA_PORT: '18081' }, 'local stack ports', /kafkaPort and registryPort are both 18081/],
  ])('rejects %j naming the setting, exit code 2', (env, setting, message) => {
    const e = errorOf(() => loadConfig(env, {}));
    expect(e.details.setting).toBe(setting);
    expect(e.message).toMatch(message);
    expect(e.exitCode).toBe(2);
    expect(e.code).toBe('CONFIG_INVALID');
  });

  it('names the flag, not the variable, when the bad value came from a flag', () => {
    expect(errorOf(() => loadConfig({}, { brokers: 'nope' })).message).toMatch(/^--brokers: /);
  });

  it('accepts bracketed IPv6 brokers', () => {
    expect(parseBrokers('[::1]:9092')).toEqual(['[::1]:9092']);
  });

  it('derives every topic and the group id from the prefix', () => {
    const t = topicNames('team-a.');
    expect(Object.values(t).every((name) => name.startsWith('team-a.'))).toBe(true);
    expect(t.klineState).toBe('team-a.kline-state');
  });

  it('documents every setting with one env name and one flag', () => {
    const settings = describeSettings();
    expect(new Set(settings.map((s) => s.env)).size).toBe(settings.length);
    expect(settings.every((s) => s.flag.startsWith('--') && s.describe.length > 10)).toBe(true);
  });
});
