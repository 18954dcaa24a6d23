/**
 * One member of the worker group: the wiring of consumption (consume.ts), ownership (ownership.ts),
 * restore (restore.ts) and the flush (flush.ts), the flush schedule and its retries, and
 * `--until-caught-up`. The data path, top to bottom: kafkajs fetches a batch -> BatchConsumer applies it to
 * the aggregator under the partition's ownership -> the flush timer (or a full queue) runs the Flusher ->
 * klines and state are delivered -> the offsets are committed -> the ownership's `committed` moves.
 *
 * One aggregator per process (a new instance costs V8 its optimised code); each owned partition is a symbol
 * group in it, so a partition's watermark closes only its own symbols.
 *
 * Group membership: kafkajs (eager protocol) reports each completed join with the member's whole
 * assignment. A partition that is gone is revoked at once (its ownership ends); a partition that is new, or
 * that this member kept but under a new member id (it was out of the group meanwhile, so another member may
 * have owned it), gets a new ownership and is restored right away, before its first batch.
 */
import { Partitioners, type Admin, type Consumer, type Kafka, type Producer } from 'kafkajs';
import type { Registry } from 'prom-client';
import { KlineAggregator } from '../aggregation/aggregator';
import { KlineWireWriter } from '../codec/kline-wire';
import { SchemaCatalogue } from '../codec/schema-catalogue';
import { registerValueCodec, valueDecoder } from '../codec/topic-codecs';
import type { Config } from '../config/config';
import { topicNames } from '../config/config';
import { KlinestreamError } from '../errors';
import { kafkaClient, registryClient } from '../kafka/client';
import { ensureTopics } from '../kafka/topics';
import type { Logger } from '../observability/log';
import { RateLimitedLog } from '../observability/rate-limited-log';
import type { Connection } from '../config/connection';
import { SymbolDirectory } from '../symbols/symbol-directory';
import { SymbolsFollower } from '../symbols/symbols-topic';
import { effectiveBudget } from './bounded-send';
import { BatchConsumer } from './consume';
import { Faults } from './faults';
import { Flusher } from './flush';
import { Ownerships, type PartitionOwnership } from './ownership';
import { Restorer } from './restore';
import { TradeDecoder } from './trade-decoder';
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
  /** Called at each lag check (until-caught-up) with the counts. */
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
  /** until-caught-up: whether it stopped because it caught up (false: stopped by a signal first). */
  caughtUp?: boolean;
  /** until-caught-up: the group's lag at the last check. */
  lag?: number;
}

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
  private readonly agg: KlineAggregator;
  private decoder!: TradeDecoder;
  private readonly directory = new SymbolDirectory();
  private symbols!: SymbolsFollower;
  private flusher!: Flusher;
  private readonly ownerships = new Ownerships();
  private readonly restorer: Restorer;
  private readonly batches: BatchConsumer;
  private readonly metrics: WorkerMetrics;
  private readonly faults: Faults;
  private readonly eos: boolean;
  private memberId: string | undefined;
  private consumerRestarts = 0;
  /** Bytes of one produce request (configured, lowered to the output topics' max.message.bytes). */
  private budget: number;
  private flushing: Promise<void> = Promise.resolve();
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private lastCommitAt = Date.now();
  private commitsSeen = 0;
  private paused = false;
  private stopped = false;
  private caughtUp = false;
  private lastLag: number | undefined;
  private failure: unknown;
  private readonly started = Date.now();
  private flushes = 0;
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
    this.budget = this.config.flush.requestBytes;
    this.kafka = kafkaClient(this.config, options.connection, this.log, { clientId: 'klinestream-worker' });
    this.agg = new KlineAggregator({ intervals: this.config.intervals, graceMs: this.config.graceMs, finalQueueCapacity: this.config.flush.queueEntries });
    const warnings = new RateLimitedLog(this.log);
    this.metrics = new WorkerMetrics(options.registry, {
      counters: () => this.agg.counters,
      slotsInUse: () => this.agg.activeSymbolCount * this.agg.intervalsPerSymbol,
      lagByPartition: () => new Map([...this.ownerships.all()].map((o) => [o.partition, o.lag])),
      secondsSinceCommit: () => (Date.now() - this.lastCommitAt) / 1000,
      assigned: () => this.ownerships.size,
    });
    this.restorer = new Restorer({
      kafka: this.kafka, admin: () => this.admin, consumer: () => this.consumer, agg: this.agg, directory: this.directory,
      symbols: () => this.symbols, ownerships: this.ownerships, log: this.log, metrics: this.metrics, topics: this.topics, groupId: this.groupId,
      topicPrefix: this.config.topicPrefix, eos: this.eos, transactionTimeoutMs: this.config.flush.transactionTimeoutMs, serial: (fn) => this.serial(fn),
    });
    this.batches = new BatchConsumer({
      agg: this.agg, directory: this.directory, symbols: () => this.symbols, decoder: () => this.decoder, ownerships: this.ownerships,
      restorer: this.restorer, metrics: this.metrics, log: this.log, warnings, tradesTopic: this.topics.trades, graceMs: this.config.graceMs,
      recordTimeAheadMs: this.config.recordTimeAheadMs, unknownSymbolWaitMs: this.config.unknownSymbolWaitMs, dlqBudget: () => this.budget, flushNow: (p) => this.flushNow(p), stopped: () => this.stopped,
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
        // A failure or a signal that came while starting is not lost.
        if (this.options.signal.aborted || this.failure !== undefined) this.stop();
        this.options.signal.addEventListener('abort', () => this.stop(), { once: true });
      });
    } finally {
      await this.shutdown();
    }
    const c = this.agg.counters;
    return {
      tradesApplied: c.tradesApplied, duplicates: c.duplicates, lateTrades: c.lateTrades, dlq: this.batches.dlqCount, finalKlines: c.finalKlinesOut,
      liveKlines: c.liveKlinesOut, flushes: this.flushes, restoredSymbols: this.restorer.restoredSymbols, elapsedMs: Date.now() - this.started,
      ...(this.options.untilCaughtUp ? { caughtUp: this.caughtUp, lag: this.lastLag } : {}),
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
    this.budget = await effectiveBudget(this.admin, [this.topics.klines, this.topics.klineState, this.topics.tradesDlq], config.flush.requestBytes, log);
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
      ownerships: this.ownerships, publishFrom: this.options.publishFrom ?? -Infinity, maxKlines: config.flush.maxKlines,
      requestBytes: () => this.budget, commit: (offsets) => this.commit(offsets), rewind: (o) => this.rewind(o),
    });
    if (!this.eos) {
      const producer = this.kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
      this.producer = producer;
      await producer.connect();
      this.flusher.useProducer((topicMessages) => producer.sendBatch({ topicMessages, acks: -1 }));
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
    consumer.on(consumer.events.GROUP_JOIN, (e) => this.onAssignment(e.payload.memberId, e.payload.memberAssignment[this.topics.trades] ?? []));
    consumer.on(consumer.events.REBALANCING, () => {
      // Flush and commit before giving partitions up, as far as kafkajs lets us (there is no revoke hook).
      this.scheduleFlush();
    });
    consumer.on(consumer.events.COMMIT_OFFSETS, () => {
      this.commitsSeen++;
    });
    consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
      if (e.payload.topic !== this.topics.trades) return;
      const o = this.ownerships.current(e.payload.partition);
      if (o === undefined || !o.ready) return;
      // Also moves past batches made only of transaction markers (they never reach eachBatch).
      const next = Number(e.payload.lastOffset) + 1;
      if (e.payload.batchSize === 0 && next > o.applied && o.applied >= 0) o.applied = next;
      o.lag = Math.max(0, Number(e.payload.offsetLag));
    });
    consumer.on(consumer.events.CRASH, (e) => this.onConsumerCrash(e.payload.error, e.payload.restart));
    await consumer.connect();
    await consumer.subscribe({ topic: this.topics.trades, fromBeginning: this.options.fromBeginning ?? true });
    await consumer.run(this.runOptions);
    // A crash during the first join (the broker went away) fails the start here, not silently later.
    if (this.failure !== undefined) throw this.failure;
    this.flushTimer = setInterval(() => this.scheduleFlush(), config.flushIntervalMs);
    log.info('worker running', {
      group: this.groupId, guarantee: config.guarantee, intervals: config.intervals.length, graceMs: config.graceMs, requestBytes: this.budget,
      maxKlines: config.flush.maxKlines, topics: this.topics, symbols: this.directory.size, faults: this.faults.active || undefined,
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

  private readonly runOptions: Parameters<Consumer['run']>[0] = {
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: (payload) => this.batches.onBatch(payload),
  };

  // ---- consumer crashes ----------------------------------------------------------------------------------

  /**
   * kafkajs has left the group when it reports a crash (it disconnects first): from that instant this
   * worker owns no partition, so every ownership ends now (a flush already running cannot commit for them).
   * kafkajs restarts by itself after errors it calls retriable. It gives up on a few that only mean a broker
   * is away for a while (no group coordinator during a broker restart): the worker restarts the consumer
   * itself for those, with backoff, instead of exiting. Anything else fails the worker.
   */
  private onConsumerCrash(error: Error, kafkajsRestarts: boolean): void {
    const revoked = this.ownerships.partitions();
    for (const p of revoked) this.ownerships.revoke(p);
    this.memberId = undefined;
    if (this.stopped) return;
    if (kafkajsRestarts) {
      this.log.warn('consumer restarting after an error (its partitions are given up until it rejoins)', { revoked, error });
      return;
    }
    if (!brokerAway(error)) {
      this.fail(new KlinestreamError('WORKER_FAILED', `the consumer stopped: ${error.message}`, {}, { cause: error }));
      return;
    }
    this.consumerRestarts++;
    const retryInMs = Math.min(1000 * 2 ** Math.min(this.consumerRestarts - 1, 5), 30_000);
    this.metrics.consumerRestarts.inc();
    this.log.warn('consumer stopped because a broker is away; restarting it', { revoked, retryInMs, restarts: this.consumerRestarts, error: error.message });
    this.later(retryInMs, () => void this.restartConsumer());
  }

  private async restartConsumer(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.consumer.connect();
      if (this.stopped) return;
      // run() returns once the join is under way; a join that fails again reports another crash.
      await this.consumer.run(this.runOptions);
      this.consumerRestarts = 0;
    } catch (e) {
      this.onConsumerCrash(e instanceof Error ? e : new Error(String(e)), false);
    }
  }

  // ---- ownership -----------------------------------------------------------------------------------------

  private onAssignment(memberId: string, partitions: number[]): void {
    const { ownerships } = this;
    const rejoined = this.memberId !== undefined && memberId !== this.memberId;
    this.memberId = memberId;
    const next = new Set(partitions);
    const revoked: number[] = [];
    const added: number[] = [];
    for (const p of ownerships.partitions()) {
      if (!next.has(p)) {
        ownerships.revoke(p);
        revoked.push(p);
      }
    }
    for (const p of partitions) {
      // Kept under a new member id: another member may have owned p in between. Start over.
      if (ownerships.current(p) !== undefined && !rejoined) continue;
      this.restoreSoon(ownerships.assign(p));
      added.push(p);
    }
    this.log.info('partitions assigned', { partitions: ownerships.partitions(), added, revoked, rejoined: rejoined || undefined });
  }

  /**
   * Restores `o` now, not at its first batch: a partition rewound at its end would otherwise never re-read
   * what its aborted transaction held. A failed restore is tried again a second later while `o` is current.
   */
  private restoreSoon(o: PartitionOwnership): void {
    this.restorer.ensure(o).catch((e: unknown) => {
      if (!o.current || this.stopped) return;
      this.log.warn('restore failed; trying again', { partition: o.partition, epoch: o.epoch, error: e });
      this.later(1000, () => {
        if (o.current && !o.ready && !this.stopped) this.restoreSoon(o);
      });
    });
  }

  /** Exactly-once: o's transaction failed. Back to its last committed transaction (ownership.ts rule 5). */
  private rewind(o: PartitionOwnership): void {
    const next = this.ownerships.rewind(o);
    if (next === undefined) return;
    this.metrics.rewinds.inc();
    this.log.warn('partition rewound to its last committed transaction', { partition: o.partition, epoch: next.epoch, committed: o.committed });
    this.restoreSoon(next);
  }

  /**
   * Clean-up of ended ownerships (ownership.ts rule 3), in the serial chain before a flush checks out:
   * their symbol groups leave the aggregator, their transactional producers close.
   */
  private async cleanUp(): Promise<void> {
    for (const p of this.ownerships.staleGroups()) {
      const symbols = this.agg.dropGroup(p);
      this.ownerships.groupDropped(p);
      this.log.info('partition state dropped (its ownership ended)', { partition: p, symbols });
    }
    for (const o of this.ownerships.ended.splice(0)) {
      const { txn, producer } = o;
      o.txn = undefined;
      o.producer = undefined;
      o.pendingDlq.length = 0;
      if (txn !== undefined) await txn.abort().catch(() => undefined);
      if (producer !== undefined) await producer.disconnect().catch(() => undefined);
    }
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

  /**
   * One flush now (after the one in progress), retried with backoff until it is delivered; `midBatchOf` is
   * the partition whose batch waits for it (fault injection can fail that partition's publish).
   */
  flushNow(midBatchOf = -1): Promise<void> {
    return this.serial(() => this.flushWithRetry(midBatchOf));
  }

  private async flushWithRetry(midBatchOf: number): Promise<void> {
    let backoff = 100;
    for (;;) {
      const started = Date.now();
      try {
        await this.cleanUp();
        const r = await this.flusher.flushUntilConsistent(this.eos, midBatchOf);
        this.flushes++;
        this.metrics.flushes.inc({ outcome: 'ok' });
        this.metrics.batchRecords.observe(r.klines);
        if (r.klines + r.states > 0) this.metrics.publishSeconds.observe((Date.now() - started) / 1000);
        if (r.committed > 0) {
          this.lastCommitAt = Date.now();
          this.metrics.commits.inc({ outcome: 'ok' }, r.committed);
        }
        if (this.paused) this.resumeFetching();
        if (this.options.untilCaughtUp) void this.checkCaughtUp();
        return;
      } catch (e) {
        this.metrics.flushes.inc({ outcome: 'failed' });
        if (this.stopped) throw e;
        if (!this.paused) this.pauseFetching();
        this.log.warn('flush failed: fetching paused, retrying (nothing is committed past unpublished klines)', { retryInMs: backoff, error: e });
        await new Promise<void>((r) => this.later(backoff, r));
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }

  /**
   * At-least-once commit. kafkajs' commitOffsets returns without committing when its runner is not running
   * (a consumer restarting after an error): only the COMMIT_OFFSETS event proves the broker took it.
   */
  private async commit(offsets: Array<{ partition: number; offset: number }>): Promise<void> {
    const seen = this.commitsSeen;
    await this.consumer.commitOffsets(offsets.map((o) => ({ topic: this.topics.trades, partition: o.partition, offset: String(o.offset) })));
    if (this.commitsSeen === seen) {
      throw new KlinestreamError('WORKER_FAILED', 'the consumer did not commit (it is not running: restarting or rejoining the group)', { offsets });
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

  /** A timer that shutdown clears (none may keep a finished process alive). */
  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private checking = false;

  /** --until-caught-up: the group has no lag, every owned partition is ready and nothing is pending: stop. */
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
      this.lastLag = lag;
      this.options.onProgress?.({ tradesApplied: this.agg.counters.tradesApplied, lag, partitions: this.ownerships.size, finals: this.agg.counters.finalKlinesOut });
      let settled = !this.agg.hasPending;
      for (const o of this.ownerships.all()) if (!o.ready || o.pendingDlq.length > 0 || o.txn !== undefined) settled = false;
      if (lag === 0 && settled && !this.stopped) {
        this.caughtUp = true;
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
        this.consumer.pause([{ topic: this.topics.trades }]);
        const t0 = Date.now();
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([this.flushNow(), new Promise((r) => (timer = setTimeout(r, 15_000)))]);
        clearTimeout(timer);
        this.log.debug('shutdown: final flush', { ms: Date.now() - t0 });
      } catch (e) {
        this.log.warn('final flush failed; the next owner reprocesses from the last commit', { error: e });
      }
    }
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    // Each client gets a bounded time to close: a stop must end even when a client is stuck (kafkajs waits
    // for a batch in progress before it leaves the group). Whatever overran is logged by name.
    await this.closeWithin('consumer', this.consumer?.disconnect());
    await this.closeWithin('symbols reader', this.symbols?.stop());
    await this.closeWithin('producer', this.producer?.disconnect());
    for (const o of [...this.ownerships.all(), ...this.ownerships.ended.splice(0)]) {
      if (o.producer !== undefined) await this.closeWithin(`transactional producer of partition ${o.partition}`, o.producer.disconnect());
    }
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

/**
 * Errors kafkajs does not restart after, though they only say a broker is not there for now (kafkajs
 * calls "no group coordinator" non-retriable; during a broker restart it is the first thing a member sees).
 */
export function brokerAway(error: Error): boolean {
  for (let e: unknown = error; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    if (e.name === 'KafkaJSGroupCoordinatorNotFound' || e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSBrokerNotFound') return true;
  }
  return false;
}
