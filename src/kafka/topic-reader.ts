/**
 * Reads a topic (or some of its partitions) from the beginning to its end, and optionally keeps following it:
 * how the producer loads `symbols` and `producer-state`, and how workers load `symbols` and restore from
 * `kline-state`. kafkajs has no group-less consumer, so this is a consumer in an ephemeral group of its own
 * (no offsets are ever committed, and the group is deleted when the reader stops).
 *
 * "The end" is the partition's high watermark when start() / catchUp() is called. The reader reads
 * read_committed: records of open transactions are not delivered, and the position still passes the
 * transaction markers (kafkajs reports batches made only of control records through END_BATCH_PROCESS,
 * which is what advances the position here). A writer that left a transaction open holds catchUp() until
 * the transaction ends: callers that own the transactional id initialise their producer first, which
 * aborts it.
 */
import { randomBytes } from 'node:crypto';
import type { Admin, Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { KlinestreamError } from '../errors';
import type { Logger } from '../observability/log';

export interface TopicReaderOptions {
  kafka: Kafka;
  admin: Admin;
  topic: string;
  /** Prefix of the ephemeral group id (the app's topic prefix keeps apps apart). */
  groupPrefix: string;
  log: Logger;
  /** Partitions to deliver and to wait for; others are read past silently. Default: all. */
  partitions?: readonly number[];
  onBatch(partition: number, messages: KafkaMessage[]): void | Promise<void>;
  /** How long start() / catchUp() may take before they fail. Default 60 s. */
  timeoutMs?: number;
}

interface Waiter {
  targets: Map<number, number>;
  resolve: () => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class TopicReader {
  private readonly consumer: Consumer;
  private readonly groupId: string;
  private readonly positions = new Map<number, number>();
  private readonly waiters = new Set<Waiter>();
  private wanted: Set<number> | undefined;
  private running = false;
  private failed: Error | undefined;
  records = 0;

  constructor(private readonly options: TopicReaderOptions) {
    this.groupId = `${options.groupPrefix}klinestream-reader-${randomBytes(6).toString('hex')}`;
    this.wanted = options.partitions === undefined ? undefined : new Set(options.partitions);
    this.consumer = options.kafka.consumer({
      groupId: this.groupId,
      // A reader is alone in its group: nobody to wait for when it joins.
      rebalanceTimeout: 30_000,
      sessionTimeout: 30_000,
      maxWaitTimeInMs: 100,
      allowAutoTopicCreation: false,
    });
    this.consumer.on(this.consumer.events.END_BATCH_PROCESS, (e) => {
      if (e.payload.topic === options.topic) this.advance(e.payload.partition, Number(e.payload.lastOffset) + 1);
    });
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      if (!e.payload.restart) this.fail(new KlinestreamError('KAFKA_UNAVAILABLE', `reading ${options.topic} failed: ${e.payload.error.message}`, { topic: options.topic }, { cause: e.payload.error }));
    });
  }

  /** Starts reading from the beginning; resolves once every wanted partition reached its end. */
  async start(): Promise<void> {
    const { topic, onBatch } = this.options;
    await this.consumer.connect();
    await this.consumer.subscribe({ topic, fromBeginning: true });
    this.running = true;
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch }) => {
        if (this.wanted === undefined || this.wanted.has(batch.partition)) {
          this.records += batch.messages.length;
          await onBatch(batch.partition, batch.messages);
        }
        if (batch.messages.length > 0) this.advance(batch.partition, Number(batch.lastOffset()) + 1);
      },
    });
    await this.catchUp();
  }

  /** Waits until every wanted partition has been read up to the end offsets as they are now. */
  async catchUp(): Promise<void> {
    if (this.failed) throw this.failed;
    const { admin, topic } = this.options;
    const offsets = await admin.fetchTopicOffsets(topic);
    const targets = new Map<number, number>();
    for (const o of offsets) {
      if (this.wanted !== undefined && !this.wanted.has(o.partition)) continue;
      const end = Number(o.high);
      if (end > Number(o.low) && (this.positions.get(o.partition) ?? 0) < end) targets.set(o.partition, end);
    }
    if (targets.size === 0) return;
    const timeoutMs = this.options.timeoutMs ?? 60_000;
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        targets, resolve, reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          const behind = [...targets].map(([p, end]) => `${p}: at ${this.positions.get(p) ?? 0} of ${end}`).join(', ');
          reject(new KlinestreamError('KAFKA_UNAVAILABLE', `reading ${topic} did not reach its end within ${timeoutMs} ms (${behind}); an open transaction of another writer holds it back, or the broker is slow`, { topic }));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
      this.check(waiter);
    });
  }

  /** Only these partitions are delivered from now on (and waited for). */
  setPartitions(partitions: readonly number[] | undefined): void {
    this.wanted = partitions === undefined ? undefined : new Set(partitions);
  }

  position(partition: number): number {
    return this.positions.get(partition) ?? 0;
  }

  async stop(): Promise<void> {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new KlinestreamError('KAFKA_UNAVAILABLE', `reading ${this.options.topic} was stopped`));
    }
    this.waiters.clear();
    if (!this.running) {
      await this.consumer.disconnect().catch(() => undefined);
      return;
    }
    this.running = false;
    await this.consumer.disconnect().catch(() => undefined);
    // Best effort: an empty group without offsets would expire by itself, this just keeps the broker tidy.
    await this.options.admin.deleteGroups([this.groupId]).catch(() => undefined);
  }

  private advance(partition: number, next: number): void {
    if (next <= (this.positions.get(partition) ?? 0)) return;
    this.positions.set(partition, next);
    for (const w of this.waiters) this.check(w);
  }

  private check(w: Waiter): void {
    for (const [p, end] of w.targets) if ((this.positions.get(p) ?? 0) < end) return;
    clearTimeout(w.timer);
    this.waiters.delete(w);
    w.resolve();
  }

  private fail(e: Error): void {
    this.failed = e;
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.reject(e);
    }
    this.waiters.clear();
  }
}
