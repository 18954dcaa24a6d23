/**
 * The status of a running klinestream system from its processes' Prometheus metrics: what the live page's
 * status panel shows and `klinestream status` prints. Metric names are those of
 * src/producer/producer-metrics.ts and src/worker/worker-metrics.ts. Rates need two scrapes: a
 * StatusTracker keeps the previous one.
 */
import { parsePrometheusText, sum, type Sample } from './prometheus';

export interface MetricsTarget {
  /** Display name: producer, worker-1, ... */
  name: string;
  role: string;
  url: string;
  pid?: number;
}

export interface ProcessStatus {
  name: string;
  role: string;
  pid?: number;
  url: string;
  up: boolean;
  error?: string;
  /** Worker: trades partitions owned. */
  partitions?: number;
}

export interface PartitionLag {
  partition: number;
  lag: number;
  worker: string;
}

export interface SystemStatus {
  at: number;
  processes: ProcessStatus[];
  /** Producer: trades released to Kafka, in total and per second since the previous scrape. */
  tradesTotal: number;
  tradesPerSecond: number | undefined;
  /** Workers: trades applied by the aggregators. */
  appliedTotal: number;
  appliedPerSecond: number | undefined;
  klinesPerSecond: number | undefined;
  lag: PartitionLag[];
  totalLag: number;
  badFrames: number;
  otherFrames: number;
  gapsFound: number;
  gapsFilled: number;
  unfillableGaps: number;
  duplicatesDropped: number;
  lateTrades: number;
  dlq: number;
  /** Partition restores from kline-state, symbols restored, and their mean duration. */
  restores: number;
  restoredSymbols: number;
  restoreMeanSeconds: number | undefined;
  /** When a restore was last seen happening (a scrape saw the count grow), epoch ms. */
  lastRestoreAt: number | undefined;
  kafkaHealthy: boolean | undefined;
  connections: number;
}

export type Fetcher = (url: string, timeoutMs: number) => Promise<string>;

export const defaultFetcher: Fetcher = async (url, timeoutMs) => {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  return res.text();
};

export function summarize(targets: readonly MetricsTarget[], scraped: ReadonlyArray<Sample[] | Error>, at = Date.now()): SystemStatus {
  const processes: ProcessStatus[] = [];
  const lag: PartitionLag[] = [];
  const all: Sample[] = [];
  const producers: Sample[] = [];
  const workers: Sample[] = [];
  targets.forEach((t, i) => {
    const s = scraped[i];
    const base = { name: t.name, role: t.role, url: t.url, ...(t.pid === undefined ? {} : { pid: t.pid }) };
    if (s === undefined || s instanceof Error) {
      processes.push({ ...base, up: false, error: s instanceof Error ? s.message : 'not scraped' });
      return;
    }
    all.push(...s);
    if (t.role === 'producer') producers.push(...s);
    if (t.role === 'worker') {
      workers.push(...s);
      for (const x of s) if (x.name === 'klinestream_worker_consumer_lag') lag.push({ partition: Number(x.labels.partition), lag: x.value, worker: t.name });
    }
    processes.push({ ...base, up: true, ...(t.role === 'worker' ? { partitions: sum(s, 'klinestream_worker_assigned_partitions') } : {}) });
  });
  lag.sort((a, b) => a.partition - b.partition);
  const restores = sum(workers, 'klinestream_worker_restore_seconds_count');
  const restoreSum = sum(workers, 'klinestream_worker_restore_seconds_sum');
  const healthy = producers.filter((s) => s.name === 'klinestream_producer_kafka_healthy');
  return {
    at,
    processes,
    tradesTotal: sum(producers, 'klinestream_producer_trades_total'),
    tradesPerSecond: undefined,
    appliedTotal: sum(workers, 'klinestream_worker_trades', { counter: 'tradesApplied' }),
    appliedPerSecond: undefined,
    klinesPerSecond: undefined,
    lag,
    totalLag: lag.reduce((a, l) => a + l.lag, 0),
    badFrames: sum(producers, 'klinestream_producer_bad_frames_total'),
    otherFrames: sum(producers, 'klinestream_producer_other_frames_total'),
    gapsFound: sum(producers, 'klinestream_producer_sequencer', { counter: 'gapsFound' }),
    gapsFilled: sum(producers, 'klinestream_producer_sequencer', { counter: 'gapsFilled' }),
    unfillableGaps: sum(producers, 'klinestream_producer_sequencer', { counter: 'unfillableGaps' }),
    duplicatesDropped: sum(producers, 'klinestream_producer_sequencer', { counter: 'duplicates' }),
    lateTrades: sum(workers, 'klinestream_worker_trades', { counter: 'lateTrades' }),
    dlq: sum(workers, 'klinestream_worker_dlq_total'),
    restores,
    restoredSymbols: sum(workers, 'klinestream_worker_restored_symbols_total'),
    restoreMeanSeconds: restores > 0 ? restoreSum / restores : undefined,
    lastRestoreAt: undefined,
    kafkaHealthy: healthy.length === 0 ? undefined : healthy.every((s) => s.value === 1),
    connections: sum(producers, 'klinestream_producer_connections'),
  };
}

/** Scrapes every target once (in parallel, each with a short timeout). */
export async function scrape(targets: readonly MetricsTarget[], fetcher: Fetcher = defaultFetcher, timeoutMs = 2000): Promise<Array<Sample[] | Error>> {
  return Promise.all(targets.map(async (t) => {
    try {
      return parsePrometheusText(await fetcher(t.url, timeoutMs));
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  }));
}

/**
 * Successive status snapshots with rates. Counters of a process that restarted start again from 0: such a
 * drop is not a negative rate, the rate is then unknown for one round.
 */
export class StatusTracker {
  private previous: SystemStatus | undefined;
  private lastRestoreAt: number | undefined;
  private klinesSeen = 0;
  private klinesAtPrevious = 0;

  /** The page counts the kline records it receives; their rate is shown too. */
  countKlines(n: number): void {
    this.klinesSeen += n;
  }

  next(current: SystemStatus): SystemStatus {
    const prev = this.previous;
    if (prev !== undefined) {
      const dt = (current.at - prev.at) / 1000;
      if (dt > 0) {
        const rate = (a: number, b: number) => (a >= b ? (a - b) / dt : undefined);
        current.tradesPerSecond = rate(current.tradesTotal, prev.tradesTotal);
        current.appliedPerSecond = rate(current.appliedTotal, prev.appliedTotal);
        current.klinesPerSecond = (this.klinesSeen - this.klinesAtPrevious) / dt;
      }
      if (current.restores > prev.restores) this.lastRestoreAt = current.at;
    } else if (current.restores > 0) {
      this.lastRestoreAt = current.at;
    }
    current.lastRestoreAt = this.lastRestoreAt;
    this.klinesAtPrevious = this.klinesSeen;
    this.previous = current;
    return current;
  }
}
