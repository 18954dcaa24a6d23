/**
 * One member of the worker group: consumes `trades`, aggregates, and publishes klines through the flush
 * protocol of flush.ts. This file owns consumption (eachBatch, decoding into columns, watermarks, the DLQ),
 * partition ownership (restore on assignment, drop on revocation, rewind after a failed transaction), the
 * flush schedule and its retries, and `--until-caught-up`.
 *
 * Ownership: one aggregator per process (a new instance costs V8 its optimised code); each owned partition is
 * a symbol group in it, so a partition's watermark closes only its own symbols. A partition is "ready" once
 * restored from `kline-state`; its batches wait for that.
 */
import { Partitioners, type Admin, type Consumer, type EachBatchPayload, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import { APPLIED, DUPLICATE, INVALID, KlineAggregator, LATE } from '../aggregation/aggregator';
import { TradeColumns } from '../aggregation/trade-columns';
import { KlineWireWriter } from '../codec/kline-wire';
import { SchemaCatalogue } from '../codec/schema-catalogue';
import { registerValueCodec, valueDecoder } from '../codec/topic-codecs';
import type { Config } from '../config/config';
import { topicNames } from '../config/config';
import { KlinestreamError } from '../errors';
import { kafkaClient, registryClient } from '../kafka/client';
import { TopicReader } from '../kafka/topic-reader';
import { ensureTopics } from '../kafka/topics';
import type { Logger } from '../observability/log';
import { RateLimitedLog } from '../observability/rate-limited-log';
import type { Connection } from '../stack/stack';
import { SymbolDirectory } from '../symbols/symbol-directory';
import { SymbolsFollower } from '../symbols/symbols-topic';
import { Faults } from './faults';
import { Flusher, type DlqRecord } from './flush';
import { decodeStateRecord } from './state-record';
import { DECODED_HANDOVER, DECODED_TRADE, DECODED_UNKNOWN_SCHEMA, DECODED_WATERMARK, TradeDecoder } from './trade-decoder';
import { WorkerMetrics } from './worker-metrics';

export interface WorkerOptions {
  config: Config;
  connection: Connection;
  log: Logger;
  registry: Registry;
  signal: AbortSignal;
  untilCaughtUp?: boolean;
  /** Consumer group (default: the app's worker group). replay uses a fresh one. */
  groupId?: string;
  /** Output topics (default: the app's). replay writes elsewhere and keeps its state apart. */
  klinesTopic?: string;
  klineStateTopic?: string;
  /** Dead letters (default: the app's trades-dlq); replay keeps its own. */
  dlqTopic?: string;
  /** Klines opening before this are not published (replay --from <time>). */
  publishFrom?: number;
  /** Where a group without committed offsets starts: the earliest retained trade (default). */
  fromBeginning?: boolean;
  faults?: Faults;
  /** Called when caught up (until-caught-up) with the counts, before stopping. */
  onProgress?: (p: WorkerProgress) => void;
}

export interface WorkerProgress {
  tradesApplied: number;
  lag: number;
  partitions: number;
  finals: number;
}

export interface WorkerSummary {
  tradesApplied: number;
  duplicates: number;
  lateTrades: number;
  dlq: number;
  finalKlines: number;
  liveKlines: number;
  flushes: number;
  restoredSymbols: number;
  elapsedMs: number;
}

const COLUMNS = 4096;

export class Worker {
  private readonly config: Config;
  private readonly log: Logger;
  private readonly names: ReturnType<typeof topicNames>;
  private readonly topics: { trades: string; klines: string; klineState: string; tradesDlq: string; symbols: string };
  private readonly groupId: string;
  private readonly kafka: Kafka;
  private admin!: Admin;
  private consumer!: Consumer;
  private producer: Producer | undefined;
  private readonly eosProducers = new Map<number, Producer>();
  private readonly agg: KlineAggregator;
  private readonly cols = new TradeColumns(COLUMNS);
  private readonly rowOffset = new Float64Array(COLUMNS);
  private readonly rowMessage: Array<KafkaMessage | undefined> = new Array(COLUMNS);
  private decoder!: TradeDecoder;
  private readonly directory = new SymbolDirectory();
  private symbols!: SymbolsFollower;
  private flusher!: Flusher;
  private readonly owned = new Set<number>();
  private readonly ready = new Set<number>();
  private readonly restoring = new Map<number, Promise<void>>();
  private readonly applied = new Map<number, number>();
  private readonly committed = new Map<number, number>();
  private readonly lag = new Map<number, number>();
  private readonly pendingDlq: DlqRecord[] = [];
  private readonly metrics: WorkerMetrics;
  private readonly faults: Faults;
  private readonly eos: boolean;
  private readonly lateLog: RateLimitedLog;
  private flushing: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;
  private lastCommitAt = Date.now();
  private paused = false;
  private stopped = false;
  private failure: unknown;
  private readonly started = Date.now();
  private flushes = 0;
  private dlqCount = 0;
  private restoredSymbols = 0;
  private stop!: () => void;

  constructor(private readonly options: WorkerOptions) {
    this.config = options.config;
    this.log = options.log;
    this.names = topicNames(this.config.topicPrefix);
    this.topics = {
      trades: this.names.trades, klines: options.klinesTopic ?? this.names.klines, klineState: options.klineStateTopic ?? this.names.klineState,
      tradesDlq: options.dlqTopic ?? this.names.tradesDlq, symbols: this.names.symbols,
    };
    this.groupId = options.groupId ?? this.names.workerGroup;
    this.eos = this.config.guarantee === 'exactly-once';
    this.faults = options.faults ?? Faults.none();
    this.kafka = kafkaClient(this.config, options.connection, this.log, { clientId: 'klinestream-worker' });
    this.agg = new KlineAggregator({ intervals: this.config.intervals, graceMs: this.config.graceMs });
    this.lateLog = new RateLimitedLog(this.log);
    this.metrics = new WorkerMetrics(options.registry, {
      counters: () => this.agg.counters,
      slotsInUse: () => this.agg.activeSymbolCount * this.agg.intervalsPerSymbol,
      lagByPartition: () => this.lag,
      secondsSinceCommit: () => (Date.now() - this.lastCommitAt) / 1000,
      assigned: () => this.owned.size,
    });
  }

  async run(): Promise<WorkerSummary> {
    try {
      await this.prepare();
    } catch (e) {
      // A start that fails half-way still closes the clients it opened (no final flush: nothing ran), so
      // the process exits with its error instead of hanging on open sockets.
      this.failure = e;
      await this.shutdown();
      throw e;
    }
    try {
      await new Promise<void>((resolve, reject) => {
        this.stop = () => (this.failure === undefined ? resolve() : reject(this.failure));
        if (this.options.signal.aborted) this.stop();
        this.options.signal.addEventListener('abort', () => this.stop(), { once: true });
      });
    } finally {
      await this.shutdown();
    }
    const c = this.agg.counters;
    return {
      tradesApplied: c.tradesApplied, duplicates: c.duplicates, lateTrades: c.lateTrades, dlq: this.dlqCount, finalKlines: c.finalKlinesOut,
      liveKlines: c.liveKlinesOut, flushes: this.flushes, restoredSymbols: this.restoredSymbols, elapsedMs: Date.now() - this.started,
    };
  }

  // ---- start ---------------------------------------------------------------------------------------------

  private async prepare(): Promise<void> {
    const { config, log } = this;
    this.admin = this.kafka.admin();
    await this.admin.connect();
    await ensureTopics(this.admin, config, log);
    if (this.topics.klines !== this.names.klines || this.topics.klineState !== this.names.klineState || this.topics.tradesDlq !== this.names.tradesDlq) {
      await this.ensureReplayTopics();
    }
    const catalogue = SchemaCatalogue.load();
    const registry = registryClient(config, this.options.connection, 'klinestream-worker');
    const tradeSchema = await registerValueCodec(registry, catalogue, this.topics.trades, 'Trade');
    this.decoder = new TradeDecoder(valueDecoder(registry, catalogue, 'Trade'), tradeSchema.schemaId!);
    const klineCodec = await registerValueCodec(registry, catalogue, this.topics.klines, 'Kline');
    const klineWire = new KlineWireWriter(klineCodec.schemaId!, { nameOf: (s) => this.directory.nameOf(s) });
    this.symbols = new SymbolsFollower({
      kafka: this.kafka, admin: this.admin, topic: this.topics.symbols, groupPrefix: config.topicPrefix,
      decoder: valueDecoder(registry, catalogue, 'SymbolEntry'), directory: this.directory, log,
      onEntry: (e) => klineWire.setSymbolName(e.index, e.symbol),
    });
    await this.symbols.start();
    this.flusher = new Flusher({
      agg: this.agg, directory: this.directory, klineWire, topics: this.topics, groupId: this.groupId, log, faults: this.faults,
      applied: this.applied, committed: this.committed, owned: this.owned, pendingDlq: this.pendingDlq,
      publishFrom: this.options.publishFrom ?? -Infinity,
      commit: (offsets) => this.consumer.commitOffsets(offsets.map((o) => ({ topic: this.topics.trades, partition: o.partition, offset: String(o.offset) }))),
    });
    if (!this.eos) {
      this.producer = this.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      await this.producer.connect();
    }
    this.consumer = this.kafka.consumer({
      groupId: this.groupId,
      allowAutoTopicCreation: false,
      // A member killed with kill -9 holds its partitions until the session times out: short enough that its
      // partitions move within seconds, long enough for a GC pause or a slow flush.
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      maxBytesPerPartition: 4 << 20,
      maxWaitTimeInMs: 100,
    });
    const { consumer } = this;
    consumer.on(consumer.events.GROUP_JOIN, (e) => this.onAssignment(e.payload.memberAssignment[this.topics.trades] ?? []));
    consumer.on(consumer.events.REBALANCING, () => {
      // Flush and commit before giving partitions up, as far as kafkajs lets us (there is no revoke hook).
      this.scheduleFlush();
    });
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      const p = e.payload.partition;
      if (e.payload.topic !== this.topics.trades || !this.ready.has(p)) return;
      // Also moves past batches made only of transaction markers (they never reach eachBatch).
      const next = Number(e.payload.lastOffset) + 1;
      if (next > (this.applied.get(p) ?? -1) && e.payload.batchSize === 0) this.applied.set(p, next);
      this.lag.set(p, Math.max(0, Number(e.payload.offsetLag)));
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) this.fail(new KlinestreamError('WORKER_FAILED', `the consumer stopped: ${e.payload.error.message}`, {}, { cause: e.payload.error }));
      else log.warn('consumer restarting after an error', { error: e.payload.error });
    });
    await consumer.connect();
    await consumer.subscribe({ topic: this.topics.trades, fromBeginning: this.options.fromBeginning ?? true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.onBatch(payload),
    });
    this.flushTimer = setInterval(() => this.scheduleFlush(), config.flushIntervalMs);
    log.info('worker running', {
      group: this.groupId, guarantee: config.guarantee, intervals: config.intervals.length, graceMs: config.graceMs,
      topics: this.topics, symbols: this.directory.size, faults: this.faults.active || undefined,
    });
  }

  private async ensureReplayTopics(): Promise<void> {
    const existing = new Set(await this.admin.listTopics());
    const meta = await this.admin.fetchTopicMetadata({ topics: [this.names.trades] });
    const partitions = meta.topics[0]!.partitions.length;
    const brokers = (await this.admin.describeCluster()).brokers.length;
    const replicationFactor = Math.max(1, Math.min(3, brokers));
    const topics = [];
    if (!existing.has(this.topics.klines)) topics.push({ topic: this.topics.klines, numPartitions: this.config.partitions, replicationFactor });
    if (!existing.has(this.topics.tradesDlq)) topics.push({ topic: this.topics.tradesDlq, numPartitions: 1, replicationFactor });
    if (!existing.has(this.topics.klineState)) {
      topics.push({ topic: this.topics.klineState, numPartitions: partitions, replicationFactor, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] });
    }
    if (topics.length > 0) await this.admin.createTopics({ topics, waitForLeaders: true });
  }

  // ---- ownership -----------------------------------------------------------------------------------------

  private onAssignment(partitions: number[]): void {
    const next = new Set(partitions);
    const revoked = [...this.owned].filter((p) => !next.has(p));
    const added = partitions.filter((p) => !this.owned.has(p));
    for (const p of revoked) this.owned.delete(p);
    for (const p of added) this.owned.add(p);
    this.log.info('partitions assigned', { partitions: [...this.owned].sort((a, b) => a - b), added, revoked });
    if (revoked.length === 0) return;
    // Drop them between flushes (never while a batch is checked out).
    this.serial(async () => {
      for (const p of revoked) this.release(p);
    });
  }

  private release(p: number): void {
    if (this.owned.has(p)) return; // assigned back meanwhile
    const dropped = this.agg.dropGroup(p);
    this.ready.delete(p);
    this.applied.delete(p);
    this.committed.delete(p);
    this.lag.delete(p);
    for (let i = this.pendingDlq.length - 1; i >= 0; i--) if (this.pendingDlq[i]!.partition === p) this.pendingDlq.splice(i, 1);
    const producer = this.eosProducers.get(p);
    this.eosProducers.delete(p);
    void producer?.disconnect().catch(() => undefined);
    this.log.info('partition given up', { partition: p, symbols: dropped });
  }

  /** Restores partition p from kline-state (once per ownership). */
  private ensureReady(p: number): Promise<void> {
    if (this.ready.has(p)) return Promise.resolve();
    let r = this.restoring.get(p);
    if (r === undefined) {
      r = this.serial(() => this.restore(p)).finally(() => this.restoring.delete(p));
      this.restoring.set(p, r);
    }
    return r;
  }

  private async restore(p: number): Promise<void> {
    if (this.ready.has(p) || !this.owned.has(p)) return;
    const started = Date.now();
    // Exactly-once: initialising the partition's transactional id first fences a previous owner and aborts
    // its open transaction, so the state read below is final.
    if (this.eos) await this.producerFor(p);
    this.agg.dropGroup(p);
    const latest = new Map<string, Buffer | null>();
    const reader = new TopicReader({
      kafka: this.kafka, admin: this.admin, topic: this.topics.klineState, groupPrefix: this.config.topicPrefix, log: this.log,
      partitions: [p],
      onBatch: (_partition, messages) => {
        for (const m of messages) latest.set(m.key?.toString('utf8') ?? '', m.value);
      },
    });
    try {
      await reader.start();
    } finally {
      await reader.stop();
    }
    let restored = 0;
    let skipped = 0;
    const sig = this.agg.stateSignature;
    for (const [key, value] of latest) {
      if (value === null) continue;
      try {
        const r = decodeStateRecord(value);
        const index = this.directory.indexOf(key);
        if (r.signature !== sig) {
          skipped++;
          this.log.error('state of another interval set is not restored; this symbol restarts from its next trades (replay to rebuild it)', { partition: p, symbol: key, stateIntervals: r.signature, configured: sig });
          continue;
        }
        if (index !== r.symbolIndex || r.inputPartition !== p) {
          skipped++;
          this.log.error('state record does not match the symbols topic; skipped', { partition: p, symbol: key, index, recordIndex: r.symbolIndex, recordPartition: r.inputPartition });
          continue;
        }
        this.agg.setSymbolGroup(index, p);
        this.agg.restoreSymbol(index, r.state);
        // At-least-once: republish the live klines (a replay of the same versions is harmless); exactly-once
        // must not publish a version twice.
        if (!this.eos) this.agg.markDirty(index);
        restored++;
      } catch (e) {
        skipped++;
        this.log.error('unreadable state record skipped', { partition: p, symbol: key, error: e });
      }
    }
    this.ready.add(p);
    const ms = Date.now() - started;
    this.restoredSymbols += restored;
    this.metrics.restoredSymbols.inc(restored);
    this.metrics.restoreSeconds.observe(ms / 1000);
    this.log.info('partition restored from kline-state', { partition: p, records: reader.records, symbols: restored, skipped, ms });
  }

  private async producerFor(p: number): Promise<Producer> {
    let producer = this.eosProducers.get(p);
    if (producer !== undefined) return producer;
    producer = this.kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      transactionalId: `${this.config.topicPrefix}klinestream-worker-${this.topics.trades}-${p}`,
      idempotent: true, maxInFlightRequests: 1, transactionTimeout: 60_000, allowAutoTopicCreation: false,
      retry: { retries: 6, initialRetryTime: 30, maxRetryTime: 1000 },
    });
    await producer.connect();
    // The first transaction initialises the producer id (fencing the previous owner); nothing is sent.
    const txn = await producer.transaction();
    await txn.abort();
    this.eosProducers.set(p, producer);
    return producer;
  }

  // ---- consumption ---------------------------------------------------------------------------------------

  private async onBatch({ batch, resolveOffset, heartbeat }: EachBatchPayload): Promise<void> {
    const p = batch.partition;
    if (!this.owned.has(p) || this.stopped) return;
    this.heartbeat = heartbeat;
    await this.alive(this.ensureReady(p));
    if (!this.ready.has(p)) return;
    const messages = batch.messages;
    for (const m of messages) await this.decoder.prepare(m.value);
    const cols = this.cols;
    cols.length = 0;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const row = cols.length;
      const result = this.decoder.decode(m.value, cols);
      if (result === DECODED_TRADE) {
        this.rowOffset[row] = Number(m.offset);
        this.rowMessage[row] = m;
        if (cols.full) await this.applyColumns(p);
        continue;
      }
      await this.applyColumns(p);
      if (result === DECODED_WATERMARK) {
        await this.watermark(p, this.decoder.watermark);
      } else if (result === DECODED_HANDOVER) {
        // Migration markers are handled by the scaling protocol (docs/scaling.md); a worker without it keeps going.
        this.log.debug('handover marker', { partition: p, symbol: this.decoder.handoverSymbol, target: this.decoder.handoverTarget });
      } else {
        this.toDlq(p, m, result === DECODED_UNKNOWN_SCHEMA ? 'unknown-schema' : 'undecodable', this.decoder.error);
      }
      this.applied.set(p, Number(m.offset) + 1);
    }
    await this.applyColumns(p);
    // Everything up to the batch's last offset is processed, transaction markers after the last record included.
    const next = Number(batch.lastOffset()) + 1;
    if (next > (this.applied.get(p) ?? -1)) this.applied.set(p, next);
    resolveOffset(batch.lastOffset());
    this.lag.set(p, Math.max(0, Number(batch.offsetLag())));
    await heartbeat();
  }

  /** Applies the decoded trades, flushing when the final queue is full; then records the offset. */
  private async applyColumns(p: number): Promise<void> {
    const cols = this.cols;
    if (cols.length === 0) return;
    const last = this.rowOffset[cols.length - 1]!;
    await this.checkSymbols(p);
    let i = this.agg.ingestColumns(cols, 0);
    while (i < cols.length) {
      await this.alive(this.flushNow());
      i = this.agg.ingestColumns(cols, i);
    }
    const res = cols.result;
    for (let k = 0; k < cols.length; k++) {
      const r = res[k]!;
      if (r === APPLIED) continue;
      if (r === DUPLICATE) {
        this.metrics.replayedDuplicates.inc();
      } else if (r === LATE) {
        const name = this.directory.nameOf(cols.symbol[k]!);
        this.lateLog.write('warn', 'late', 'late trade: its kline was already final; sent to the DLQ, not merged', {
          partition: p, offset: this.rowOffset[k], symbol: name, aggId: cols.aggId[k], tradeTime: cols.tradeTime[k],
        });
        this.toDlq(p, this.rowMessage[k]!, 'late', `trade time ${cols.tradeTime[k]} is in a kline already final (grace ${this.config.graceMs} ms)`);
      } else if (r === INVALID) {
        this.toDlq(p, this.rowMessage[k]!, 'invalid', 'the aggregator rejected the values (non-positive price or quantity, bad ids or time)');
      }
    }
    this.applied.set(p, last + 1);
    cols.length = 0;
  }

  /**
   * Trades naming an index the directory does not know: catch up on `symbols`, else send them to the DLQ.
   * A trade on a partition that is not its symbol's placement goes to the DLQ too: applying it would give
   * the symbol a second owner (each symbol lives in exactly one partition, SPEC 2).
   */
  private async checkSymbols(p: number): Promise<void> {
    const cols = this.cols;
    let misfit = false;
    for (let k = 0; k < cols.length; k++) {
      const s = cols.symbol[k]!;
      const home = this.directory.partitionOf(s);
      if (this.directory.nameOf(s) === undefined || (home >= 0 && home !== p)) misfit = true;
      else if (this.agg.groupOf(s) !== p) this.agg.setSymbolGroup(s, p);
    }
    if (!misfit) return;
    await this.symbols.catchUp();
    let w = 0;
    for (let k = 0; k < cols.length; k++) {
      const s = cols.symbol[k]!;
      if (this.directory.nameOf(s) === undefined) {
        this.toDlq(p, this.rowMessage[k]!, 'unknown-symbol', `symbol index ${s} is not in the symbols topic`);
        continue;
      }
      const home = this.directory.partitionOf(s);
      if (home >= 0 && home !== p) {
        this.toDlq(p, this.rowMessage[k]!, 'wrong-partition', `symbol ${this.directory.nameOf(s)} lives in partition ${home}, not ${p}`);
        continue;
      }
      if (this.agg.groupOf(s) !== p) this.agg.setSymbolGroup(s, p);
      if (w !== k) this.moveRow(k, w);
      w++;
    }
    cols.length = w;
  }

  private moveRow(from: number, to: number): void {
    const c = this.cols;
    c.symbol[to] = c.symbol[from]!;
    c.aggId[to] = c.aggId[from]!;
    c.firstTradeId[to] = c.firstTradeId[from]!;
    c.lastTradeId[to] = c.lastTradeId[from]!;
    c.price[to] = c.price[from]!;
    c.quantity[to] = c.quantity[from]!;
    c.tradeTime[to] = c.tradeTime[from]!;
    c.isBuyerMaker[to] = c.isBuyerMaker[from]!;
    this.rowOffset[to] = this.rowOffset[from]!;
    this.rowMessage[to] = this.rowMessage[from];
  }

  private async watermark(p: number, w: number): Promise<void> {
    while (this.agg.advanceWatermark(w, p) !== APPLIED) await this.alive(this.flushNow());
  }

  private heartbeat: (() => Promise<void>) | undefined;

  /**
   * Waits for `work` inside eachBatch while heartbeating, so that a flush retrying against an unavailable
   * Kafka, or a restore, does not cost the group membership.
   */
  private async alive<T>(work: Promise<T>): Promise<T> {
    const beat = this.heartbeat;
    if (beat === undefined) return work;
    const timer = setInterval(() => {
      beat().catch(() => undefined);
    }, 1000);
    try {
      return await work;
    } finally {
      clearInterval(timer);
    }
  }

  private toDlq(p: number, m: KafkaMessage, reason: string, error: string): void {
    this.dlqCount++;
    this.metrics.dlq.inc({ reason });
    if (reason !== 'late') {
      this.lateLog.write('warn', `dlq-${reason}`, 'record sent to the dead-letter topic', { reason, error, topic: this.topics.trades, partition: p, offset: m.offset });
    }
    this.pendingDlq.push({
      partition: p,
      message: {
        key: m.key,
        value: m.value,
        headers: {
          'klinestream.reason': reason,
          'klinestream.error': error.slice(0, 500),
          'klinestream.source.topic': this.topics.trades,
          'klinestream.source.partition': String(p),
          'klinestream.source.offset': m.offset,
          'klinestream.source.timestamp': m.timestamp,
        },
      },
    });
  }

  // ---- flushing ------------------------------------------------------------------------------------------

  /** Runs `fn` after the flushes and ownership changes queued before it. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.flushing.then(fn);
    this.flushing = run.then(() => undefined, () => undefined);
    return run;
  }

  private scheduleFlush(): void {
    if (this.paused || this.stopped) return;
    void this.flushNow().catch(() => undefined);
  }

  /** One flush now (after the one in progress), retried with backoff until it is delivered. */
  flushNow(): Promise<void> {
    return this.serial(() => this.flushWithRetry());
  }

  private async flushWithRetry(): Promise<void> {
    let backoff = 100;
    for (;;) {
      const started = Date.now();
      try {
        const r = this.eos ? await this.flusher.flushExactlyOnce((p) => this.producerFor(p)) : await this.flusher.flushAtLeastOnce(this.producer!);
        this.flushes++;
        this.metrics.flushes.inc({ outcome: 'ok' });
        this.metrics.batchRecords.observe(r.klines);
        if (r.klines + r.states > 0) this.metrics.publishSeconds.observe((Date.now() - started) / 1000);
        if (r.committed > 0) {
          this.lastCommitAt = Date.now();
          this.metrics.commits.inc({ outcome: 'ok' }, r.committed);
        }
        for (const p of r.failedPartitions) await this.rewind(p);
        if (this.paused) this.resumeFetching();
        if (this.options.untilCaughtUp) void this.checkCaughtUp();
        return;
      } catch (e) {
        this.metrics.flushes.inc({ outcome: 'failed' });
        if (this.stopped) throw e;
        if (!this.paused) this.pauseFetching();
        this.log.warn('flush failed: fetching paused, retrying (nothing is committed past unpublished klines)', { retryInMs: backoff, error: e });
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }

  private pauseFetching(): void {
    this.paused = true;
    this.consumer.pause([{ topic: this.topics.trades }]);
  }

  private resumeFetching(): void {
    this.paused = false;
    this.consumer.resume([{ topic: this.topics.trades }]);
    this.log.info('flush delivered again: fetching resumed');
  }

  /** Exactly-once: partition p's transaction failed. Back to its last committed transaction. */
  private async rewind(p: number): Promise<void> {
    this.metrics.rewinds.inc();
    const producer = this.eosProducers.get(p);
    this.eosProducers.delete(p);
    await producer?.disconnect().catch(() => undefined);
    this.agg.dropGroup(p);
    this.ready.delete(p);
    for (let i = this.pendingDlq.length - 1; i >= 0; i--) if (this.pendingDlq[i]!.partition === p) this.pendingDlq.splice(i, 1);
    const offsets = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [this.topics.trades] });
    const committed = offsets[0]?.partitions.find((x) => x.partition === p)?.offset;
    const offset = committed === undefined || Number(committed) < 0 ? '0' : committed;
    this.applied.delete(p);
    this.consumer.seek({ topic: this.topics.trades, partition: p, offset });
    this.log.warn('partition rewound to its last committed transaction', { partition: p, offset });
  }

  private checking = false;

  /** --until-caught-up: the group has no lag and nothing is pending: stop. */
  private async checkCaughtUp(): Promise<void> {
    if (this.checking || this.stopped) return;
    this.checking = true;
    try {
      const [ends, group] = await Promise.all([
        this.admin.fetchTopicOffsets(this.topics.trades),
        this.admin.fetchOffsets({ groupId: this.groupId, topics: [this.topics.trades] }),
      ]);
      const committed = new Map((group[0]?.partitions ?? []).map((x) => [x.partition, Number(x.offset)]));
      let lag = 0;
      for (const e of ends) {
        const end = Number(e.high);
        const c = committed.get(e.partition) ?? -1;
        lag += c < 0 ? end - Number(e.low) : Math.max(0, end - c);
      }
      this.options.onProgress?.({ tradesApplied: this.agg.counters.tradesApplied, lag, partitions: this.owned.size, finals: this.agg.counters.finalKlinesOut });
      if (lag === 0 && !this.agg.hasPending && this.pendingDlq.length === 0) {
        this.log.info('caught up: the group has no lag', { tradesApplied: this.agg.counters.tradesApplied });
        this.stop();
      }
    } catch (e) {
      this.log.warn('lag check failed', { error: e });
    } finally {
      this.checking = false;
    }
  }

  // ---- stop ----------------------------------------------------------------------------------------------

  private fail(e: unknown): void {
    if (this.failure === undefined) this.failure = e;
    this.stop?.();
  }

  private async shutdown(): Promise<void> {
    if (this.flushTimer !== undefined) clearInterval(this.flushTimer);
    // Last flush and commit before leaving the group, unless the process is failing anyway.
    if (this.failure === undefined && this.consumer !== undefined) {
      try {
        await this.consumer.pause([{ topic: this.topics.trades }]);
        const t0 = Date.now();
        await Promise.race([this.flushNow(), new Promise((r) => setTimeout(r, 15_000))]);
        this.log.debug('shutdown: final flush', { ms: Date.now() - t0 });
      } catch (e) {
        this.log.warn('final flush failed; the next owner reprocesses from the last commit', { error: e });
      }
    }
    this.stopped = true;
    // Each client gets a bounded time to close: a stop must end even when a client is stuck (kafkajs waits
    // for a batch in progress before it leaves the group). Whatever overran is logged by name.
    await this.closeWithin('consumer', this.consumer?.disconnect());
    await this.closeWithin('symbols reader', this.symbols?.stop());
    await this.closeWithin('producer', this.producer?.disconnect());
    for (const [p, producer] of this.eosProducers) await this.closeWithin(`transactional producer of partition ${p}`, producer.disconnect());
    await this.closeWithin('admin', this.admin?.disconnect());
  }

  private async closeWithin(what: string, closing: Promise<unknown> | undefined, ms = 20_000): Promise<void> {
    if (closing === undefined) return;
    const t0 = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const overran = await Promise.race([
      closing.then(() => false, () => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms))),
    ]);
    clearTimeout(timer);
    if (overran) this.log.warn(`shutdown: the ${what} did not close within ${ms} ms; going on without it`, { ms });
    else this.log.debug(`shutdown: ${what} closed`, { ms: Date.now() - t0 });
  }
}
