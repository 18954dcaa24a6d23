import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../../src/errors';
import { describeSettings, loadConfig, parseBrokers, redactConfig, topicNames } from '../../src/config/config';

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

  describe('KLINESTREAM_REGISTRY_JAVA_HOME / --registry-java-home', () => {
    let dir: string;
    /** A JDK-shaped directory: an executable bin/java (never run: the release file tells the version). */
    const jdk = (name: string, version: string | undefined): string => {
      const home = path.join(dir, name);
      fs.mkdirSync(path.join(home, 'bin'), { recursive: true });
      fs.writeFileSync(path.join(home, 'bin', 'java'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
      if (version !== undefined) fs.writeFileSync(path.join(home, 'release'), `JAVA_VERSION="${version}"\n`);
      return home;
    };
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'klinestream-config-java-'));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('is unset by default (the stack searches JAVA_HOME, PATH and /usr/lib/jvm)', () => {
      expect(loadConfig({}, {}).stack.registryJavaHome).toBeUndefined();
    });

    it('accepts a Java 21+ home, resolved to an absolute path', () => {
      const home = jdk('jdk-21', '21.0.4');
      expect(loadConfig({ KLINESTREAM_REGISTRY_JAVA_HOME: home }).stack.registryJavaHome).toBe(home);
      expect(loadConfig({}, { 'registry-java-home': path.relative(process.cwd(), home) }).stack.registryJavaHome).toBe(home);
    });

    it('rejects a directory without bin/java, naming the setting (exit 2)', () => {
      const e = errorOf(() => loadConfig({ KLINESTREAM_REGISTRY_JAVA_HOME: dir }));
      expect(e.details.setting).toBe('KLINESTREAM_REGISTRY_JAVA_HOME');
      expect(e.message).toBe(`KLINESTREAM_REGISTRY_JAVA_HOME: ${dir} has no bin/java; expected the home directory of a Java 21+ runtime`);
      expect(e.exitCode).toBe(2);
    });

    it('rejects a Java below 21, saying which version it found', () => {
      const home = jdk('jdk-17', '17.0.15');
      const e = errorOf(() => loadConfig({}, { 'registry-java-home': home }));
      expect(e.message).toBe(`--registry-java-home: ${home} is Java 17.0.15; the schema registry needs Java 21 or newer`);
      expect(e.exitCode).toBe(2);
    });

    it('rejects a home whose version cannot be told (no release file, bin/java does not run)', () => {
      const home = jdk('mystery', undefined);
      expect(errorOf(() => loadConfig({ KLINESTREAM_REGISTRY_JAVA_HOME: home })).message).toMatch(/cannot tell the Java version of .*mystery/);
    });
  });

  describe('the live page (KLINESTREAM_PAGE_*)', () => {
    it('answers only the loopback names by default, with bounded clients', () => {
      expect(loadConfig({}).page).toEqual({ allowedHosts: [], clientBufferBytes: 8 * 1024 * 1024, maxClients: 32 });
    });

    it('takes a list of host names, lower-cased', () => {
      expect(loadConfig({ KLINESTREAM_PAGE_ALLOWED_HOSTS: 'Klines.Example.org, box1' }).page.allowedHosts).toEqual(['klines.example.org', 'box1']);
    });

    it('rejects a URL or a port where a host name belongs, naming the setting', () => {
      expect(errorOf(() => loadConfig({ KLINESTREAM_PAGE_ALLOWED_HOSTS: 'https://klines.example.org' })).message)
        .toBe('KLINESTREAM_PAGE_ALLOWED_HOSTS: expected host names such as klines.example.org (no scheme, no port), got "https://klines.example.org"');
      expect(errorOf(() => loadConfig({}, { 'page-allowed-hosts': 'box:8080' })).details.setting).toBe('--page-allowed-hosts');
    });

    it('bounds the per-client buffer and the client count', () => {
      expect(errorOf(() => loadConfig({ KLINESTREAM_PAGE_CLIENT_BUFFER_BYTES: '1000' })).message).toMatch(/between 1048576 and/);
      expect(errorOf(() => loadConfig({ KLINESTREAM_PAGE_MAX_CLIENTS: '0' })).message).toMatch(/between 1 and 10000/);
    });
  });

  describe('secrets', () => {
    it('moves user info out of SCHEMA_REGISTRY_URL into the basic-auth settings', () => {
      const c = loadConfig({ SCHEMA_REGISTRY_URL: 'https://svc:s3cr%40t@reg.example.org/apis/ccompat/v7', KAFKA_BROKERS: 'k:9092' });
      expect(c.schemaRegistryUrl).toBe('https://reg.example.org/apis/ccompat/v7');
      expect([c.security.registryUsername, c.security.registryPassword]).toEqual(['svc', 's3cr@t']);
      expect(JSON.stringify(redactConfig(c))).not.toContain('s3cr');
    });

    it('refuses credentials given both in the URL and as settings, without quoting them', () => {
      const e = errorOf(() => loadConfig({ SCHEMA_REGISTRY_URL: 'https://svc:s3cret@reg.example.org', SCHEMA_REGISTRY_USERNAME: 'a', SCHEMA_REGISTRY_PASSWORD: 'b' }));
      expect(e.message).toBe('SCHEMA_REGISTRY_URL: holds user info and SCHEMA_REGISTRY_USERNAME / _PASSWORD are set too; give the registry credentials one way');
    });

    it('never quotes a SASL password in configuration errors or summaries', () => {
      const e = errorOf(() => loadConfig({ KAFKA_SASL_PASSWORD: 'sasl-s3cret' }));
      expect(e.message).not.toContain('sasl-s3cret');
      expect(JSON.stringify(e.details)).not.toContain('sasl-s3cret');
      const c = loadConfig({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'sasl-s3cret' });
      expect(JSON.stringify(redactConfig(c))).not.toContain('sasl-s3cret');
    });
  });
});
