/**
 * The flush: how changed klines leave the aggregator and how offsets get committed (docs/kafka-design.md,
 * "Consume, flush, commit"). Every step below happens in this order; the guarantees of SPEC section 4 rest
 * on it.
 *
 *   1. Check out: aggregator.flush(batch) takes the finals (oldest first) and the live klines of changed
 *      symbols. The batch must hold every pending final; if it does not, give it back and flush again into
 *      a batch twice the size. In the same synchronous step: snapshot every changed symbol (those in the
 *      batch and those still pending), note each partition's next offset, take the pending DLQ records.
 *   2. Publish the Kline records and the DLQ records (acks=all).
 *   3. Publish the state records to `kline-state` (the symbol's partition), stamped with partition + offset.
 *   4. Commit the noted offsets.
 *   5. confirm(): the finals leave the queue.
 *   On a failure in 2 or 3: giveBack() (finals stay queued, symbols dirty again) and throw; the worker
 *   pauses fetching and retries with backoff. A failed commit (4) is only logged: the klines are delivered,
 *   the next flush commits a later offset.
 *
 * Exactly-once (`--guarantee exactly-once`): steps 2-4 become one Kafka transaction per input partition
 * (klines, state, DLQ and the partition's offset via sendOffsets), with the transactional id
 * `<prefix>klinestream-worker-<partition>`: a new owner of the partition fences the old one (no KIP-447 in
 * kafkajs, so the id is tied to the partition, not to the process). A partition whose transaction fails is
 * rewound: its symbols are dropped, and it is restored from `kline-state` and re-read from its committed
 * offset, which the aborted transaction left untouched.
 */
import type { Message, Producer } from 'kafkajs';
import type { KlineAggregator } from '../aggregation/aggregator';
import { KlineBatch } from '../aggregation/kline-batch';
import type { KlineWireWriter } from '../codec/kline-wire';
import type { Logger } from '../observability/log';
import type { SymbolDirectory } from '../symbols/symbol-directory';
import type { Faults } from './faults';
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
  /** Partitions owned now, and the next offset to consume of each (what a commit would say). */
  applied: Map<number, number>;
  committed: Map<number, number>;
  owned: ReadonlySet<number>;
  pendingDlq: DlqRecord[];
  /** Klines that open before this are not published (replay from a time: they would be partial). */
  publishFrom: number;
  commit(offsets: Array<{ partition: number; offset: number }>): Promise<void>;
}

export interface FlushResult {
  klines: number;
  states: number;
  committed: number;
  /** Exactly-once: partitions whose transaction failed (to be rewound). */
  failedPartitions: number[];
}

const MAX_BATCH = 1 << 21;

export class Flusher {
  batch = new KlineBatch(16_384);
  private chunk = Buffer.allocUnsafeSlow(4 << 20);
  private readonly keys: Buffer[] = [];
  private readonly stateScratch: Float64Array;
  private readonly mark: Uint8Array;

  constructor(private readonly ctx: FlushContext) {
    this.stateScratch = new Float64Array(ctx.agg.symbolStateLength);
    this.mark = new Uint8Array(ctx.agg.maxSymbols);
  }

  /** Step 1. Returns the prepared messages, or undefined when there is nothing at all to do. */
  private checkout(): Prepared | undefined {
    const { agg } = this.ctx;
    for (;;) {
      agg.flush(this.batch);
      if (agg.checkedOutAllFinals || this.batch.capacity >= MAX_BATCH) break;
      agg.giveBack();
      this.batch = new KlineBatch(Math.min(MAX_BATCH, this.batch.capacity * 2));
      this.ctx.log.info('flush batch grown to hold every pending final', { capacity: this.batch.capacity });
    }
    const consistent = agg.checkedOutAllFinals;
    const prepared = this.prepare(consistent);
    if (prepared.klines.length === 0 && prepared.states.length === 0 && prepared.offsets.length === 0 && prepared.dlq.length === 0) {
      agg.confirm();
      return undefined;
    }
    return prepared;
  }

  private prepare(consistent: boolean): Prepared {
    const { agg, directory, klineWire, topics, publishFrom } = this.ctx;
    const b = this.batch;
    const byPartition = new Map<number, PartitionPart>();
    const part = (p: number): PartitionPart => {
      let x = byPartition.get(p);
      if (x === undefined) byPartition.set(p, (x = { klines: [], states: [], dlq: [], offset: -1 }));
      return x;
    };
    const klines: Message[] = [];
    let pos = 0;
    const touched: number[] = [];
    for (let i = 0; i < b.length; i++) {
      const s = b.symbolIndex[i]!;
      if (this.mark[s] === 0) {
        this.mark[s] = 1;
        touched.push(s);
      }
      if (b.openTime[i]! < publishFrom) continue;
      const name = directory.nameOf(s)!;
      let end = klineWire.write(b, i, this.chunk, pos);
      if (end < 0) {
        this.chunk = Buffer.allocUnsafeSlow(this.chunk.length * 2);
        pos = 0;
        end = klineWire.write(b, i, this.chunk, 0);
      }
      const m: Message = { key: this.keyOf(s, name), value: this.chunk.subarray(pos, end) };
      pos = end;
      klines.push(m);
      part(agg.groupOf(s)).klines.push(m);
    }
    // A consistent snapshot only when every final is in the batch (else: klines now, state next time).
    const states: Message[] = [];
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
        const p = agg.groupOf(s);
        const name = directory.nameOf(s);
        if (p < 0 || name === undefined || !this.ctx.owned.has(p)) continue;
        agg.snapshotSymbol(s, this.stateScratch, 0);
        const epoch = directory.entry(s)?.placementEpoch ?? 0;
        const m: Message = { key: name, value: encodeStateRecord(sig, s, epoch, p, this.ctx.applied.get(p) ?? 0, this.stateScratch, 0, this.stateScratch.length), partition: p };
        states.push(m);
        part(p).states.push(m);
      }
    }
    for (const s of touched) this.mark[s] = 0;
    const offsets: Array<{ partition: number; offset: number }> = [];
    if (consistent) {
      for (const p of this.ctx.owned) {
        const next = this.ctx.applied.get(p);
        if (next !== undefined && next > (this.ctx.committed.get(p) ?? -1)) {
          offsets.push({ partition: p, offset: next });
          part(p).offset = next;
        }
      }
    }
    const dlq = consistent ? this.ctx.pendingDlq.splice(0) : [];
    for (const d of dlq) part(d.partition).dlq.push(d.message);
    void topics;
    return { klines, states, offsets, dlq, byPartition, consistent };
  }

  /** At-least-once: steps 1-5 with one idempotent producer. */
  async flushAtLeastOnce(producer: Producer): Promise<FlushResult> {
    const { agg, topics, faults, log } = this.ctx;
    const prepared = this.checkout();
    if (prepared === undefined) return { klines: 0, states: 0, committed: 0, failedPartitions: [] };
    try {
      // 2.
      faults.at('publish');
      const first = [];
      if (prepared.klines.length > 0) first.push({ topic: topics.klines, messages: prepared.klines });
      if (prepared.dlq.length > 0) first.push({ topic: topics.tradesDlq, messages: prepared.dlq.map((d) => d.message) });
      if (first.length > 0) await producer.sendBatch({ topicMessages: first, acks: -1 });
      faults.at('die-after-klines');
      // 3.
      faults.at('state');
      if (prepared.states.length > 0) await producer.sendBatch({ topicMessages: [{ topic: topics.klineState, messages: prepared.states }], acks: -1 });
      faults.at('die-after-state');
    } catch (e) {
      agg.giveBack();
      // The DLQ records go out with the next attempt, still before the commit that passes them.
      this.ctx.pendingDlq.unshift(...prepared.dlq);
      throw e;
    }
    // 4.
    let committed = 0;
    if (prepared.offsets.length > 0) {
      try {
        faults.at('commit');
        await this.ctx.commit(prepared.offsets);
        for (const o of prepared.offsets) this.ctx.committed.set(o.partition, o.offset);
        committed = prepared.offsets.length;
      } catch (e) {
        log.warn('offset commit failed; the next flush commits a later offset (the klines were delivered)', { error: e, offsets: prepared.offsets });
      }
    }
    // 5.
    agg.confirm();
    return { klines: prepared.klines.length, states: prepared.states.length, committed, failedPartitions: [] };
  }

  /** Exactly-once: one transaction per partition with klines, state, DLQ and the offset. */
  async flushExactlyOnce(producerFor: (partition: number) => Promise<Producer>): Promise<FlushResult> {
    const { agg, topics, groupId, faults, log } = this.ctx;
    const prepared = this.checkout();
    if (prepared === undefined) return { klines: 0, states: 0, committed: 0, failedPartitions: [] };
    if (!prepared.consistent) {
      // Cannot happen below MAX_BATCH records of finals; refuse rather than publish what a rewind would repeat.
      agg.giveBack();
      throw new Error(`more than ${MAX_BATCH} pending final klines: cannot publish them in one transaction`);
    }
    const failed: number[] = [];
    let committed = 0;
    await Promise.all([...prepared.byPartition].map(async ([p, part]) => {
      if (!this.ctx.owned.has(p)) return;
      let txn;
      try {
        const producer = await producerFor(p);
        txn = await producer.transaction();
        faults.at('publish');
        const topicMessages = [];
        if (part.klines.length > 0) topicMessages.push({ topic: topics.klines, messages: part.klines });
        if (part.dlq.length > 0) topicMessages.push({ topic: topics.tradesDlq, messages: part.dlq });
        if (part.states.length > 0) topicMessages.push({ topic: topics.klineState, messages: part.states });
        if (topicMessages.length > 0) await txn.sendBatch({ topicMessages, acks: -1 });
        faults.at('die-after-klines');
        if (part.offset >= 0) {
          faults.at('commit');
          await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: topics.trades, partitions: [{ partition: p, offset: String(part.offset) }] }] });
        }
        await txn.commit();
        faults.at('die-after-state');
        if (part.offset >= 0) {
          this.ctx.committed.set(p, part.offset);
          committed++;
        }
      } catch (e) {
        await txn?.abort().catch(() => undefined);
        log.warn('transaction failed; the partition is rewound to its last transaction', { partition: p, error: e });
        failed.push(p);
      }
    }));
    agg.confirm();
    return { klines: prepared.klines.length, states: prepared.states.length, committed, failedPartitions: failed };
  }

  private keyOf(symbol: number, name: string): Buffer {
    let k = this.keys[symbol];
    if (k === undefined) k = this.keys[symbol] = Buffer.from(name, 'utf8');
    return k;
  }
}

interface PartitionPart {
  klines: Message[];
  states: Message[];
  dlq: Message[];
  offset: number;
}

interface Prepared {
  klines: Message[];
  states: Message[];
  offsets: Array<{ partition: number; offset: number }>;
  dlq: DlqRecord[];
  byPartition: Map<number, PartitionPart>;
  consistent: boolean;
}
