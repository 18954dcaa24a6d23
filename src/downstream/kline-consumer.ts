/**
 * KlineConsumer: the library way to read the `klines` topic (`import { KlineConsumer } from 'klinestream'`),
 * and what `klinestream klines` runs.
 *
 * - Records are decoded with the Avro codec; writer schemas come from the schema registry by id.
 *   A record that cannot be decoded (not Avro, unknown schema id, not a Kline) is counted, logged with
 *   topic/partition/offset and skipped; it never stops the consumer. A registry that cannot be reached is
 *   not the record's fault: the lookup is retried with backoff, and only after that the run fails.
 * - Duplicates are dropped (see kline-dedupe.ts): a version not above the one delivered for the same
 *   (symbol, interval, openTime), or a kline at or before the newest final of its series. `finalOnly`
 *   delivers each final kline once, in openTime order per symbol and interval.
 * - read_committed: records of aborted (or still open) transactions of transactional writers are never seen.
 * - With `groupId`: a consumer group whose offsets are committed only after the handler's promise resolved
 *   (at least once for the handler); a restart resumes from the committed offsets. Without: an ephemeral
 *   group of its own, nothing committed, deleted when the consumer stops.
 *
 * The dedupe state is in memory. After a restart from committed offsets, records after the last commit are
 * delivered again (at least once), and a record republished by a worker after the restart point may be a
 * version the previous run already delivered. Handlers should upsert on (symbol, interval, openTime) and keep
 * the highest version; with finalOnly, a final kline may then be seen again with the same version.
 *
 * The handler is called for one record at a time (never concurrently), in offset order per partition.
 */
import { randomBytes } from 'node:crypto';
import type { Admin, Consumer, EachBatchPayload, KafkaConfig } from 'kafkajs';
import type { AvroCodec } from '../codec/avro-codec';
import type { Kline } from '../codec/records';
import { SchemaCatalogue } from '../codec/schema-catalogue';
import { RegistryClient } from '../codec/schema-registry';
import { valueDecoder } from '../codec/topic-codecs';
import { HEADER_LENGTH, MAGIC_BYTE } from '../codec/wire-format';
import { topicNames, type Config } from '../config/config';
import { KlinestreamError, UsageError, isKlinestreamError } from '../errors';
import { securityOptions } from '../kafka/client';
import { kafkaConnectionFailure, LIBRARY_OPTION_NAMES } from '../kafka/connection-failure';
import { assertKafkajsReady } from '../kafka/kafkajs-check';
import { createKafka } from '../kafka/kafkajs-logging';
import { createLogger, type Logger, type LogLevel } from '../observability/log';
import type { Connection } from '../config/connection';
import { KlineDeduper, type DedupeCounters } from './kline-dedupe';

export interface KlineConsumerOptions {
  /** Kafka bootstrap servers, `host:port`. */
  brokers: string[];
  /** Confluent-compatible schema registry URL (e.g. `http://host:8081` or Apicurio's `.../apis/ccompat/v7`). */
  schemaRegistryUrl: string;
  /** HTTP basic auth for the registry. */
  schemaRegistryAuth?: { username: string; password: string };
  /** The application's topic prefix (`KLINESTREAM_TOPIC_PREFIX`); the topic is `${topicPrefix}klines`. */
  topicPrefix?: string;
  /** The topic to read, when it is not `${topicPrefix}klines`. */
  topic?: string;
  /**
   * Consumer group. With it, offsets are committed after the handler returned and a restart resumes from
   * them. Without it, an ephemeral group (`${topicPrefix}klinestream-klines-<random>`): nothing is committed.
   */
  groupId?: string;
  clientId?: string;
  /** Only these symbols (exact names); default all. */
  symbols?: string[];
  /** Only these intervals (`1m` ... `1M`); default all. */
  intervals?: string[];
  /** Only final klines, each once, in openTime order per symbol and interval. */
  finalOnly?: boolean;
  /** Where a group without committed offsets starts: the beginning of the topic, or (default) only new records. */
  fromBeginning?: boolean;
  /** kafkajs TLS options, passed through. */
  ssl?: KafkaConfig['ssl'];
  /** kafkajs SASL options, passed through. */
  sasl?: KafkaConfig['sasl'];
  /** Threshold of kafkajs' own log entries (through our logger); default warn. */
  kafkaLogLevel?: LogLevel;
  /** Longest time the broker holds a fetch while there is nothing new; default 500 ms. */
  maxWaitTimeInMs?: number;
  /** Open (not final) klines remembered per symbol and interval; default 16 (see kline-dedupe.ts). */
  maxOpenPerSeries?: number;
  /** Schema catalogue (the reader schema); default the package's `schemas/`. */
  catalogue?: SchemaCatalogue;
}

export interface KlineMeta {
  partition: number;
  offset: string;
}

export type KlineHandler = (kline: Kline, meta: KlineMeta) => Promise<void> | void;

export interface KlineConsumerStats extends DedupeCounters {
  /** Records fetched from the topic (before decoding). */
  received: number;
  /** Records that could not be decoded (skipped). */
  decodeFailures: number;
  /** Decoded records of other symbols or intervals than asked for. */
  filtered: number;
}

/** How many decode failures are logged one by one; after that, one line per LOG_EVERY_FAILURE. */
const LOGGED_FAILURES = 100;
const LOG_EVERY_FAILURE = 1000;
const REGISTRY_ATTEMPTS = 6;
const REGISTRY_BACKOFF_MS = 500;
const NEEDS_SCHEMA = Symbol('needs-schema');

/** Plain options from the validated configuration and the resolved connection (what the CLI uses). */
export function klineConsumerOptions(config: Config, connection: Connection, extra: Partial<KlineConsumerOptions> = {}): KlineConsumerOptions {
  const s = config.security;
  const security = securityOptions(config);
  return {
    brokers: connection.brokers,
    schemaRegistryUrl: connection.schemaRegistryUrl,
    ...(s.registryUsername === undefined ? {} : { schemaRegistryAuth: { username: s.registryUsername, password: s.registryPassword! } }),
    topicPrefix: config.topicPrefix,
    ...(security.ssl === undefined ? {} : { ssl: security.ssl }),
    ...(security.sasl === undefined ? {} : { sasl: security.sasl }),
    kafkaLogLevel: config.logLevel === 'debug' ? 'info' : 'warn',
    ...extra,
  };
}

interface Session {
  handler: KlineHandler;
  /** readToEnd: partition -> end offset (exclusive); undefined for run(). */
  ends: Map<number, number> | undefined;
  /** readToEnd: partition -> next offset to read. */
  positions: Map<number, number>;
  done: Set<number>;
  consumer: Consumer | undefined;
  finished: Promise<void>;
  finish: () => void;
  fail: (e: unknown) => void;
  settled: boolean;
}

export class KlineConsumer {
  readonly topic: string;
  readonly groupId: string;
  readonly ephemeral: boolean;
  private readonly options: KlineConsumerOptions;
  private readonly log: Logger;
  private readonly symbols: Set<string> | undefined;
  private readonly intervals: Set<string> | undefined;
  private readonly deduper: KlineDeduper;
  private readonly counts = { received: 0, decodeFailures: 0, filtered: 0 };
  private admin: Admin | undefined;
  private codec: AvroCodec<Kline> | undefined;
  private session: Session | undefined;
  private teardown: Promise<void> | undefined;
  private inHandler = false;
  private stopping = false;
  private used = false;

  constructor(options: KlineConsumerOptions, log: Logger = createLogger({ level: 'warn' })) {
    if (!Array.isArray(options.brokers) || options.brokers.length === 0) {
      throw new KlinestreamError('CONFIG_INVALID', 'KlineConsumer: brokers must be a non-empty list of host:port', {}, { exitCode: 2 });
    }
    if (typeof options.schemaRegistryUrl !== 'string' || options.schemaRegistryUrl === '') {
      throw new KlinestreamError('CONFIG_INVALID', 'KlineConsumer: schemaRegistryUrl is required', {}, { exitCode: 2 });
    }
    if (options.groupId !== undefined && options.groupId === '') {
      throw new KlinestreamError('CONFIG_INVALID', 'KlineConsumer: groupId must not be empty (leave it out for an ephemeral group)', {}, { exitCode: 2 });
    }
    this.options = options;
    const prefix = options.topicPrefix ?? '';
    this.topic = options.topic ?? topicNames(prefix).klines;
    this.ephemeral = options.groupId === undefined;
    this.groupId = options.groupId ?? `${prefix}klinestream-klines-${randomBytes(6).toString('hex')}`;
    this.log = log.child({ component: 'kline-consumer', topic: this.topic, groupId: this.groupId });
    this.symbols = options.symbols === undefined || options.symbols.length === 0 ? undefined : new Set(options.symbols);
    this.intervals = options.intervals === undefined || options.intervals.length === 0 ? undefined : new Set(options.intervals);
    this.deduper = new KlineDeduper({ finalOnly: options.finalOnly ?? false, ...(options.maxOpenPerSeries === undefined ? {} : { maxOpenPerSeries: options.maxOpenPerSeries }) });
  }

  /** Counters since construction. */
  get stats(): KlineConsumerStats {
    return { ...this.counts, ...this.deduper.counters };
  }

  /** Open klines the dedupe state remembers right now (bounded; see kline-dedupe.ts). */
  get dedupeEntries(): number {
    return this.deduper.openCount + this.deduper.seriesCount;
  }

  /**
   * Consumes until stop() (then resolves), or until the handler throws or the Kafka client gives up (then
   * rejects with that error; nothing after the last handled record is committed).
   */
  run(handler: KlineHandler): Promise<void> {
    return this.consume(handler, false);
  }

  /**
   * Consumes up to the end offsets the topic has when it is called (the last stable offsets: read_committed),
   * then stops and resolves. Records written later are not delivered (nor committed). Expects to be the only
   * member of its group (an ephemeral group always is).
   */
  readToEnd(handler: KlineHandler): Promise<void> {
    return this.consume(handler, true);
  }

  /**
   * Stops consuming and disconnects; resolves once done (a pending run()/readToEnd() resolves too). Called
   * from inside the handler it returns at once, and the consumer stops after the handler returned. Called
   * before run()/readToEnd(), those then return at once without connecting.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    const session = this.session;
    if (session !== undefined) session.finish();
    if (this.inHandler) return;
    await this.teardown?.catch(() => undefined);
  }

  private async consume(handler: KlineHandler, toEnd: boolean): Promise<void> {
    if (this.used) throw new UsageError('KlineConsumer: run() / readToEnd() may be called once per instance; create a new one to consume again');
    this.used = true;
    let finish!: () => void;
    let fail!: (e: unknown) => void;
    const finished = new Promise<void>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    // Awaited below; a failure reported while start() is still running must not count as unhandled.
    finished.catch(() => undefined);
    const session: Session = {
      handler, ends: undefined, positions: new Map(), done: new Set(), consumer: undefined, finished, settled: false,
      finish: () => {
        if (session.settled) return;
        session.settled = true;
        finish();
      },
      fail: (e) => {
        if (session.settled) return;
        session.settled = true;
        fail(e);
      },
    };
    this.session = session;
    let failure: unknown;
    const work = (async () => {
      try {
        await this.start(session, toEnd);
        await session.finished;
      } catch (e) {
        failure = e;
      } finally {
        await this.shutdown(session);
      }
    })();
    this.teardown = work;
    await work;
    if (failure !== undefined) throw failure;
  }

  private async start(session: Session, toEnd: boolean): Promise<void> {
    if (this.stopping) {
      // stop() came first: nothing to do, and nothing to connect to.
      session.finish();
      return;
    }
    // Reading with the stock read_committed filter would deliver aborted records: refuse instead.
    assertKafkajsReady('consumer');
    const o = this.options;
    const kafka = createKafka({
      clientId: o.clientId ?? 'klinestream-klines',
      brokers: o.brokers,
      log: this.log,
      logLevel: o.kafkaLogLevel ?? 'warn',
      ...(o.ssl === undefined ? {} : { ssl: o.ssl }),
      ...(o.sasl === undefined ? {} : { sasl: o.sasl }),
    });
    const registry = new RegistryClient({
      url: o.schemaRegistryUrl,
      clientId: o.clientId ?? 'klinestream-klines',
      ...(o.schemaRegistryAuth === undefined ? {} : { auth: o.schemaRegistryAuth }),
    });
    this.codec = valueDecoder(registry, o.catalogue ?? SchemaCatalogue.load(), 'Kline');

    const admin = kafka.admin();
    this.admin = admin;
    try {
      await admin.connect();
    } catch (e) {
      // A broker it cannot reach or log in to: one sentence in the words of these options.
      throw kafkaConnectionFailure(e, o.brokers, LIBRARY_OPTION_NAMES) ?? e;
    }
    const topics = await admin.listTopics();
    if (!topics.includes(this.topic)) {
      throw new KlinestreamError('KAFKA_UNAVAILABLE', `topic ${this.topic} does not exist (no worker has published klines under this topic prefix yet?)`, { topic: this.topic });
    }
    if (toEnd) {
      session.ends = await this.endPositions(admin, session);
      if (session.done.size === session.ends.size) {
        this.log.debug('nothing to read up to the end offsets', { ends: Object.fromEntries(session.ends) });
        session.finish();
        return;
      }
    }
    if (this.stopping) {
      session.finish();
      return;
    }

    const consumer = kafka.consumer({
      groupId: this.groupId,
      readUncommitted: false,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: o.maxWaitTimeInMs ?? 500,
      ...(this.ephemeral ? { sessionTimeout: 30_000, rebalanceTimeout: 30_000 } : {}),
    });
    session.consumer = consumer;
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) {
        session.fail(new KlinestreamError('KAFKA_UNAVAILABLE', `consuming ${this.topic} failed: ${e.payload.error.message}`, { topic: this.topic, groupId: this.groupId }, { cause: e.payload.error }));
      }
    });
    // Batches made only of transaction markers (or aborted records) never reach eachBatch; kafkajs still
    // reports them here, and that is how the position passes them.
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      if (session.ends !== undefined && e.payload.topic === this.topic && e.payload.batchSize === 0) {
        this.advance(session, e.payload.partition, Number(e.payload.lastOffset) + 1);
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.topic, fromBeginning: o.fromBeginning ?? false });
    await consumer.run({
      autoCommit: !this.ephemeral,
      // kafkajs also commits the resolved offsets after every batch; this bounds the gap within a long batch.
      ...(this.ephemeral ? {} : { autoCommitInterval: 5000 }),
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.eachBatch(session, payload),
    });
  }

  /**
   * End offsets (last stable offsets) and where this group starts on each partition; partitions with nothing
   * to read are done from the start.
   */
  private async endPositions(admin: Admin, session: Session): Promise<Map<number, number>> {
    const offsets = await admin.fetchTopicOffsets(this.topic);
    const committed = new Map<number, number>();
    if (!this.ephemeral) {
      const groupOffsets = await admin.fetchOffsets({ groupId: this.groupId, topics: [this.topic] });
      for (const t of groupOffsets) for (const p of t.partitions) if (Number(p.offset) >= 0) committed.set(p.partition, Number(p.offset));
    }
    const ends = new Map<number, number>();
    for (const p of offsets) {
      const low = Number(p.low);
      const end = Number(p.high);
      const c = committed.get(p.partition);
      // A committed offset below the retention start (or beyond the end) resets like no offset at all.
      const start = c !== undefined && c >= low && c <= end ? c : this.options.fromBeginning ? low : end;
      ends.set(p.partition, end);
      session.positions.set(p.partition, start);
      if (start >= end) session.done.add(p.partition);
    }
    return ends;
  }

  private async eachBatch(session: Session, payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale, pause, commitOffsetsIfNecessary } = payload;
    const partition = batch.partition;
    const end = session.ends?.get(partition);
    if (session.ends !== undefined && (session.done.has(partition) || end === undefined)) {
      // Read to its end already (or a partition added after the start): nothing more from it in this run.
      pause();
      return;
    }
    let complete = true;
    for (const message of batch.messages) {
      if (session.settled || this.stopping || !isRunning() || isStale()) {
        complete = false;
        break;
      }
      const offset = Number(message.offset);
      if (end !== undefined && offset >= end) {
        this.advance(session, partition, end);
        complete = false;
        break;
      }
      this.counts.received++;
      let kline = this.decode(message.value, partition, message.offset);
      if (kline === NEEDS_SCHEMA) {
        try {
          kline = await this.decodeAfterFetch(message.value!, partition, message.offset);
        } catch (e) {
          // The registry stayed unreachable: not the record's fault, so it is not skipped; the run fails.
          session.fail(e);
          return;
        }
      }
      if (kline !== undefined && this.wanted(kline) && this.deduper.offer(kline)) {
        this.inHandler = true;
        try {
          await session.handler(kline, { partition, offset: message.offset });
        } catch (e) {
          session.fail(e);
          return;
        } finally {
          this.inHandler = false;
        }
      }
      // Only now is the record done: its offset may be committed (with a group id).
      resolveOffset(message.offset);
      if (end !== undefined) this.advance(session, partition, offset + 1);
      if (!this.ephemeral) await commitOffsetsIfNecessary();
      await heartbeat();
    }
    // Trailing transaction markers belong to the batch: a batch handled to its end is passed entirely.
    if (complete && end !== undefined) this.advance(session, partition, Number(batch.lastOffset()) + 1);
    if (session.ends !== undefined && session.done.has(partition)) pause();
  }

  private wanted(k: Kline): boolean {
    if ((this.symbols !== undefined && !this.symbols.has(k.symbol)) || (this.intervals !== undefined && !this.intervals.has(k.interval))) {
      this.counts.filtered++;
      return false;
    }
    return true;
  }

  private advance(session: Session, partition: number, next: number): void {
    const ends = session.ends;
    if (ends === undefined) return;
    if (next > (session.positions.get(partition) ?? 0)) session.positions.set(partition, next);
    const end = ends.get(partition);
    if (end !== undefined && (session.positions.get(partition) ?? 0) >= end) session.done.add(partition);
    if (session.done.size >= ends.size) session.finish();
  }

  /**
   * The decoded Kline, undefined when the record is not one (counted and logged), or NEEDS_SCHEMA when its
   * writer schema id is not loaded yet (then decodeAfterFetch). Synchronous: the per-record path has no promise.
   */
  private decode(value: Buffer | null, partition: number, offset: string): Kline | undefined | typeof NEEDS_SCHEMA {
    if (value === null) {
      this.decodeFailed(partition, offset, new KlinestreamError('CODEC_TRUNCATED', 'null value (tombstone) where a Kline was expected', { byteLength: 0 }));
      return undefined;
    }
    try {
      return this.codec!.decode(value);
    } catch (e) {
      if (isKlinestreamError(e) && e.code === 'CODEC_UNKNOWN_SCHEMA' && value.length >= HEADER_LENGTH && value[0] === MAGIC_BYTE) return NEEDS_SCHEMA;
      this.decodeFailed(partition, offset, e);
      return undefined;
    }
  }

  /** Fetches the record's writer schema (retrying an unreachable registry), then decodes it. */
  private async decodeAfterFetch(value: Buffer, partition: number, offset: string): Promise<Kline | undefined> {
    const codec = this.codec!;
    const id = value.readInt32BE(1);
    for (let attempt = 1; ; attempt++) {
      try {
        await codec.prepare(id);
        break;
      } catch (e) {
        if (!(isKlinestreamError(e) && e.code === 'SCHEMA_REGISTRY')) {
          // The registry answered: no such id. The record's fault.
          this.decodeFailed(partition, offset, e);
          return undefined;
        }
        if (attempt >= REGISTRY_ATTEMPTS || this.stopping) throw e;
        const delay = REGISTRY_BACKOFF_MS * 2 ** (attempt - 1);
        this.log.warn('schema registry lookup failed; retrying', { schemaId: id, partition, offset, attempt, retryInMs: delay, error: e });
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    try {
      return codec.decode(value);
    } catch (e) {
      this.decodeFailed(partition, offset, e);
      return undefined;
    }
  }

  private decodeFailed(partition: number, offset: string, e: unknown): void {
    const n = ++this.counts.decodeFailures;
    if (n <= LOGGED_FAILURES || n % LOG_EVERY_FAILURE === 0) {
      const details = isKlinestreamError(e) ? e.details : {};
      this.log.warn(n <= LOGGED_FAILURES ? 'undecodable kline record skipped' : `undecodable kline records skipped (${n} so far; logging one in ${LOG_EVERY_FAILURE})`, {
        topic: this.topic, partition, offset, code: isKlinestreamError(e) ? e.code : undefined, error: e instanceof Error ? e.message : String(e), ...details,
      });
    }
  }

  private async shutdown(session: Session): Promise<void> {
    session.finish();
    const consumer = session.consumer;
    if (consumer !== undefined) {
      await consumer.disconnect().catch((e: unknown) => this.log.warn('consumer disconnect failed', { error: e }));
    }
    const admin = this.admin;
    if (admin !== undefined) {
      if (this.ephemeral && consumer !== undefined) await this.deleteEphemeralGroup(admin);
      await admin.disconnect().catch(() => undefined);
    }
    this.admin = undefined;
    this.session = undefined;
  }

  /** Best effort: an empty group without offsets expires by itself; this keeps the broker tidy meanwhile. */
  private async deleteEphemeralGroup(admin: Admin): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await admin.deleteGroups([this.groupId]);
        return;
      } catch (e) {
        const text = e instanceof Error ? `${e.message} ${JSON.stringify((e as { groups?: unknown }).groups ?? '')}` : String(e);
        // The broker may not have processed our LeaveGroup yet (GROUP_NOT_EMPTY) or never created it.
        if (/GROUP_ID_NOT_FOUND|does not exist/i.test(text)) return;
        await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      }
    }
    this.log.debug('could not delete the ephemeral consumer group; it expires by itself', { groupId: this.groupId });
  }
}
