/**
 * Consumption: one fetched batch of a `trades` partition, from records to applied offsets. The steps, under
 * the ownership rules of ownership.ts (the batch captures the partition's ownership at entry and, after every
 * `await`, stops if that ownership ended, the partition is not READY, or kafkajs marked the batch stale by a
 * seek):
 *
 *   1. An ownership that is not READY is restored first (restore.ts); the batch that waited is dropped,
 *      since the restore seeks to the committed offset: the next fetch delivers from there.
 *   2. New schema ids are resolved (the registry: an await).
 *   3. Records are decoded into columns: trades are checked against their record's Kafka timestamp (a
 *      time far ahead of when the record was written is implausible: DLQ), watermarks are applied at their
 *      place in the stream (a full final queue flushes first; an implausible watermark goes to the DLQ),
 *      hand-over markers are noted, everything else goes to the DLQ with its reason.
 *   4. Columns are checked against `symbols` (unknown index, wrong partition: DLQ), grouped by partition,
 *      and ingested (a full final queue flushes and ingestion resumes where it stopped).
 *   5. The ownership's `applied` moves past the batch (the flush commits it once the klines are delivered).
 *
 * Dead letters join the ownership's pending list and go out with the flush, before the commit that
 * passes their offsets; each is cut to the request budget if it is larger (bounded-send.ts).
 */
import type { EachBatchPayload, KafkaMessage } from 'kafkajs';
import { APPLIED, DUPLICATE, INVALID, LATE, NEEDS_FLUSH, type KlineAggregator } from '../aggregation/aggregator';
import { TradeColumns } from '../aggregation/trade-columns';
import type { Logger } from '../observability/log';
import type { RateLimitedLog } from '../observability/rate-limited-log';
import type { SymbolDirectory } from '../symbols/symbol-directory';
import type { SymbolsFollower } from '../symbols/symbols-topic';
import { truncateForDlq } from './bounded-send';
import type { Ownerships, PartitionOwnership } from './ownership';
import type { Restorer } from './restore';
import { DECODED_HANDOVER, DECODED_TRADE, DECODED_UNKNOWN_SCHEMA, DECODED_WATERMARK, type TradeDecoder } from './trade-decoder';
import type { WorkerMetrics } from './worker-metrics';

export interface ConsumeContext {
  agg: KlineAggregator;
  directory: SymbolDirectory;
  symbols(): SymbolsFollower;
  decoder(): TradeDecoder;
  ownerships: Ownerships;
  restorer: Restorer;
  metrics: WorkerMetrics;
  log: Logger;
  warnings: RateLimitedLog;
  tradesTopic: string;
  graceMs: number;
  /** A trade or watermark time more than this ahead of its record's timestamp is implausible. */
  recordTimeAheadMs: number;
  /** How long trades naming an index not yet in `symbols` wait for it (polling catch-ups) before the DLQ. */
  unknownSymbolWaitMs: number;
  /** Bytes a dead letter may take (the DLQ topic's request budget). */
  dlqBudget(): number;
  /** A flush now, after the one in progress (the worker's serial chain), asked by a batch of `partition`. */
  flushNow(partition: number): Promise<void>;
  stopped(): boolean;
}

const COLUMNS = 4096;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class BatchConsumer {
  dlqCount = 0;
  private readonly cols = new TradeColumns(COLUMNS);
  private readonly rowOffset = new Float64Array(COLUMNS);
  private readonly rowMessage: Array<KafkaMessage | undefined> = new Array(COLUMNS);
  private payload: EachBatchPayload | undefined;

  constructor(private readonly ctx: ConsumeContext) {}

  async onBatch(payload: EachBatchPayload): Promise<void> {
    const { ctx } = this;
    const { batch } = payload;
    const p = batch.partition;
    const o = ctx.ownerships.current(p);
    if (o === undefined || ctx.stopped()) return;
    this.payload = payload;
    if (o.firstSeen < 0 && batch.messages.length > 0) o.firstSeen = Number(batch.firstOffset());
    // 1.
    if (!o.ready) {
      await this.alive(ctx.restorer.ensure(o));
      return;
    }
    // 2.
    const messages = batch.messages;
    const decoder = ctx.decoder();
    for (let i = 0; i < messages.length; i++) {
      if (decoder.needsPrepare(messages[i]!.value)) {
        await decoder.prepare(messages[i]!.value);
        if (this.gone(o)) return;
      }
    }
    // 3.
    const cols = this.cols;
    const ahead = ctx.recordTimeAheadMs;
    cols.length = 0;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const row = cols.length;
      const result = decoder.decode(m.value, cols);
      if (result === DECODED_TRADE) {
        if (cols.tradeTime[row]! > Number(m.timestamp) + ahead) {
          cols.length = row;
          this.toDlq(o, m, 'implausible-time', `trade time ${cols.tradeTime[row]} is more than ${ahead} ms ahead of the record's timestamp ${m.timestamp}`);
          continue;
        }
        this.rowOffset[row] = Number(m.offset);
        this.rowMessage[row] = m;
        if (cols.full && !(await this.applyColumns(o))) return;
        continue;
      }
      if (!(await this.applyColumns(o))) return;
      if (result === DECODED_WATERMARK) {
        if (!(await this.watermark(o, m, decoder.watermark))) return;
      } else if (result === DECODED_HANDOVER) {
        // Migration markers are handled by the scaling protocol (docs/scaling.md); a worker without it keeps going.
        ctx.log.debug('handover marker', { partition: p, symbol: decoder.handoverSymbol, target: decoder.handoverTarget });
      } else {
        this.toDlq(o, m, result === DECODED_UNKNOWN_SCHEMA ? 'unknown-schema' : 'undecodable', decoder.error);
      }
      o.applied = Number(m.offset) + 1;
    }
    if (!(await this.applyColumns(o))) return;
    // 5. Everything up to the batch's last offset is processed, transaction markers after the last record included.
    const next = Number(batch.lastOffset()) + 1;
    if (next > o.applied) o.applied = next;
    payload.resolveOffset(batch.lastOffset());
    o.lag = Math.max(0, Number(batch.offsetLag()));
    await payload.heartbeat();
  }

  /** False when the batch must stop: its ownership ended, is restoring again, or kafkajs seeked the partition. */
  private gone(o: PartitionOwnership): boolean {
    return !o.ready || this.ctx.stopped() || this.payload!.isStale();
  }

  /** Step 4. Applies the decoded trades; false when the batch must stop (see gone()). */
  private async applyColumns(o: PartitionOwnership): Promise<boolean> {
    const { agg, directory, metrics, warnings, graceMs } = this.ctx;
    const cols = this.cols;
    if (cols.length === 0) return true;
    const p = o.partition;
    const last = this.rowOffset[cols.length - 1]!;
    if (!(await this.checkSymbols(o))) return false;
    let i = agg.ingestColumns(cols, 0);
    while (i < cols.length) {
      await this.alive(this.ctx.flushNow(o.partition));
      if (this.gone(o)) return false;
      i = agg.ingestColumns(cols, i);
    }
    const res = cols.result;
    for (let k = 0; k < cols.length; k++) {
      const r = res[k]!;
      if (r === APPLIED) continue;
      if (r === DUPLICATE) {
        metrics.replayedDuplicates.inc();
      } else if (r === LATE) {
        warnings.write('warn', 'late', 'late trade: its kline was already final; sent to the DLQ, not merged', {
          partition: p, offset: this.rowOffset[k], symbol: directory.nameOf(cols.symbol[k]!), aggId: cols.aggId[k], tradeTime: cols.tradeTime[k],
        });
        this.toDlq(o, this.rowMessage[k]!, 'late', `trade time ${cols.tradeTime[k]} is in a kline already final (grace ${graceMs} ms)`);
      } else if (r === INVALID) {
        this.toDlq(o, this.rowMessage[k]!, 'invalid', `the aggregator rejected the values (price ${cols.price[k]}, quantity ${cols.quantity[k]}, ids ${cols.firstTradeId[k]}..${cols.lastTradeId[k]}, time ${cols.tradeTime[k]})`);
      }
    }
    o.applied = last + 1;
    cols.length = 0;
    return true;
  }

  /**
   * Trades naming an index the directory does not know: catch up on `symbols`, else send them to the DLQ.
   * A trade on a partition that is not its symbol's placement goes to the DLQ too: applying it would give
   * the symbol a second owner (each symbol lives in exactly one partition, SPEC 2).
   */
  private async checkSymbols(o: PartitionOwnership): Promise<boolean> {
    const { agg, directory } = this.ctx;
    const cols = this.cols;
    const p = o.partition;
    let misfit = false;
    for (let k = 0; k < cols.length; k++) {
      const s = cols.symbol[k]!;
      const home = directory.partitionOf(s);
      if (directory.nameOf(s) === undefined || (home >= 0 && home !== p)) misfit = true;
      else if (agg.groupOf(s) !== p) agg.setSymbolGroup(s, p);
    }
    if (!misfit) return true;
    if (!(await this.awaitSymbols(o))) return false;
    let w = 0;
    for (let k = 0; k < cols.length; k++) {
      const s = cols.symbol[k]!;
      if (directory.nameOf(s) === undefined) {
        this.toDlq(o, this.rowMessage[k]!, 'unknown-symbol', `symbol index ${s} is not in the symbols topic`);
        continue;
      }
      const home = directory.partitionOf(s);
      if (home >= 0 && home !== p) {
        this.toDlq(o, this.rowMessage[k]!, 'wrong-partition', `symbol ${directory.nameOf(s)} lives in partition ${home}, not ${p}`);
        continue;
      }
      if (agg.groupOf(s) !== p) agg.setSymbolGroup(s, p);
      if (w !== k) this.moveRow(k, w);
      w++;
    }
    cols.length = w;
    return true;
  }

  /**
   * Catches up on `symbols` until every index of the columns is known, for at most unknownSymbolWaitMs: the
   * producer commits a new symbol's entry in the transaction of its first trades, but the `symbols` partition
   * may turn readable (its last stable offset move) a moment after the `trades` one. False when the batch
   * must stop (see gone()).
   */
  private async awaitSymbols(o: PartitionOwnership): Promise<boolean> {
    const deadline = Date.now() + this.ctx.unknownSymbolWaitMs;
    for (let round = 0; ; round++) {
      await this.alive(this.ctx.symbols().catchUp());
      if (this.gone(o)) return false;
      if (!this.anyUnknown() || Date.now() >= deadline) return true;
      await delay(Math.min(50 << Math.min(round, 4), 1000));
      if (this.gone(o)) return false;
      // Each wait is shorter than alive()'s beat: without this, a wait of more than the session timeout
      // gets the member dropped from its group.
      await this.payload!.heartbeat();
      if (this.gone(o)) return false;
    }
  }

  private anyUnknown(): boolean {
    const { directory } = this.ctx;
    const cols = this.cols;
    for (let k = 0; k < cols.length; k++) if (directory.nameOf(cols.symbol[k]!) === undefined) return true;
    return false;
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

  /** A watermark closes the partition's idle klines; a full final queue is flushed first. */
  private async watermark(o: PartitionOwnership, m: KafkaMessage, w: number): Promise<boolean> {
    const { agg, recordTimeAheadMs } = this.ctx;
    if (w > Number(m.timestamp) + recordTimeAheadMs) {
      this.toDlq(o, m, 'implausible-time', `watermark ${w} is more than ${recordTimeAheadMs} ms ahead of the record's timestamp ${m.timestamp}`);
      return true;
    }
    let r = agg.advanceWatermark(w, o.partition);
    while (r === NEEDS_FLUSH) {
      await this.alive(this.ctx.flushNow(o.partition));
      if (this.gone(o)) return false;
      r = agg.advanceWatermark(w, o.partition);
    }
    if (r === INVALID) this.toDlq(o, m, 'implausible-time', `watermark ${w} is outside the plausible times ${agg.timeFromMs}..${agg.timeToMs}`);
    return true;
  }

  /**
   * Waits for `work` inside eachBatch while heartbeating, so that a flush retrying against an unavailable
   * Kafka, or a restore, does not cost the group membership.
   */
  private async alive<T>(work: Promise<T>): Promise<T> {
    const beat = this.payload?.heartbeat;
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

  private toDlq(o: PartitionOwnership, m: KafkaMessage, reason: string, error: string): void {
    const { metrics, warnings, tradesTopic } = this.ctx;
    this.dlqCount++;
    metrics.dlq.inc({ reason });
    if (reason !== 'late') {
      warnings.write('warn', `dlq-${reason}`, 'record sent to the dead-letter topic', { reason, error, topic: tradesTopic, partition: o.partition, offset: m.offset });
    }
    o.pendingDlq.push({
      partition: o.partition,
      message: truncateForDlq({
        key: m.key,
        value: m.value,
        headers: {
          'klinestream.reason': reason,
          'klinestream.error': error.slice(0, 500),
          'klinestream.source.topic': tradesTopic,
          'klinestream.source.partition': String(o.partition),
          'klinestream.source.offset': m.offset,
          'klinestream.source.timestamp': m.timestamp,
        },
      }, this.ctx.dlqBudget()),
    });
  }
}
