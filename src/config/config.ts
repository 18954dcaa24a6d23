/**
 * Configuration: every setting has one environment name, one flag name, a parser and a default. It is read
 * and validated once at startup; a bad value is a ConfigError naming the setting and what is wrong (exit 2).
 * Nothing downstream re-reads the environment.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../errors';
import { INTERVAL_NAMES, type IntervalName } from '../aggregation/intervals';
import { LOG_LEVELS, type LogLevel } from '../observability/log';
import { REGISTRY_MIN_JAVA, systemJavaFs, validateRegistryJavaHome } from '../stack/java';

export interface BrokerAddress {
  host: string;
  port: number;
}

export interface Config {
  /** Kafka bootstrap brokers; `undefined` means "use the embedded local stack". */
  brokers: string[] | undefined;
  /** Confluent-compatible schema registry URL; `undefined` means "use the embedded local stack". */
  schemaRegistryUrl: string | undefined;
  topicPrefix: string;
  httpPort: number;
  exchangeWsUrl: string;
  exchangeRestUrl: string;
  intervals: IntervalName[];
  graceMs: number;
  flushIntervalMs: number;
  cacheDir: string;
  logLevel: LogLevel;
  stack: {
    kafkaPort: number;
    controllerPort: number;
    registryPort: number;
    registryManagementPort: number;
    /** A Java 21+ home for the registry (checked at load time); undefined = search JAVA_HOME, PATH, /usr/lib/jvm. */
    registryJavaHome: string | undefined;
  };
}

type Source = Record<string, string | undefined>;

interface Setting<T> {
  env: string;
  flag: string;
  describe: string;
  parse(raw: string, name: string): T;
  fallback(): T;
}

function setting<T>(s: Setting<T>): Setting<T> {
  return s;
}

function parsePort(raw: string, name: string): number {
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a TCP port number, got ${JSON.stringify(raw)}`);
  const port = Number(raw);
  if (port < 1 || port > 65535) throw new ConfigError(name, `port ${port} is outside 1..65535`);
  return port;
}

function parseNonNegativeInt(raw: string, name: string): number {
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number of milliseconds, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** `host:port[,host:port...]`; hosts are names, IPv4 or bracketed IPv6. */
export function parseBrokers(raw: string, name = 'KAFKA_BROKERS'): string[] {
  const parts = raw.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
  if (parts.length === 0) throw new ConfigError(name, 'expected host:port[,host:port...], got an empty list');
  for (const part of parts) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d+)$/.exec(part);
    if (!m) throw new ConfigError(name, `expected host:port, got ${JSON.stringify(part)}`);
    parsePort(m[2]!, `${name} (${part})`);
  }
  return parts;
}

function parseUrl(protocols: string[]) {
  return (raw: string, name: string): string => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConfigError(name, `expected a URL, got ${JSON.stringify(raw)}`);
    }
    if (!protocols.includes(url.protocol)) {
      throw new ConfigError(name, `expected a ${protocols.join(' or ')} URL, got ${JSON.stringify(raw)}`);
    }
    return raw.replace(/\/+$/, '');
  };
}

export function parseIntervals(raw: string, name = 'KLINESTREAM_INTERVALS'): IntervalName[] {
  const names = raw.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
  if (names.length === 0) throw new ConfigError(name, 'expected a comma-separated list of intervals, got an empty list');
  const seen = new Set<string>();
  for (const n of names) {
    if (!(INTERVAL_NAMES as readonly string[]).includes(n)) {
      throw new ConfigError(name, `unknown interval ${JSON.stringify(n)}; known: ${INTERVAL_NAMES.join(',')}`);
    }
    if (seen.has(n)) throw new ConfigError(name, `interval ${n} is listed twice`);
    seen.add(n);
  }
  // Keep the canonical order (finest first) whatever order the user wrote.
  return INTERVAL_NAMES.filter((n) => seen.has(n));
}

const SETTINGS = {
  brokers: setting<string[] | undefined>({
    env: 'KAFKA_BROKERS', flag: 'brokers', describe: 'Kafka bootstrap servers, host:port[,host:port]; unset = embedded local stack',
    parse: (raw, name) => parseBrokers(raw, name), fallback: () => undefined,
  }),
  schemaRegistryUrl: setting<string | undefined>({
    env: 'SCHEMA_REGISTRY_URL', flag: 'schema-registry', describe: 'Confluent-compatible schema registry URL; unset = embedded local stack',
    parse: parseUrl(['http:', 'https:']), fallback: () => undefined,
  }),
  topicPrefix: setting<string>({
    env: 'KLINESTREAM_TOPIC_PREFIX', flag: 'topic-prefix', describe: 'prefix of every topic name and of the worker group id',
    parse: (raw, name) => {
      if (!/^[A-Za-z0-9._-]*$/.test(raw)) throw new ConfigError(name, `may contain only letters, digits, '.', '_' and '-', got ${JSON.stringify(raw)}`);
      if (raw.length > 200) throw new ConfigError(name, 'is longer than 200 characters');
      return raw;
    },
    fallback: () => '',
  }),
  httpPort: setting<number>({
    env: 'KLINESTREAM_HTTP_PORT', flag: 'http-port', describe: 'port of the live page and /metrics', parse: parsePort, fallback: () => 8080,
  }),
  exchangeWsUrl: setting<string>({
    env: 'KLINESTREAM_EXCHANGE_WS_URL', flag: 'exchange-ws-url', describe: 'exchange market-data WebSocket base URL',
    parse: parseUrl(['ws:', 'wss:']), fallback: () => 'wss://fstream.binance.com',
  }),
  exchangeRestUrl: setting<string>({
    env: 'KLINESTREAM_EXCHANGE_REST_URL', flag: 'exchange-rest-url', describe: 'exchange REST base URL (symbol list)',
    parse: parseUrl(['http:', 'https:']), fallback: () => 'https://fapi.binance.com',
  }),
  intervals: setting<IntervalName[]>({
    env: 'KLINESTREAM_INTERVALS', flag: 'intervals', describe: 'kline intervals to produce, comma-separated',
    parse: (raw, name) => parseIntervals(raw, name), fallback: () => [...INTERVAL_NAMES],
  }),
  graceMs: setting<number>({
    env: 'KLINESTREAM_GRACE_MS', flag: 'grace-ms', describe: 'how far behind the partition watermark idle klines are closed',
    parse: parseNonNegativeInt, fallback: () => 2000,
  }),
  flushIntervalMs: setting<number>({
    env: 'KLINESTREAM_FLUSH_INTERVAL_MS', flag: 'flush-interval-ms', describe: 'how often changed klines are published',
    parse: (raw, name) => {
      const v = parseNonNegativeInt(raw, name);
      if (v < 1 || v > 250) throw new ConfigError(name, `must be between 1 and 250 ms (live klines are published at least every 250 ms), got ${v}`);
      return v;
    },
    fallback: () => 250,
  }),
  cacheDir: setting<string>({
    env: 'KLINESTREAM_CACHE_DIR', flag: 'cache-dir', describe: 'where the local stack keeps its jars, data and logs',
    parse: (raw, name) => {
      if (raw.trim() === '') throw new ConfigError(name, 'is empty');
      return path.resolve(raw);
    },
    fallback: () => path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'klinestream'),
  }),
  logLevel: setting<LogLevel>({
    env: 'KLINESTREAM_LOG_LEVEL', flag: 'log-level', describe: 'structured log threshold: debug, info, warn or error',
    parse: (raw, name) => {
      if (!(LOG_LEVELS as readonly string[]).includes(raw)) throw new ConfigError(name, `expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(raw)}`);
      return raw as LogLevel;
    },
    fallback: () => 'info',
  }),
  kafkaPort: setting<number>({ env: 'KLINESTREAM_STACK_KAFKA_PORT', flag: 'stack-kafka-port', describe: 'local stack: Kafka client port', parse: parsePort, fallback: () => 19092 }),
  controllerPort: setting<number>({ env: 'KLINESTREAM_STACK_CONTROLLER_PORT', flag: 'stack-controller-port', describe: 'local stack: KRaft controller port', parse: parsePort, fallback: () => 19093 }),
  registryPort: setting<number>({ env: 'KLINESTREAM_STACK_REGISTRY_PORT', flag: 'stack-registry-port', describe: 'local stack: schema registry port', parse: parsePort, fallback: () => 18081 }),
  registryManagementPort: setting<number>({ env: 'KLINESTREAM_STACK_REGISTRY_MANAGEMENT_PORT', flag: 'stack-registry-management-port', describe: 'local stack: registry management port', parse: parsePort, fallback: () => 18082 }),
  registryJavaHome: setting<string | undefined>({
    env: 'KLINESTREAM_REGISTRY_JAVA_HOME', flag: 'registry-java-home',
    describe: `local stack: Java ${REGISTRY_MIN_JAVA}+ home for the schema registry (Apicurio 3.3.3); unset = search JAVA_HOME, PATH, /usr/lib/jvm`,
    parse: (raw, name) => {
      if (raw.trim() === '') throw new ConfigError(name, 'is empty');
      // Checked now rather than when the stack starts: a wrong path is a configuration mistake (exit 2).
      return validateRegistryJavaHome(path.resolve(raw), systemJavaFs, name).home;
    },
    fallback: () => undefined,
  }),
} as const;

export type SettingKey = keyof typeof SETTINGS;

/** The documented settings, for `--help` and the README table. */
export function describeSettings(): Array<{ env: string; flag: string; describe: string }> {
  return Object.values(SETTINGS).map((s) => ({ env: s.env, flag: `--${s.flag}`, describe: s.describe }));
}

/** Every flag name a command may accept from the configuration table. */
export const CONFIG_FLAGS: readonly string[] = Object.values(SETTINGS).map((s) => s.flag);

/**
 * Loads the configuration: a flag wins over the environment, the environment over the default.
 * Empty environment variables count as unset.
 */
export function loadConfig(env: Source = process.env, flags: Source = {}): Config {
  const read = <T>(s: Setting<T>): T => {
    const fromFlag = flags[s.flag];
    if (fromFlag !== undefined) return s.parse(fromFlag, `--${s.flag}`);
    const fromEnv = env[s.env];
    if (fromEnv !== undefined && fromEnv !== '') return s.parse(fromEnv, s.env);
    return s.fallback();
  };
  const config: Config = {
    brokers: read(SETTINGS.brokers),
    schemaRegistryUrl: read(SETTINGS.schemaRegistryUrl),
    topicPrefix: read(SETTINGS.topicPrefix),
    httpPort: read(SETTINGS.httpPort),
    exchangeWsUrl: read(SETTINGS.exchangeWsUrl),
    exchangeRestUrl: read(SETTINGS.exchangeRestUrl),
    intervals: read(SETTINGS.intervals),
    graceMs: read(SETTINGS.graceMs),
    flushIntervalMs: read(SETTINGS.flushIntervalMs),
    cacheDir: read(SETTINGS.cacheDir),
    logLevel: read(SETTINGS.logLevel),
    stack: {
      kafkaPort: read(SETTINGS.kafkaPort),
      controllerPort: read(SETTINGS.controllerPort),
      registryPort: read(SETTINGS.registryPort),
      registryManagementPort: read(SETTINGS.registryManagementPort),
      registryJavaHome: read(SETTINGS.registryJavaHome),
    },
  };
  const { kafkaPort, controllerPort, registryPort, registryManagementPort } = config.stack;
  const ports = Object.entries({ kafkaPort, controllerPort, registryPort, registryManagementPort });
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      if (ports[i]![1] === ports[j]![1]) throw new ConfigError('local stack ports', `${ports[i]![0]} and ${ports[j]![0]} are both ${ports[i]![1]}`);
    }
  }
  return config;
}

/** Topic names and the group id, all under the configured prefix (two prefixes are two independent apps). */
export function topicNames(prefix: string) {
  return {
    trades: `${prefix}trades`,
    symbols: `${prefix}symbols`,
    klines: `${prefix}klines`,
    klineState: `${prefix}kline-state`,
    tradesDlq: `${prefix}trades-dlq`,
    workerGroup: `${prefix}klinestream-workers`,
  };
}
