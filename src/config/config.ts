/**
 * Configuration: every setting has one environment name, one flag name, a parser and a default. It is read
 * and validated once at startup; a bad value is a ConfigError naming the setting and what is wrong (exit 2).
 * Nothing downstream re-reads the environment.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../errors';
import { INTERVAL_NAMES, type IntervalName } from './interval-names';
import { PLAUSIBLE_FROM_MS, PLAUSIBLE_TO_MS } from './plausible-times';
import { LOG_LEVELS, type LogLevel } from '../observability/log';
import { redactUrlText, splitUrlCredentials, type UrlCredentials } from './secrets';
import { REGISTRY_MIN_JAVA, systemJavaFs, validateRegistryJavaHome } from './java-home';

export interface BrokerAddress {
  host: string;
  port: number;
}

export type Market = 'usdm' | 'spot';
export type Guarantee = 'at-least-once' | 'exactly-once';
export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

/** Where a market's streams and REST endpoints live below the configured base URLs. */
export interface MarketPaths {
  /** Combined-stream path on the WebSocket base URL (`?streams=a@aggTrade/b@aggTrade` follows). */
  combinedStreamPath: string;
  /** REST path prefix on the REST base URL (`/exchangeInfo`, `/aggTrades` follow). */
  restPrefix: string;
  /** The exchange's request-weight limit per minute and IP (what 429 protects). */
  exchangeWeightLimitPerMinute: number;
  /** Weight of one `aggTrades` request. */
  aggTradesWeight: number;
  /** Weight of one `exchangeInfo` request. */
  exchangeInfoWeight: number;
}

export const MARKETS: Record<Market, { wsUrl: string; restUrl: string; paths: MarketPaths }> = {
  // USD-M futures: since 2026 aggTrade lives on the /market route; REST stays on /fapi/v1.
  usdm: {
    wsUrl: 'wss://fstream.binance.com',
    restUrl: 'https://fapi.binance.com',
    paths: { combinedStreamPath: '/market/stream', restPrefix: '/fapi/v1', exchangeWeightLimitPerMinute: 2400, aggTradesWeight: 20, exchangeInfoWeight: 1 },
  },
  spot: {
    wsUrl: 'wss://stream.binance.com:9443',
    restUrl: 'https://api.binance.com',
    paths: { combinedStreamPath: '/stream', restPrefix: '/api/v3', exchangeWeightLimitPerMinute: 6000, aggTradesWeight: 4, exchangeInfoWeight: 20 },
  },
};

export interface KafkaSecurity {
  /** undefined = no SASL. */
  saslMechanism: SaslMechanism | undefined;
  saslUsername: string | undefined;
  /** Secret: never logged (see redactConfig). */
  saslPassword: string | undefined;
  ssl: boolean;
  /** Contents of KAFKA_SSL_CA_FILE (PEM), read once at startup. */
  sslCa: string | undefined;
  sslCaFile: string | undefined;
  registryUsername: string | undefined;
  /** Secret: never logged. */
  registryPassword: string | undefined;
}

export interface Config {
  /** Kafka bootstrap brokers; `undefined` means "use the embedded local stack". */
  brokers: string[] | undefined;
  /** Confluent-compatible schema registry URL; `undefined` means "use the embedded local stack". */
  schemaRegistryUrl: string | undefined;
  topicPrefix: string;
  httpPort: number;
  /** Issue 16: the live page's host check and bounds (src/web/page-server.ts). */
  page: {
    /** Host names answered besides 127.0.0.1, localhost and [::1], lower case, no port. */
    allowedHosts: string[];
    clientBufferBytes: number;
    maxClients: number;
  };
  market: Market;
  marketPaths: MarketPaths;
  exchangeWsUrl: string;
  exchangeRestUrl: string;
  /** Streams per WebSocket connection (the exchange allows 1024 on USD-M; fewer keeps reconnects cheap). */
  streamsPerConnection: number;
  /** A connection is replaced (new one opened first) after this long; the exchange cuts at 24 h. */
  connectionLifetimeMs: number;
  /** REST weight the producer allows itself per minute (backfills); default the exchange's IP limit. */
  restWeightPerMinute: number;
  /** Independent WebSocket connections per stream group (1 or 2): with 2, each trade is taken from whichever delivers it first. */
  feeds: number;
  /** Live trades the producer holds behind open gaps, all symbols together (memory bound; policy in docs/kafka-design.md). */
  heldTradesMax: number;
  /** Plausible times (docs/times.md): the window, epoch ms [from, to), and the tolerances. */
  times: {
    fromMs: number;
    toMs: number;
    /** Largest |trade time - event time| of a frame. */
    eventSkewMs: number;
    /** How far a live trade's time may be ahead of the local clock. */
    clockAheadMs: number;
  };
  /** How far back a restart or outage is backfilled from REST; older stretches are recorded as gaps. */
  backfillMaxAgeMs: number;
  /** Trades the producer holds while Kafka is away before it drops them (and backfills them later). */
  producerBufferTrades: number;
  /** Event time between two watermark records (and the quiet-exchange wall-clock tick). */
  watermarkIntervalMs: number;
  /** Partitions of trades / kline-state / klines when the topics are created. */
  partitions: number;
  /** retention.ms of `trades` (-1 = keep forever). */
  tradesRetentionMs: number;
  /** retention.ms of `klines` (-1 = keep forever). */
  klinesRetentionMs: number;
  /** Port of the process's Prometheus /metrics endpoint; 0 = any free port (logged at startup). */
  metricsPort: number;
  guarantee: Guarantee;
  security: KafkaSecurity;
  intervals: IntervalName[];
  graceMs: number;
  flushIntervalMs: number;
  /** Bounds of one worker flush (issue 14): no request, record or transaction grows with traffic. */
  flush: {
    /** Klines one flush checks out at most; a bigger catch-up is published in rounds of this size. */
    maxKlines: number;
    /** Entries of the aggregator's final queue (a run of empty klines is one); a full queue flushes mid-batch. */
    queueEntries: number;
    /** Bytes of one produce request at most (lowered to the topics' max.message.bytes where that is smaller). */
    requestBytes: number;
    /** Exactly-once: transaction.timeout.ms of the workers' transactions. */
    transactionTimeoutMs: number;
  };
  /** Worker: how far a trade or watermark time may be ahead of its record's Kafka timestamp (docs/times.md). */
  recordTimeAheadMs: number;
  /**
   * Worker: how long a trade naming a symbol index not yet in `symbols` waits for it (the producer commits
   * the entry with the trades, but the symbols partition may become readable a moment after the trades one).
   */
  unknownSymbolWaitMs: number;
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

function intRange(min: number, max: number, unit: string) {
  return (raw: string, name: string): number => {
    if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number${unit ? ` of ${unit}` : ''}, got ${JSON.stringify(raw)}`);
    const v = Number(raw);
    if (v < min || v > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${v}`);
    return v;
  };
}

/** Retention: a positive number of milliseconds, or -1 for "keep forever" (Kafka's own convention). */
function parseRetention(raw: string, name: string): number {
  if (raw === '-1') return -1;
  return intRange(60_000, Number.MAX_SAFE_INTEGER, 'milliseconds (or -1 for no limit)')(raw, name);
}

function parseOneOf<T extends string>(values: readonly T[]) {
  return (raw: string, name: string): T => {
    const v = raw.toLowerCase();
    if (!(values as readonly string[]).includes(v)) throw new ConfigError(name, `expected one of ${values.join(', ')}, got ${JSON.stringify(raw)}`);
    return v as T;
  };
}

function parseBoolean(raw: string, name: string): boolean {
  const v = raw.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(name, `expected true or false, got ${JSON.stringify(raw)}`);
}

function nonEmpty(raw: string, name: string): string {
  if (raw === '') throw new ConfigError(name, 'is empty');
  return raw;
}

function parseNonNegativeInt(raw: string, name: string): number {
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number of milliseconds, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** An instant: epoch milliseconds, or an ISO 8601 date / date-time (UTC unless it says otherwise). */
function parseInstant(raw: string, name: string): number {
  const v = /^\d+$/.test(raw) ? Number(raw) : /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : NaN;
  if (!Number.isSafeInteger(v) || v < 0 || v > 8.64e15) throw new ConfigError(name, `expected epoch milliseconds or an ISO date such as 2017-01-01, got ${JSON.stringify(raw)}`);
  return v;
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
      throw new ConfigError(name, `expected a URL, got ${JSON.stringify(redactUrlText(raw))}`);
    }
    if (!protocols.includes(url.protocol)) {
      throw new ConfigError(name, `expected a ${protocols.join(' or ')} URL, got ${JSON.stringify(redactUrlText(raw))}`);
    }
    return raw.replace(/\/+$/, '');
  };
}

/** The registry URL with its user info (if any) taken out; `setting` names where it came from. */
type RegistryUrlSetting = UrlCredentials & { setting: string };

function parseRegistryUrl(raw: string, name: string): RegistryUrlSetting {
  return { ...splitUrlCredentials(parseUrl(['http:', 'https:'])(raw, name)), setting: name };
}

/** Issue 16: `name[,name...]`: DNS names or IPv4 (no port, no scheme), lower-cased; bracketed IPv6 too. */
function parseHostNames(raw: string, name: string): string[] {
  const names = raw.split(',').map((p) => p.trim().toLowerCase()).filter((p) => p.length > 0);
  for (const n of names) {
    if (!/^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)$/.test(n) || n.length > 253) {
      throw new ConfigError(name, `expected host names such as klines.example.org (no scheme, no port), got ${JSON.stringify(n)}`);
    }
  }
  return names;
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
  schemaRegistryUrl: setting<RegistryUrlSetting | undefined>({
    env: 'SCHEMA_REGISTRY_URL', flag: 'schema-registry',
    describe: 'Confluent-compatible schema registry URL (user:password@ in it become the basic-auth credentials, never shown); unset = embedded local stack',
    parse: parseRegistryUrl, fallback: () => undefined,
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
  // ---- issue 16: the live page's host check and bounds ----
  pageAllowedHosts: setting<string[]>({
    env: 'KLINESTREAM_PAGE_ALLOWED_HOSTS', flag: 'page-allowed-hosts',
    describe: 'host names the live page answers besides 127.0.0.1, localhost and [::1] (comma-separated, any port; e.g. behind a reverse proxy)',
    parse: parseHostNames, fallback: () => [],
  }),
  pageClientBufferBytes: setting<number>({
    env: 'KLINESTREAM_PAGE_CLIENT_BUFFER_BYTES', flag: 'page-client-buffer-bytes', describe: 'unsent bytes a live-page client may hold before it is disconnected as not reading',
    parse: intRange(1024 * 1024, 1024 * 1024 * 1024, 'bytes'), fallback: () => 8 * 1024 * 1024,
  }),
  pageMaxClients: setting<number>({
    env: 'KLINESTREAM_PAGE_MAX_CLIENTS', flag: 'page-max-clients', describe: 'WebSocket clients of the live page at once (more are refused with 503)',
    parse: intRange(1, 10_000, ''), fallback: () => 32,
  }),
  // ---- end issue 16 ----
  market: setting<Market>({
    env: 'KLINESTREAM_MARKET', flag: 'market', describe: 'exchange market: usdm (Binance USD-M futures) or spot',
    parse: parseOneOf(['usdm', 'spot'] as const), fallback: () => 'usdm',
  }),
  exchangeWsUrl: setting<string | undefined>({
    env: 'KLINESTREAM_EXCHANGE_WS_URL', flag: 'exchange-ws-url', describe: 'exchange market-data WebSocket base URL (default: the market\'s)',
    parse: parseUrl(['ws:', 'wss:']), fallback: () => undefined,
  }),
  exchangeRestUrl: setting<string | undefined>({
    env: 'KLINESTREAM_EXCHANGE_REST_URL', flag: 'exchange-rest-url', describe: 'exchange REST base URL: symbols and backfills (default: the market\'s)',
    parse: parseUrl(['http:', 'https:']), fallback: () => undefined,
  }),
  streamsPerConnection: setting<number>({
    env: 'KLINESTREAM_EXCHANGE_STREAMS_PER_CONNECTION', flag: 'exchange-streams-per-connection', describe: 'aggTrade streams per WebSocket connection (exchange limit 1024)',
    parse: intRange(1, 1024, ''), fallback: () => 200,
  }),
  connectionLifetimeMs: setting<number>({
    env: 'KLINESTREAM_EXCHANGE_CONNECTION_LIFETIME_MS', flag: 'exchange-connection-lifetime-ms', describe: 'planned replacement of a WebSocket connection after this long (exchange cuts at 24 h)',
    parse: intRange(1000, 24 * 3600_000, 'milliseconds'), fallback: () => 23 * 3600_000,
  }),
  restWeightPerMinute: setting<number | undefined>({
    env: 'KLINESTREAM_EXCHANGE_REST_WEIGHT_PER_MINUTE', flag: 'exchange-rest-weight-per-minute',
    describe: 'REST request weight the producer spends per minute at most, spread over the minute (default: the exchange\'s limit, 2400 USD-M / 6000 spot)',
    parse: intRange(1, 1_000_000, ''), fallback: () => undefined,
  }),
  feeds: setting<number>({
    env: 'KLINESTREAM_EXCHANGE_FEEDS', flag: 'feeds', describe: 'independent WebSocket connections per stream group, 1 or 2 (2: a single cut needs no REST backfill)',
    parse: intRange(1, 2, ''), fallback: () => 1,
  }),
  heldTradesMax: setting<number>({
    env: 'KLINESTREAM_PRODUCER_HELD_TRADES', flag: 'producer-held-trades', describe: 'live trades the producer holds behind open gaps, all symbols together (past it they come from REST)',
    parse: intRange(1000, 100_000_000, ''), fallback: () => 2_000_000,
  }),
  timeFrom: setting<number>({
    env: 'KLINESTREAM_PLAUSIBLE_TIME_FROM', flag: 'plausible-time-from', describe: 'earliest plausible trade time (ISO date or epoch ms); earlier ones are rejected',
    parse: parseInstant, fallback: () => PLAUSIBLE_FROM_MS,
  }),
  timeTo: setting<number>({
    env: 'KLINESTREAM_PLAUSIBLE_TIME_TO', flag: 'plausible-time-to', describe: 'end of the plausible trade times (ISO date or epoch ms, exclusive); later ones are rejected',
    parse: parseInstant, fallback: () => PLAUSIBLE_TO_MS,
  }),
  eventSkewMs: setting<number>({
    env: 'KLINESTREAM_TRADE_EVENT_SKEW_MS', flag: 'trade-event-skew-ms', describe: 'largest accepted difference between a frame\'s trade time T and its event time E',
    parse: intRange(1, 24 * 3600_000, 'milliseconds'), fallback: () => 60_000,
  }),
  clockAheadMs: setting<number>({
    env: 'KLINESTREAM_CLOCK_TOLERANCE_MS', flag: 'clock-tolerance-ms', describe: 'how far a live trade\'s time may be ahead of the local clock before it is rejected',
    parse: intRange(1, 24 * 3600_000, 'milliseconds'), fallback: () => 60_000,
  }),
  backfillMaxAgeMs: setting<number>({
    env: 'KLINESTREAM_BACKFILL_MAX_AGE_MS', flag: 'backfill-max-age-ms', describe: 'how far back the producer backfills a restart or outage from REST; older gaps are recorded',
    parse: intRange(0, 365 * 24 * 3600_000, 'milliseconds'), fallback: () => 24 * 3600_000,
  }),
  producerBufferTrades: setting<number>({
    env: 'KLINESTREAM_PRODUCER_BUFFER_TRADES', flag: 'producer-buffer-trades', describe: 'trades the producer buffers while Kafka is away before dropping them for a later backfill',
    parse: intRange(1000, 100_000_000, ''), fallback: () => 1_000_000,
  }),
  watermarkIntervalMs: setting<number>({
    env: 'KLINESTREAM_WATERMARK_INTERVAL_MS', flag: 'watermark-interval-ms', describe: 'event time between two watermark records',
    parse: intRange(10, 60_000, 'milliseconds'), fallback: () => 250,
  }),
  partitions: setting<number>({
    env: 'KLINESTREAM_PARTITIONS', flag: 'partitions', describe: 'partitions of trades, kline-state and klines when created',
    parse: intRange(1, 10_000, ''), fallback: () => 6,
  }),
  tradesRetentionMs: setting<number>({
    env: 'KLINESTREAM_TRADES_RETENTION_MS', flag: 'trades-retention-ms', describe: 'retention.ms of the trades topic (-1 = forever); replay reaches this far back',
    parse: parseRetention, fallback: () => 7 * 24 * 3600_000,
  }),
  klinesRetentionMs: setting<number>({
    env: 'KLINESTREAM_KLINES_RETENTION_MS', flag: 'klines-retention-ms', describe: 'retention.ms of the klines topic (-1 = forever)',
    parse: parseRetention, fallback: () => 30 * 24 * 3600_000,
  }),
  metricsPort: setting<number>({
    env: 'KLINESTREAM_METRICS_PORT', flag: 'metrics-port', describe: 'port of this process\'s Prometheus /metrics; 0 = any free port (logged)',
    parse: (raw, name) => (raw === '0' ? 0 : parsePort(raw, name)), fallback: () => 0,
  }),
  guarantee: setting<Guarantee>({
    env: 'KLINESTREAM_GUARANTEE', flag: 'guarantee', describe: 'worker delivery guarantee: at-least-once or exactly-once (Kafka transactions)',
    parse: parseOneOf(['at-least-once', 'exactly-once'] as const), fallback: () => 'at-least-once',
  }),
  saslMechanism: setting<SaslMechanism | undefined>({
    env: 'KAFKA_SASL_MECHANISM', flag: 'sasl-mechanism', describe: 'Kafka SASL mechanism: plain, scram-sha-256 or scram-sha-512; unset = no SASL',
    parse: parseOneOf(['plain', 'scram-sha-256', 'scram-sha-512'] as const), fallback: () => undefined,
  }),
  saslUsername: setting<string | undefined>({
    env: 'KAFKA_SASL_USERNAME', flag: 'sasl-username', describe: 'Kafka SASL user name', parse: nonEmpty, fallback: () => undefined,
  }),
  saslPassword: setting<string | undefined>({
    env: 'KAFKA_SASL_PASSWORD', flag: 'sasl-password', describe: 'Kafka SASL password (prefer the environment: flags show in ps); never logged', parse: nonEmpty, fallback: () => undefined,
  }),
  ssl: setting<boolean>({
    env: 'KAFKA_SSL', flag: 'ssl', describe: 'TLS to the brokers: true or false', parse: parseBoolean, fallback: () => false,
  }),
  sslCaFile: setting<string | undefined>({
    env: 'KAFKA_SSL_CA_FILE', flag: 'ssl-ca-file', describe: 'PEM file of the CA that signed the brokers\' certificates (implies KAFKA_SSL)',
    parse: (raw, name) => {
      const file = path.resolve(nonEmpty(raw, name));
      try {
        fs.accessSync(file, fs.constants.R_OK);
      } catch (e) {
        throw new ConfigError(name, `cannot read ${file}: ${(e as Error).message}`);
      }
      return file;
    },
    fallback: () => undefined,
  }),
  registryUsername: setting<string | undefined>({
    env: 'SCHEMA_REGISTRY_USERNAME', flag: 'schema-registry-username', describe: 'schema registry basic-auth user', parse: nonEmpty, fallback: () => undefined,
  }),
  registryPassword: setting<string | undefined>({
    env: 'SCHEMA_REGISTRY_PASSWORD', flag: 'schema-registry-password', describe: 'schema registry basic-auth password; never logged', parse: nonEmpty, fallback: () => undefined,
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
  flushMaxKlines: setting<number>({
    env: 'KLINESTREAM_FLUSH_MAX_KLINES', flag: 'flush-max-klines', describe: 'klines one worker flush publishes at most (a larger catch-up goes out in rounds)',
    parse: intRange(1024, 1_000_000, ''), fallback: () => 16_384,
  }),
  finalQueueEntries: setting<number>({
    env: 'KLINESTREAM_FINAL_QUEUE_ENTRIES', flag: 'final-queue-entries', describe: 'entries of a worker\'s queue of final klines (a run of empty klines is one); a full queue is flushed in the middle of a batch',
    parse: intRange(1024, 4 << 20, ''), fallback: () => 65_536,
  }),
  requestBytes: setting<number>({
    env: 'KLINESTREAM_PRODUCE_REQUEST_BYTES', flag: 'produce-request-bytes', describe: 'bytes of one produce request of a worker at most (kept below the topics\' max.message.bytes)',
    parse: intRange(16_384, 64 << 20, 'bytes'), fallback: () => 512 << 10,
  }),
  transactionTimeoutMs: setting<number>({
    env: 'KLINESTREAM_TRANSACTION_TIMEOUT_MS', flag: 'transaction-timeout-ms', describe: 'exactly-once: timeout of a worker\'s transaction (the broker aborts one open longer)',
    parse: intRange(1000, 900_000, 'milliseconds'), fallback: () => 60_000,
  }),
  recordTimeAheadMs: setting<number>({
    env: 'KLINESTREAM_RECORD_TIME_AHEAD_MS', flag: 'record-time-ahead-ms',
    describe: 'worker: how far a trade or watermark time may be ahead of its record\'s Kafka timestamp before it goes to the DLQ',
    parse: intRange(1000, 366 * 24 * 3600_000, 'milliseconds'), fallback: () => 3600_000,
  }),
  unknownSymbolWaitMs: setting<number>({
    env: 'KLINESTREAM_UNKNOWN_SYMBOL_WAIT_MS', flag: 'unknown-symbol-wait-ms',
    describe: 'worker: how long a trade naming a symbol index not yet in the symbols topic waits for it before it goes to the DLQ',
    parse: intRange(0, 300_000, 'milliseconds'), fallback: () => 5000,
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
  const market = read(SETTINGS.market);
  const registryUrl = read(SETTINGS.schemaRegistryUrl);
  const security = readSecurity(read, registryUrl);
  const config: Config = {
    brokers: read(SETTINGS.brokers),
    schemaRegistryUrl: registryUrl?.url,
    topicPrefix: read(SETTINGS.topicPrefix),
    httpPort: read(SETTINGS.httpPort),
    page: { allowedHosts: read(SETTINGS.pageAllowedHosts), clientBufferBytes: read(SETTINGS.pageClientBufferBytes), maxClients: read(SETTINGS.pageMaxClients) },
    market,
    marketPaths: MARKETS[market].paths,
    exchangeWsUrl: read(SETTINGS.exchangeWsUrl) ?? MARKETS[market].wsUrl,
    exchangeRestUrl: read(SETTINGS.exchangeRestUrl) ?? MARKETS[market].restUrl,
    streamsPerConnection: read(SETTINGS.streamsPerConnection),
    connectionLifetimeMs: read(SETTINGS.connectionLifetimeMs),
    restWeightPerMinute: read(SETTINGS.restWeightPerMinute) ?? MARKETS[market].paths.exchangeWeightLimitPerMinute,
    feeds: read(SETTINGS.feeds),
    heldTradesMax: read(SETTINGS.heldTradesMax),
    times: {
      fromMs: read(SETTINGS.timeFrom),
      toMs: read(SETTINGS.timeTo),
      eventSkewMs: read(SETTINGS.eventSkewMs),
      clockAheadMs: read(SETTINGS.clockAheadMs),
    },
    backfillMaxAgeMs: read(SETTINGS.backfillMaxAgeMs),
    producerBufferTrades: read(SETTINGS.producerBufferTrades),
    watermarkIntervalMs: read(SETTINGS.watermarkIntervalMs),
    partitions: read(SETTINGS.partitions),
    tradesRetentionMs: read(SETTINGS.tradesRetentionMs),
    klinesRetentionMs: read(SETTINGS.klinesRetentionMs),
    metricsPort: read(SETTINGS.metricsPort),
    guarantee: read(SETTINGS.guarantee),
    security,
    intervals: read(SETTINGS.intervals),
    graceMs: read(SETTINGS.graceMs),
    flushIntervalMs: read(SETTINGS.flushIntervalMs),
    flush: {
      maxKlines: read(SETTINGS.flushMaxKlines),
      queueEntries: read(SETTINGS.finalQueueEntries),
      requestBytes: read(SETTINGS.requestBytes),
      transactionTimeoutMs: read(SETTINGS.transactionTimeoutMs),
    },
    recordTimeAheadMs: read(SETTINGS.recordTimeAheadMs),
    unknownSymbolWaitMs: read(SETTINGS.unknownSymbolWaitMs),
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
  if (!(config.times.fromMs < config.times.toMs)) {
    throw new ConfigError('KLINESTREAM_PLAUSIBLE_TIME_FROM', `must be before KLINESTREAM_PLAUSIBLE_TIME_TO, got ${new Date(config.times.fromMs).toISOString()} .. ${new Date(config.times.toMs).toISOString()}`);
  }
  const { kafkaPort, controllerPort, registryPort, registryManagementPort } = config.stack;
  const ports = Object.entries({ kafkaPort, controllerPort, registryPort, registryManagementPort });
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      if (ports[i]![1] === ports[j]![1]) throw new ConfigError('local stack ports', `${ports[i]![0]} and ${ports[j]![0]} are both ${ports[i]![1]}`);
    }
  }
  return config;
}

type Reader = <T>(s: Setting<T>) => T;

function readSecurity(read: Reader, registryUrl: RegistryUrlSetting | undefined): KafkaSecurity {
  const saslMechanism = read(SETTINGS.saslMechanism);
  const saslUsername = read(SETTINGS.saslUsername);
  const saslPassword = read(SETTINGS.saslPassword);
  if (saslMechanism !== undefined && (saslUsername === undefined || saslPassword === undefined)) {
    throw new ConfigError(saslUsername === undefined ? 'KAFKA_SASL_USERNAME' : 'KAFKA_SASL_PASSWORD', `is required with KAFKA_SASL_MECHANISM=${saslMechanism}`);
  }
  if (saslMechanism === undefined && (saslUsername !== undefined || saslPassword !== undefined)) {
    throw new ConfigError('KAFKA_SASL_MECHANISM', 'is not set but a SASL user name or password is; set plain, scram-sha-256 or scram-sha-512');
  }
  const sslCaFile = read(SETTINGS.sslCaFile);
  const sslCa = sslCaFile === undefined ? undefined : fs.readFileSync(sslCaFile, 'utf8');
  if (sslCa !== undefined && !sslCa.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError('KAFKA_SSL_CA_FILE', `${sslCaFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  let registryUsername = read(SETTINGS.registryUsername);
  let registryPassword = read(SETTINGS.registryPassword);
  if ((registryUsername === undefined) !== (registryPassword === undefined)) {
    throw new ConfigError(registryUsername === undefined ? 'SCHEMA_REGISTRY_USERNAME' : 'SCHEMA_REGISTRY_PASSWORD', 'must be set together with the other schema registry credential');
  }
  if (registryUrl?.username !== undefined) {
    if (registryUsername !== undefined) {
      throw new ConfigError(registryUrl.setting, 'holds user info and SCHEMA_REGISTRY_USERNAME / _PASSWORD are set too; give the registry credentials one way');
    }
    registryUsername = registryUrl.username;
    registryPassword = registryUrl.password;
  }
  return {
    saslMechanism, saslUsername, saslPassword,
    // A CA file only makes sense with TLS: asking for it implies it.
    ssl: read(SETTINGS.ssl) || sslCaFile !== undefined,
    sslCa, sslCaFile, registryUsername, registryPassword,
  };
}

/** The configuration as it may be logged: secrets replaced by "***". */
export function redactConfig(config: Config): Record<string, unknown> {
  const { sslCa: _ca, ...security } = config.security;
  return {
    ...config,
    security: {
      ...security,
      saslPassword: security.saslPassword === undefined ? undefined : '***',
      registryPassword: security.registryPassword === undefined ? undefined : '***',
    },
  };
}

/** Topic names and the group id, all under the configured prefix (two prefixes are two independent apps). */
export function topicNames(prefix: string) {
  return {
    trades: `${prefix}trades`,
    symbols: `${prefix}symbols`,
    klines: `${prefix}klines`,
    klineState: `${prefix}kline-state`,
    tradesDlq: `${prefix}trades-dlq`,
    /** Internal, compacted: the producer's last aggregate id per symbol, written in the trades' transactions. */
    producerState: `${prefix}producer-state`,
    workerGroup: `${prefix}klinestream-workers`,
    /** Transactional id of the producer: a second producer with the same topics fences the first. */
    producerTransactionalId: `${prefix}klinestream-producer`,
  };
}
