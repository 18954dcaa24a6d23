import { parsePrometheusText, sum } from '../../src/web/prometheus';
import { StatusTracker, summarize } from '../../src/web/system-status';

const PRODUCER = `# HELP klinestream_producer_trades_total Trades released
# TYPE klinestream_producer_trades_total gauge
klinestream_producer_trades_total{partition="0",component="producer"} 10
klinestream_producer_trades_total{partition="1",component="producer"} 5
klinestream_producer_bad_frames_total{reason="not_json",component="producer"} 2
klinestream_producer_sequencer{counter="gapsFound",component="producer"} 3
klinestream_producer_sequencer{counter="gapsFilled",component="producer"} 2
klinestream_producer_kafka_healthy{component="producer"} 1
weird{label="a \\"quoted\\" \\\\ value"} +Inf
`;
const WORKER = (lag0: number, applied: number, restores: number) => `klinestream_worker_consumer_lag{partition="0"} ${lag0}
klinestream_worker_consumer_lag{partition="2"} 7
klinestream_worker_trades{counter="tradesApplied"} ${applied}
klinestream_worker_trades{counter="lateTrades"} 1
klinestream_worker_dlq_total{reason="late"} 4
klinestream_worker_restore_seconds_count ${restores}
klinestream_worker_restore_seconds_sum 0.5
klinestream_worker_restored_symbols_total 12
klinestream_worker_assigned_partitions 2
`;

describe('Prometheus text', () => {
  it('parses samples with labels, escapes and special values', () => {
    const s = parsePrometheusText(PRODUCER);
    expect(s).toHaveLength(7);
    expect(s[0]).toEqual({ name: 'klinestream_producer_trades_total', labels: { partition: '0', component: 'producer' }, value: 10 });
    expect(s[6]).toEqual({ name: 'weird', labels: { label: 'a "quoted" \\ value' }, value: Infinity });
    expect(sum(s, 'klinestream_producer_trades_total')).toBe(15);
    expect(sum(s, 'klinestream_producer_sequencer', { counter: 'gapsFound' })).toBe(3);
  });

  it('summarizes processes into the status panel, with rates from two scrapes', () => {
    const targets = [
      { name: 'producer', role: 'producer', url: 'http://x/metrics' },
      { name: 'worker-1', role: 'worker', url: 'http://y/metrics' },
      { name: 'worker-2', role: 'worker', url: 'http://z/metrics' },
    ];
    const tracker = new StatusTracker();
    const first = tracker.next(summarize(targets, [parsePrometheusText(PRODUCER), parsePrometheusText(WORKER(3, 100, 1)), new Error('ECONNREFUSED')], 1000));
    expect(first.tradesPerSecond).toBeUndefined();
    const second = tracker.next(summarize(targets, [parsePrometheusText(PRODUCER.replace('} 10', '} 30')), parsePrometheusText(WORKER(1, 150, 2)), new Error('ECONNREFUSED')], 3000));
    expect(second).toMatchObject({
      tradesTotal: 35, tradesPerSecond: 10, appliedTotal: 150, appliedPerSecond: 25, badFrames: 2, gapsFound: 3, gapsFilled: 2,
      dlq: 4, lateTrades: 1, restores: 2, restoredSymbols: 12, restoreMeanSeconds: 0.25, lastRestoreAt: 3000, kafkaHealthy: true,
      lag: [{ partition: 0, lag: 1, worker: 'worker-1' }, { partition: 2, lag: 7, worker: 'worker-1' }], totalLag: 8,
    });
    expect(second.processes.map((p) => [p.name, p.up])).toEqual([['producer', true], ['worker-1', true], ['worker-2', false]]);
    expect(second.processes[1]!.partitions).toBe(2);
  });
});
