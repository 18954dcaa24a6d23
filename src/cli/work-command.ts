/**
 * `klinestream work [--until-caught-up] [--guarantee at-least-once|exactly-once]`: one member of the worker
 * group (src/worker/worker.ts). Runs until Ctrl-C / SIGTERM (a last flush and commit, then it leaves the
 * group), or with --until-caught-up until the group has no lag; exit 0. Exit 1 on a runtime failure, 3 when
 * stopped by a signal before catching up.
 */
import { loadConfig } from '../config/config';
import { createRegistry, serveMetrics } from '../observability/metrics';
import { createLogger } from '../observability/log';
import { registerProcess } from '../observability/process-registry';
import { resolveConnection } from '../stack/stack';
import { Faults } from '../worker/faults';
import { Worker } from '../worker/worker';
import { parseCommandArgs } from './args';
import type { Command } from './commands';

const USAGE = `Usage: klinestream work [--until-caught-up] [--guarantee at-least-once|exactly-once]

One worker of the consumer group: aggregates the trades of its partitions into klines for every configured
interval, publishes the changed klines every flush (KLINESTREAM_FLUSH_INTERVAL_MS, 250 ms at most) and
commits the input offsets only once Kafka acknowledged them. Run several for more throughput; partitions are
shared out by the group, and a new owner restores a partition's klines from kline-state.

Options:
  --until-caught-up   stop (exit 0) once the group has no lag, after a last flush and commit;
                      exit 3 when a signal stops it before that
  --guarantee G       at-least-once (default): every kline change delivered, repeats carry the same values;
                      exactly-once: klines, state and offsets in one Kafka transaction per partition and
                      flush; read them with isolation.level=read_committed`;

export const workCommand: Command = {
  name: 'work',
  usage: 'work [--until-caught-up] [--guarantee at-least-once|exactly-once]',
  summary: 'one aggregation worker',
  async run(argv) {
    const args = parseCommandArgs('work', argv, { 'until-caught-up': { type: 'boolean' } });
    if (args.values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const config = loadConfig(process.env, args.configFlags);
    // Test-only fault injection (see src/worker/faults.ts); validated here with the rest.
    const faults = Faults.parse(process.env.KLINESTREAM_TEST_FAULTS);
    const log = createLogger({ level: config.logLevel, bindings: { cmd: 'work', pid: process.pid } });
    // Signals first: a SIGTERM while still starting up (connecting, registering) ends the run cleanly too.
    const abort = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      if (abort.signal.aborted) return;
      log.info('stopping: last flush and commit, then leaving the group', { signal });
      abort.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const connection = await resolveConnection(config, log);
    const registry = createRegistry('worker');
    const metrics = await serveMetrics(registry, config.metricsPort, log);
    const registration = registerProcess(config, { role: 'worker', metricsUrl: metrics.url });
    try {
      const worker = new Worker({ config, connection, log, registry, signal: abort.signal, untilCaughtUp: args.values['until-caught-up'] === true, faults });
      const s = await worker.run();
      process.stderr.write(
        `work: ${s.tradesApplied} trades applied, ${s.duplicates} duplicates, ${s.lateTrades} late, ${s.dlq} to the DLQ; ` +
          `${s.finalKlines} final and ${s.liveKlines} live klines in ${s.flushes} flushes; ${s.restoredSymbols} symbols restored; ${(s.elapsedMs / 1000).toFixed(1)} s\n`,
      );
      log.info('work finished', { ...s });
      if (s.caughtUp === false) {
        // A script waiting for --until-caught-up must not take a stop by a signal for a finished catch-up.
        process.stderr.write(`work: interrupted before catching up (lag ${s.lag ?? 'unknown'} trades at the last check)\n`);
        return 3;
      }
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      registration.remove();
      await metrics.close();
    }
  },
};
