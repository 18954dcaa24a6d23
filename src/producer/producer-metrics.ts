/**
 * The producer's Prometheus metrics. Hot-path counts live in plain numbers and typed arrays owned by the
 * components (sequencer counters, per-partition trade counts); prom-client reads them at scrape time through
 * `collect`, so no label lookup happens per frame or per trade.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ProducerGauges {
  sequencer(): Record<string, number>;
  bufferFill(): number;
  bufferCapacity(): number;
  kafkaHealthy(): number;
  watermarkLagMs(): number;
  tradesByPartition(): ArrayLike<number>;
  frames(): { ok: number; other: number; malformed: number };
  connections(): number;
  restWeightUsed(): number;
  /** Live trades held behind open gaps, the slots allocated for them, and the configured bound. */
  held?(): { trades: number; slots: number; max: number };
  /** Per symbol with unfillable gaps: how many, how many ids, and the last range (toId -1 = open-ended). */
  unfillable?(): Array<{ symbol: string; gaps: number; ids: number; lastFrom: number; lastTo: number }>;
}

export class ProducerMetrics {
  readonly badFrames: Counter<'reason'>;
  readonly otherFrames: Counter<'kind'>;
  readonly reconnects: Counter<'reason'>;
  readonly backfillRequests: Counter<'outcome'>;
  readonly restRequests: Counter<'endpoint' | 'outcome'>;
  readonly restWeight: Counter;
  readonly transactions: Counter<'outcome'>;
  readonly transactionSeconds: Histogram;
  readonly batchRecords: Histogram;
  readonly bufferDrops: Counter;

  constructor(registry: Registry, gauges: ProducerGauges) {
    const r = [registry];
    this.badFrames = new Counter({ name: 'klinestream_producer_bad_frames_total', help: 'Frames skipped as malformed, by reason', labelNames: ['reason'], registers: r });
    this.otherFrames = new Counter({ name: 'klinestream_producer_other_frames_total', help: 'Well-formed frames that are not aggTrades (subscription replies, other events), by kind', labelNames: ['kind'], registers: r });
    this.reconnects = new Counter({ name: 'klinestream_producer_reconnects_total', help: 'WebSocket reconnects, by reason', labelNames: ['reason'], registers: r });
    this.backfillRequests = new Counter({ name: 'klinestream_producer_backfill_requests_total', help: 'REST aggTrades backfill requests, by outcome', labelNames: ['outcome'], registers: r });
    this.restRequests = new Counter({ name: 'klinestream_producer_rest_requests_total', help: 'REST HTTP attempts, by endpoint and outcome (429 = rate_limited, 418 = banned)', labelNames: ['endpoint', 'outcome'], registers: r });
    this.restWeight = new Counter({ name: 'klinestream_producer_rest_weight_total', help: 'Request weight spent on REST', registers: r });
    this.transactions = new Counter({ name: 'klinestream_producer_transactions_total', help: 'Kafka transactions, by outcome', labelNames: ['outcome'], registers: r });
    this.transactionSeconds = new Histogram({
      name: 'klinestream_producer_produce_latency_seconds', help: 'Time from the start of a transaction to its commit',
      buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5], registers: r,
    });
    this.batchRecords = new Histogram({ name: 'klinestream_producer_batch_records', help: 'Records per transaction', buckets: [1, 10, 100, 1000, 5000, 10000, 50000], registers: r });
    this.bufferDrops = new Counter({ name: 'klinestream_producer_buffer_drops_total', help: 'Times the outgoing buffer was dropped because Kafka was away too long (the trades are backfilled later)', registers: r });

    new Gauge({
      name: 'klinestream_producer_frames_total', help: 'WebSocket or file frames seen, by result', labelNames: ['result'], registers: r,
      collect() {
        const f = gauges.frames();
        this.set({ result: 'aggtrade' }, f.ok);
        this.set({ result: 'other' }, f.other);
        this.set({ result: 'malformed' }, f.malformed);
      },
    });
    new Gauge({
      name: 'klinestream_producer_trades_total', help: 'Trades released to Kafka, by trades partition (symbol group)', labelNames: ['partition'], registers: r,
      collect() {
        const t = gauges.tradesByPartition();
        for (let p = 0; p < t.length; p++) this.set({ partition: String(p) }, t[p]!);
      },
    });
    new Gauge({
      name: 'klinestream_producer_sequencer', help: 'Gap bookkeeping: gaps found, filled and unfillable, ids lost, duplicates dropped, trades from REST', labelNames: ['counter'], registers: r,
      collect() {
        for (const [k, v] of Object.entries(gauges.sequencer())) this.set({ counter: k }, v);
      },
    });
    new Gauge({ name: 'klinestream_producer_buffer_records', help: 'Records waiting for their Kafka transaction', registers: r, collect() { this.set(gauges.bufferFill()); } });
    new Gauge({ name: 'klinestream_producer_buffer_capacity', help: 'Capacity of the outgoing buffer', registers: r, collect() { this.set(gauges.bufferCapacity()); } });
    new Gauge({ name: 'klinestream_producer_kafka_healthy', help: '1 while transactions commit, 0 while Kafka is away', registers: r, collect() { this.set(gauges.kafkaHealthy()); } });
    new Gauge({ name: 'klinestream_producer_watermark_lag_ms', help: 'Wall clock minus the lowest partition watermark written', registers: r, collect() { this.set(gauges.watermarkLagMs()); } });
    new Gauge({ name: 'klinestream_producer_connections', help: 'Open WebSocket connections', registers: r, collect() { this.set(gauges.connections()); } });
    new Gauge({ name: 'klinestream_producer_rest_weight_used', help: 'REST weight counted in the current minute (ours, raised by the exchange\'s X-MBX-USED-WEIGHT-1M)', registers: r, collect() { this.set(gauges.restWeightUsed()); } });
    new Gauge({
      name: 'klinestream_producer_held_trades', help: 'Live trades held behind open gaps (what), slots allocated for them (slots), and the configured bound (max)', labelNames: ['what'], registers: r,
      collect() {
        const h = gauges.held?.() ?? { trades: 0, slots: 0, max: 0 };
        this.set({ what: 'trades' }, h.trades);
        this.set({ what: 'slots' }, h.slots);
        this.set({ what: 'max' }, h.max);
      },
    });
    // Unfillable gaps per symbol, for the status page: ids that will never be in `trades` (SPEC 4.10).
    // Labels are symbols (bounded by the configured symbol set), never id ranges.
    new Gauge({
      name: 'klinestream_producer_unfillable_ids', help: 'Aggregate ids reported unfillable (never written), by symbol', labelNames: ['symbol'], registers: r,
      collect() {
        for (const u of gauges.unfillable?.() ?? []) this.set({ symbol: u.symbol }, u.ids);
      },
    });
    new Gauge({
      name: 'klinestream_producer_unfillable_gaps', help: 'Unfillable gaps reported, by symbol', labelNames: ['symbol'], registers: r,
      collect() {
        for (const u of gauges.unfillable?.() ?? []) this.set({ symbol: u.symbol }, u.gaps);
      },
    });
    new Gauge({
      name: 'klinestream_producer_unfillable_last', help: 'The last unfillable id range of a symbol: bound="from" and bound="to" (-1 = up to whatever streamed next)', labelNames: ['symbol', 'bound'], registers: r,
      collect() {
        for (const u of gauges.unfillable?.() ?? []) {
          this.set({ symbol: u.symbol, bound: 'from' }, u.lastFrom);
          this.set({ symbol: u.symbol, bound: 'to' }, u.lastTo);
        }
      },
    });
  }
}

/** A metric-friendly category for a parser's free-text reason. */
export function badFrameReason(reason: string): string {
  if (reason.startsWith('not JSON')) return 'not_json';
  if (reason.startsWith('not UTF-8')) return 'not_utf8';
  if (reason.startsWith('line is') || reason.includes('over the') || reason.includes('too large')) return 'oversized';
  if (/^field "[^"]+" missing/.test(reason) || reason.startsWith('combined-stream frame without')) return 'missing_field';
  // A negative decimal ("-0.5") fails the decimal-string pattern before the > 0 test: still non-positive.
  if (reason.includes('must be > 0') || reason.includes('is negative') || reason.includes('is not a decimal string: "-')) return 'non_positive';
  if (reason.includes('is not a') || reason.includes('must be a decimal string') || reason.includes('is not finite')) return 'bad_type';
  if (reason.includes('does not match') || reason.includes('carries event')) return 'inconsistent';
  if (reason.startsWith('unknown symbol')) return 'unknown_symbol';
  return 'other';
}
