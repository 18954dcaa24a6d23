/**
 * The flush: how changed klines leave the aggregator and how offsets get committed (docs/kafka-design.md,
 * "Consume, flush, commit"). Every step below happens in this order; the guarantees of SPEC section 4 rest on
 * it, together with the ownership rules of ownership.ts.
 *
 *   1. Check out: aggregator.flush(batch) takes up to `maxKlines` records: the finals (oldest first), and the
 *      live klines of changed symbols once every final fit. Only klines of partitions whose group belongs to
 *      the current, READY ownership are kept (the rest belong to an ended ownership: its successor, or the
 *      partition's next owner, publishes them from its restored state). The round is *consistent* when every
 *      pending final fit; only a consistent round snapshots state, takes the DLQ records and notes offsets.
 *   2. Publish the Kline records and the DLQ records (acks=all), in requests under the byte budget
 *      (bounded-send.ts), each acknowledged before the next.
 *   3. Consistent round: drop the partitions whose ownership ended meanwhile; publish the state records to
 *      `kline-state` (the symbol's partition), stamped with placement epoch, partition and offset.
 *   4. Consistent round: for the partitions whose ownership is still current, commit the noted offsets (and
 *      verify that kafkajs did commit them).
 *   5. confirm(): the finals leave the queue. A round that was not consistent is followed by the next round
 *      at once (flushUntilConsistent), so a catch-up of any size goes out in bounded rounds.
 *   On a failure in 2 or 3: giveBack() (finals stay queued, symbols dirty again), the DLQ records go back to
 *   their ownership, and the error is thrown; the worker pauses fetching and retries with backoff. A failed
 *   commit (4) is only logged: the klines are delivered, the next flush commits a later offset.
 *
 * Exactly-once (`--guarantee exactly-once`): steps 2-4 happen in one Kafka transaction per ownership, opened
 * by its first round and left open across rounds that are not consistent; the consistent round adds the DLQ
 * records, the state records and the offset (sendOffsets) and commits. The transactional producer belongs to
 * the ownership (its id `<group>.<trades>.<partition>`: the next owner of the partition, in this process or
 * another, fences it). A partition whose transaction fails, or whose ownership ended before it committed, is
 * aborted; a failed one is rewound at once (ownership.ts rule 5), before the next round of the same flush:
 * restored from `kline-state` and re-read from its committed offset, which the aborted transaction left
 * untouched.
 */
import type { Message } from 'kafkajs';
import type { KlineAggregator } from '../aggregation/aggregator';
import { KlineBatch } from '../aggregation/kline-batch';
import type { KlineWireWriter } from '../codec/kline-wire';
import type { Logger } from '../observability/log';
import type { SymbolDirectory } from '../symbols/symbol-directory';
import { sendBounded, type TopicMessages } from './bounded-send';
import type { Faults } from './faults';
import type { Ownerships, PartitionOwnership } from './ownership';
import { encodeStateRecord } from './state-record';

export interface DlqRecord {
  partition: number;
  message: Message;
}

export interface FlushContext {
  agg: KlineAggregator;
  directory: SymbolDirectory;
  klineWire: KlineWireWriter;
  topics: { klines: string; klineState: string; tradesDlq: string; trades: string };
  groupId: string;
  log: Logger;
  faults: Faults;
  ownerships: Ownerships;
  /** Klines that open before this are not published (replay from a time: they would be partial). */
  publishFrom: number;
  /** Records of one round at most. */
  maxKlines: number;
  /** Bytes of one produce request at most (already lowered to the topics' limit). */
  requestBytes(): number;
  /** At-least-once: commits and resolves only once kafkajs reports the commit done. */
  commit(offsets: Array<{ partition: number; offset: number }>): Promise<void>;
  /**
   * Exactly-once: o's transaction failed; ends o at once (ownership.ts rule 5). Synchronous, so that the
   * rounds after this one in the same flush leave o's partition out: a later round that committed its
   * transaction would pass the offsets of the klines the aborted one held.
   */
  rewind(o: PartitionOwnership): void;
}

export interface FlushResult {
  klines: number;
  states: number;
  committed: number;
  requests: number;
  /** Every pending final was published (else another round follows). */
  consistent: boolean;
  /** Exactly-once: ownerships whose transaction failed (to be rewound). */
  failed: PartitionOwnership[];
}

interface Part {
  owner: PartitionOwnership;
  klines: Message[];
  states: Message[];
  dlq: DlqRecord[];
  offset: number;
}

interface Prepared {
  parts: Map<number, Part>;
  klines: number;
  states: number;
  consistent: boolean;
}

const NOTHING: FlushResult = { klines: 0, states: 0, committed: 0, requests: 0, consistent: true, failed: [] };

export class Flusher {
  readonly batch: KlineBatch;
  private chunk: Buffer;
  private readonly keys: Buffer[] = [];
  private readonly stateScratch: Float64Array;
  private readonly mark: Uint8Array;

  constructor(private readonly ctx: FlushContext) {
    this.batch = new KlineBatch(ctx.maxKlines);
    this.chunk = Buffer.allocUnsafeSlow(Math.max(1 << 20, ctx.maxKlines * 160));
    this.stateScratch = new Float64Array(ctx.agg.symbolStateLength);
    this.mark = new Uint8Array(ctx.agg.maxSymbols);
  }

  /** Step 1. Undefined when there is nothing at all to do. */
  private checkout(): Prepared | undefined {
    const { agg } = this.ctx;
    agg.flush(this.batch);
    const consistent = agg.checkedOutAllFinals;
    const prepared = this.prepare(consistent);
    let anything = prepared.klines + prepared.states > 0;
    for (const part of prepared.parts.values()) if (part.offset >= 0 || part.dlq.length > 0 || part.owner.txn !== undefined) anything = true;
    if (!anything) {
      agg.confirm();
      return undefined;
    }
    return prepared;
  }

  private prepare(consistent: boolean): Prepared {
    const { agg, directory, klineWire, publishFrom, ownerships } = this.ctx;
    const b = this.batch;
    const parts = new Map<number, Part>();
    const part = (p: number): Part | undefined => {
      let x = parts.get(p);
      if (x === undefined) {
        if (!ownerships.groupIsCurrent(p)) return undefined;
        parts.set(p, (x = { owner: ownerships.current(p)!, klines: [], states: [], dlq: [], offset: -1 }));
      }
      return x;
    };
    let klines = 0;
    let pos = 0;
    const touched: number[] = [];
    for (let i = 0; i < b.length; i++) {
      const s = b.symbolIndex[i]!;
      const target = part(agg.groupOf(s));
      if (target === undefined) continue;
      if (this.mark[s] === 0) {
        this.mark[s] = 1;
        touched.push(s);
      }
      if (b.openTime[i]! < publishFrom) continue;
      let end = klineWire.write(b, i, this.chunk, pos);
      if (end < 0) {
        // Bounded by maxKlines: grows at most a few times over a process's life.
        this.chunk = Buffer.allocUnsafeSlow(this.chunk.length * 2);
        pos = 0;
        end = klineWire.write(b, i, this.chunk, 0);
      }
      target.klines.push({ key: this.keyOf(s, directory.nameOf(s)!), value: this.chunk.subarray(pos, end) });
      pos = end;
      klines++;
    }
    let states = 0;
    if (consistent) {
      const pending = agg.pendingChangedSymbols();
      for (let k = 0; k < pending.length; k++) {
        const s = pending[k]!;
        if (this.mark[s] === 0) {
          this.mark[s] = 1;
          touched.push(s);
        }
      }
      const sig = agg.stateSignature;
      for (const s of touched) {
        const name = directory.nameOf(s);
        const target = part(agg.groupOf(s));
        if (name === undefined || target === undefined) continue;
        agg.snapshotSymbol(s, this.stateScratch, 0);
        const epoch = directory.entry(s)?.placementEpoch ?? 0;
        const p = target.owner.partition;
        target.states.push({ key: name, partition: p, value: encodeStateRecord(sig, s, epoch, p, Math.max(0, target.owner.applied), this.stateScratch, 0, this.stateScratch.length) });
        states++;
      }
      for (const o of ownerships.all()) {
        if (!o.ready || !ownerships.groupIsCurrent(o.partition)) continue;
        const hasOffset = o.applied >= 0 && o.applied > o.committed;
        if (!hasOffset && o.pendingDlq.length === 0 && o.txn === undefined) continue;
        const target = part(o.partition)!;
        if (hasOffset) target.offset = o.applied;
        target.dlq = o.pendingDlq.splice(0);
      }
    }
    for (const s of touched) this.mark[s] = 0;
    return { parts, klines, states, consistent };
  }

  /** Rounds until one is consistent: a catch-up of any size goes out in rounds of maxKlines. */
  async flushUntilConsistent(eos: boolean, midBatchOf = -1): Promise<FlushResult> {
    const total: FlushResult = { klines: 0, states: 0, committed: 0, requests: 0, consistent: false, failed: [] };
    for (;;) {
      const r = eos ? await this.flushExactlyOnce(midBatchOf) : await this.flushAtLeastOnce(midBatchOf);
      total.klines += r.klines;
      total.states += r.states;
      total.committed += r.committed;
      total.requests += r.requests;
      total.failed.push(...r.failed);
      if (r.consistent) {
        total.consistent = true;
        return total;
      }
    }
  }

  /** At-least-once: steps 1-5 with one idempotent producer. */
  async flushAtLeastOnce(midBatchOf = -1): Promise<FlushResult> {
    const { agg, topics, faults, log } = this.ctx;
    const prepared = this.checkout();
    if (prepared === undefined) return NOTHING;
    const parts = [...prepared.parts.values()];
    const budget = this.ctx.requestBytes();
    let requests = 0;
    let states = 0;
    try {
      // 2.
      faults.at('publish');
      if (midBatchOf >= 0) faults.at('publish-mid-batch');
      const first: TopicMessages[] = [];
      for (const x of parts) if (x.klines.length > 0) first.push({ topic: topics.klines, messages: x.klines });
      const dlq = parts.flatMap((x) => x.dlq.map((d) => d.message));
      if (dlq.length > 0) first.push({ topic: topics.tradesDlq, messages: dlq });
      requests += await sendBounded((tm) => this.send(tm), first, budget);
      faults.at('die-after-klines');
      // 3. (ownership.ts rule 1: an ownership that ended meanwhile writes no state and commits nothing)
      faults.at('state');
      const stateMessages: TopicMessages[] = [];
      for (const x of parts) {
        if (x.owner.current && x.states.length > 0) {
          stateMessages.push({ topic: topics.klineState, messages: x.states });
          states += x.states.length;
        }
      }
      requests += await sendBounded((tm) => this.send(tm), stateMessages, budget);
      faults.at('die-after-state');
    } catch (e) {
      agg.giveBack();
      // The DLQ records go out with the next attempt, still before the commit that passes them.
      for (const x of parts) if (x.owner.current) x.owner.pendingDlq.unshift(...x.dlq);
      throw e;
    }
    // 4.
    let committed = 0;
    const offsets = parts.filter((x) => x.offset >= 0 && x.owner.current).map((x) => ({ partition: x.owner.partition, offset: x.offset }));
    if (offsets.length > 0) {
      try {
        faults.at('commit');
        await this.ctx.commit(offsets);
        for (const x of parts) if (x.offset >= 0 && x.owner.current) x.owner.committed = Math.max(x.owner.committed, x.offset);
        committed = offsets.length;
      } catch (e) {
        log.warn('offset commit failed; the next flush commits a later offset (the klines were delivered)', { error: e, offsets });
      }
    }
    // 5.
    agg.confirm();
    return { klines: prepared.klines, states, committed, requests, consistent: prepared.consistent, failed: [] };
  }

  /** Exactly-once: one transaction per ownership, open across rounds until a consistent one commits it. */
  async flushExactlyOnce(midBatchOf = -1): Promise<FlushResult> {
    const { agg, topics, groupId, faults, log } = this.ctx;
    const prepared = this.checkout();
    if (prepared === undefined) return NOTHING;
    const budget = this.ctx.requestBytes();
    const failed: PartitionOwnership[] = [];
    let committed = 0;
    let requests = 0;
    let states = 0;
    await Promise.all([...prepared.parts.values()].map(async (x) => {
      const o = x.owner;
      try {
        if (o.producer === undefined) throw new Error(`partition ${o.partition} has no transactional producer`);
        if (o.txn === undefined) o.txn = await o.producer.transaction();
        const txn = o.txn;
        if (!o.current) return;
        faults.at('publish');
        if (o.partition === midBatchOf) faults.at('publish-mid-batch');
        const groups: TopicMessages[] = [];
        if (x.klines.length > 0) groups.push({ topic: topics.klines, messages: x.klines });
        if (prepared.consistent) {
          if (x.dlq.length > 0) groups.push({ topic: topics.tradesDlq, messages: x.dlq.map((d) => d.message) });
          if (x.states.length > 0) groups.push({ topic: topics.klineState, messages: x.states });
        }
        requests += await sendBounded(async (tm) => {
          if (!o.current) throw new StaleOwnership(o);
          await txn.sendBatch({ topicMessages: tm, acks: -1 });
        }, groups, budget);
        faults.at('die-after-klines');
        if (!prepared.consistent) return;
        if (x.offset >= 0) {
          faults.at('commit');
          await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: topics.trades, partitions: [{ partition: o.partition, offset: String(x.offset) }] }] });
        }
        if (!o.current) throw new StaleOwnership(o);
        o.txn = undefined;
        await txn.commit();
        faults.at('die-after-state');
        states += x.states.length;
        if (x.offset >= 0) {
          o.committed = Math.max(o.committed, x.offset);
          committed++;
        }
      } catch (e) {
        const txn = o.txn;
        o.txn = undefined;
        if (!(e instanceof StaleOwnership)) {
          log.warn('transaction failed; the partition is rewound to its last transaction', { partition: o.partition, error: e });
          failed.push(o);
          this.ctx.rewind(o);
        }
        await txn?.abort().catch(() => undefined);
        if (e instanceof StaleOwnership) log.info('transaction aborted: the partition changed hands during the flush', { partition: o.partition });
      }
    }));
    agg.confirm();
    return { klines: prepared.klines, states, committed, requests, consistent: prepared.consistent, failed };
  }

  private send: (tm: TopicMessages[]) => Promise<unknown> = () => Promise.reject(new Error('no producer'));

  /** At-least-once: the idempotent producer all rounds use. */
  useProducer(send: (tm: TopicMessages[]) => Promise<unknown>): void {
    this.send = send;
  }

  private keyOf(symbol: number, name: string): Buffer {
    let k = this.keys[symbol];
    if (k === undefined) k = this.keys[symbol] = Buffer.from(name, 'utf8');
    return k;
  }
}

class StaleOwnership extends Error {
  constructor(o: PartitionOwnership) {
    super(`ownership ${o.epoch} of partition ${o.partition} ended`);
  }
}
