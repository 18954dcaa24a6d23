/**
 * Restore: how a new ownership of a `trades` partition (ownership.ts) gets the state its predecessor left
 * in `kline-state` and becomes READY. The steps, each followed by a check that the ownership is still
 * current (ownership.ts rule 1); a restore that finds its ownership ended stops and changes nothing:
 *
 *   1. Exactly-once: create and initialise the ownership's transactional producer (id
 *      `<group>.<trades>.<partition>`). Initialising fences every earlier holder of the id, in this process
 *      or another, and aborts its open transaction, so what steps 3 and 4 read is final.
 *   2. Catch up on `symbols`: placements and epochs as they are now.
 *   3. Read the group's committed offset of the partition.
 *   4. Read the partition of `kline-state` (read_committed) and choose, per symbol, the newest record by its
 *      stamp (placement epoch, then input offset; log order only breaks ties), not the last in log order:
 *      a writer that lost the partition may have appended an older state after a newer one. A record counts
 *      only when its stamp matches the symbols topic (index, current placement epoch, this partition).
 *   5. Install, inside the worker's serial chain (no flush checked out): drop whatever group p held, claim
 *      the group for this ownership, restore the chosen symbols, seek to the committed offset (or, for a
 *      partition never committed, where this ownership chain started reading), and mark the ownership READY
 *      with applied = committed.
 *
 * A failure in any step leaves the ownership RESTORING; the partition's next batch tries again.
 */
import { Partitioners, type Admin, type Consumer, type Kafka, type Producer } from 'kafkajs';
import type { KlineAggregator } from '../aggregation/aggregator';
import type { Logger } from '../observability/log';
import type { SymbolDirectory } from '../symbols/symbol-directory';
import type { SymbolsFollower } from '../symbols/symbols-topic';
import { TopicReader } from '../kafka/topic-reader';
import { READY, type Ownerships, type PartitionOwnership } from './ownership';
import { decodeStateRecord, readStateStamp, type StateStamp } from './state-record';
import type { WorkerMetrics } from './worker-metrics';

export interface RestoreContext {
  kafka: Kafka;
  admin(): Admin;
  consumer(): Consumer;
  agg: KlineAggregator;
  directory: SymbolDirectory;
  symbols(): SymbolsFollower;
  ownerships: Ownerships;
  log: Logger;
  metrics: WorkerMetrics;
  topics: { trades: string; klineState: string };
  groupId: string;
  topicPrefix: string;
  eos: boolean;
  transactionTimeoutMs: number;
  /** Runs `fn` when no flush is checked out (the worker's serial chain). */
  serial<T>(fn: () => Promise<T>): Promise<T>;
}

/** Per key, the newest state record by its stamp (step 4). Pure: tested against log orders. */
export class StateChoice {
  private readonly best = new Map<string, { value: Buffer; stamp: StateStamp }>();
  unreadable = 0;

  offer(key: string, value: Buffer | null): void {
    if (value === null) {
      // A tombstone: the symbol left this partition (a hand-over) or its state was retired.
      this.best.delete(key);
      return;
    }
    const stamp = readStateStamp(value);
    if (stamp === undefined) {
      this.unreadable++;
      return;
    }
    const had = this.best.get(key);
    if (had !== undefined && newer(had.stamp, stamp)) return;
    // Record bytes may live in a fetch buffer kafkajs reuses: keep a copy of the chosen ones only.
    this.best.set(key, { value: Buffer.from(value), stamp });
  }

  entries(): IterableIterator<[string, { value: Buffer; stamp: StateStamp }]> {
    return this.best.entries();
  }

  get size(): number {
    return this.best.size;
  }
}

/** True when `a` is strictly newer than `b`. */
function newer(a: StateStamp, b: StateStamp): boolean {
  if (a.placementEpoch !== b.placementEpoch) return a.placementEpoch > b.placementEpoch;
  return a.inputOffset > b.inputOffset;
}

export class Restorer {
  restoredSymbols = 0;

  constructor(private readonly ctx: RestoreContext) {}

  /** One restore per ownership at a time; resolves when `o` is READY or no longer current. */
  ensure(o: PartitionOwnership): Promise<void> {
    if (o.ready || !o.current) return Promise.resolve();
    if (o.restoring === undefined) {
      o.restoring = this.restore(o).finally(() => {
        o.restoring = undefined;
      });
    }
    return o.restoring;
  }

  private async restore(o: PartitionOwnership): Promise<void> {
    const { ctx } = this;
    const p = o.partition;
    const started = Date.now();
    // 1.
    if (ctx.eos && o.producer === undefined) {
      const producer = await this.transactionalProducer(p);
      if (!o.current) {
        await producer.disconnect().catch(() => undefined);
        return;
      }
      o.producer = producer;
    }
    // 2.
    await ctx.symbols().catchUp();
    if (!o.current) return;
    // 3.
    const offsets = await ctx.admin().fetchOffsets({ groupId: ctx.groupId, topics: [ctx.topics.trades] });
    if (!o.current) return;
    const raw = offsets[0]?.partitions.find((x) => x.partition === p)?.offset;
    const committed = raw === undefined ? -1 : Number(raw);
    // 4.
    const choice = new StateChoice();
    const reader = new TopicReader({
      kafka: ctx.kafka, admin: ctx.admin(), topic: ctx.topics.klineState, groupPrefix: ctx.topicPrefix, log: ctx.log, partitions: [p],
      onBatch: (_partition, messages) => {
        for (const m of messages) choice.offer(m.key?.toString('utf8') ?? '', m.value);
      },
    });
    try {
      await reader.start();
    } finally {
      await reader.stop();
    }
    if (!o.current) return;
    // 5.
    await ctx.serial(async () => {
      if (!o.current) return;
      this.install(o, choice, committed, reader.records, started);
    });
  }

  private install(o: PartitionOwnership, choice: StateChoice, committed: number, records: number, started: number): void {
    const { agg, directory, ownerships, log, metrics, eos } = this.ctx;
    const p = o.partition;
    agg.dropGroup(p);
    ownerships.groupDropped(p);
    ownerships.claimGroup(o);
    const sig = agg.stateSignature;
    let restored = 0;
    let skipped = choice.unreadable;
    for (const [key, { value, stamp }] of choice.entries()) {
      const index = directory.indexOf(key);
      const entry = index === undefined ? undefined : directory.entry(index);
      if (entry === undefined || stamp.symbolIndex !== index || stamp.inputPartition !== p || entry.partition !== p || stamp.placementEpoch !== entry.placementEpoch) {
        skipped++;
        log.warn('state record does not match the symbols topic (an older placement or another partition); skipped', {
          partition: p, symbol: key, index, stamp, placement: entry === undefined ? undefined : { partition: entry.partition, epoch: entry.placementEpoch },
        });
        continue;
      }
      try {
        const r = decodeStateRecord(value);
        if (r.signature !== sig) {
          skipped++;
          log.error('state of another interval set is not restored; this symbol restarts from its next trades (replay to rebuild it)', { partition: p, symbol: key, stateIntervals: r.signature, configured: sig });
          continue;
        }
        agg.setSymbolGroup(index!, p);
        agg.restoreSymbol(index!, r.state);
        // At-least-once: republish the live klines (a replay of the same versions is harmless); exactly-once
        // must not publish a version twice.
        if (!eos) agg.markDirty(index!);
        restored++;
      } catch (e) {
        skipped++;
        log.error('unreadable state record skipped', { partition: p, symbol: key, error: e });
      }
    }
    // Where to read from: the committed offset; a partition never committed re-reads from where this
    // ownership chain started (a rewind), or is left where the consumer's reset policy put it.
    const from = committed >= 0 ? committed : o.firstSeen;
    if (from >= 0) this.ctx.consumer().seek({ topic: this.ctx.topics.trades, partition: p, offset: String(from) });
    o.committed = committed;
    o.applied = committed;
    o.status = READY;
    const ms = Date.now() - started;
    this.restoredSymbols += restored;
    metrics.restoredSymbols.inc(restored);
    metrics.restoreSeconds.observe(ms / 1000);
    log.info('partition restored from kline-state', { partition: p, epoch: o.epoch, reason: o.reason, records, symbols: restored, skipped, committed, seek: from >= 0 ? from : undefined, ms });
  }

  private async transactionalProducer(p: number): Promise<Producer> {
    const { ctx } = this;
    const producer = ctx.kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      // The group is part of the id: a replay group and the live group never fence each other.
      transactionalId: `${ctx.groupId}.${ctx.topics.trades}.${p}`,
      idempotent: true, maxInFlightRequests: 1, transactionTimeout: ctx.transactionTimeoutMs, allowAutoTopicCreation: false,
      retry: { retries: 6, initialRetryTime: 30, maxRetryTime: 1000 },
    });
    try {
      await producer.connect();
      // The first transaction initialises the producer id (fencing the previous holder); nothing is sent.
      const txn = await producer.transaction();
      await txn.abort();
    } catch (e) {
      await producer.disconnect().catch(() => undefined);
      throw e;
    }
    return producer;
  }
}
