/**
 * The worker's Prometheus metrics (SPEC 4, issue "Workers" item 10). Per-trade counts are the aggregator's
 * own counters, read at scrape time; per-flush and per-restore values are observed directly.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AggregatorCounters } from '../aggregation/aggregator';

export interface WorkerGauges {
  counters(): AggregatorCounters;
  slotsInUse(): number;
  lagByPartition(): ReadonlyMap<number, number>;
  secondsSinceCommit(): number;
  assigned(): number;
}

export class WorkerMetrics {
  readonly dlq: Counter<'reason'>;
  readonly flushes: Counter<'outcome'>;
  readonly batchRecords: Histogram;
  readonly publishSeconds: Histogram;
  readonly restoreSeconds: Histogram;
  readonly restoredSymbols: Counter;
  readonly commits: Counter<'outcome'>;
  readonly rewinds: Counter;
  readonly consumerRestarts: Counter;
  readonly replayedDuplicates: Counter;

  constructor(registry: Registry, gauges: WorkerGauges) {
    const r = [registry];
    this.dlq = new Counter({ name: 'klinestream_worker_dlq_total', help: 'Records sent to the dead-letter topic, by reason', labelNames: ['reason'], registers: r });
    this.flushes = new Counter({ name: 'klinestream_worker_flushes_total', help: 'Flushes, by outcome', labelNames: ['outcome'], registers: r });
    this.batchRecords = new Histogram({ name: 'klinestream_worker_flush_klines', help: 'Kline records per flush', buckets: [0, 1, 10, 100, 1000, 5000, 20000, 100000], registers: r });
    this.publishSeconds = new Histogram({ name: 'klinestream_worker_publish_latency_seconds', help: 'Flush: publish of klines and state until acknowledged (and committed)', buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5], registers: r });
    this.restoreSeconds = new Histogram({ name: 'klinestream_worker_restore_seconds', help: 'Restore of one partition from kline-state', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: r });
    this.restoredSymbols = new Counter({ name: 'klinestream_worker_restored_symbols_total', help: 'Symbol states restored from kline-state', registers: r });
    this.commits = new Counter({ name: 'klinestream_worker_commits_total', help: 'Offset commits, by outcome', labelNames: ['outcome'], registers: r });
    this.rewinds = new Counter({ name: 'klinestream_worker_rewinds_total', help: 'Exactly-once: partitions rewound to their last transaction after a failed one', registers: r });
    this.consumerRestarts = new Counter({ name: 'klinestream_worker_consumer_restarts_total', help: 'Consumer restarts by the worker after kafkajs gave up on a broker that was away', registers: r });
    this.replayedDuplicates = new Counter({ name: 'klinestream_worker_replayed_total', help: 'Trades read again after a restart or rewind and dropped by aggregate id (already in the restored state)', registers: r });
    new Gauge({
      name: 'klinestream_worker_trades', help: 'Aggregator counts: applied, duplicates, late, invalid trades; finals and live klines out', labelNames: ['counter'], registers: r,
      collect() {
        for (const [k, v] of Object.entries(gauges.counters())) this.set({ counter: k }, v);
      },
    });
    new Gauge({ name: 'klinestream_worker_slots_in_use', help: 'Aggregator slots of active symbols (symbols x intervals)', registers: r, collect() { this.set(gauges.slotsInUse()); } });
    new Gauge({ name: 'klinestream_worker_assigned_partitions', help: 'trades partitions this worker owns', registers: r, collect() { this.set(gauges.assigned()); } });
    new Gauge({ name: 'klinestream_worker_commit_age_seconds', help: 'Seconds since the last successful offset commit (commit lag)', registers: r, collect() { this.set(gauges.secondsSinceCommit()); } });
    new Gauge({
      name: 'klinestream_worker_consumer_lag', help: 'Records behind the end of each owned trades partition', labelNames: ['partition'], registers: r,
      collect() {
        this.reset();
        for (const [p, lag] of gauges.lagByPartition()) this.set({ partition: String(p) }, lag);
      },
    });
  }
}
