/**
 * `klinestream replay --from earliest|<iso time> [--to-topic T]`: rebuilds klines from the retained trades
 * with a fresh consumer group and fresh state, never touching the live app's offsets or state, and exits when
 * caught up. It runs the same worker as `work` with three differences: its own group
 * (`<prefix>klinestream-replay-<id>`), its own state topic (`<prefix>kline-state-replay-<id>`, deleted at the
 * end together with the group), and output to `--to-topic` (default `<prefix>klines-replay`), its dead letters
 * to `<to-topic>-dlq` (the live DLQ already holds the live run's).
 * With a time, klines that open before it are not published: they would be partial.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig, topicNames } from '../config/config';
import { UsageError } from '../errors';
import { kafkaClient } from '../kafka/client';
import { createRegistry, serveMetrics } from '../observability/metrics';
import { createLogger } from '../observability/log';
import { resolveConnection } from '../stack/stack';
import { Worker } from '../worker/worker';
import { parseCommandArgs, stringOption } from './args';
import type { Command } from './commands';

const USAGE = `Usage: klinestream replay --from earliest|<iso time> [--to-topic T]

Rebuilds klines from the trades still retained in Kafka (KLINESTREAM_TRADES_RETENTION_MS) into --to-topic
(default <prefix>klines-replay), with a fresh group and fresh state; the live workers are not touched.
Exits 0 when caught up. Its final klines equal the live app's for every kline fully covered by the retained
trades. With --from <time> (e.g. 2026-01-05T00:00:00Z) klines that open before it are not published.`;

export function parseFrom(raw: string | undefined): number {
  if (raw === undefined) throw new UsageError('replay: --from earliest|<iso time> is required');
  if (raw === 'earliest') return -Infinity;
  const t = Date.parse(raw);
  if (!/^\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(t)) throw new UsageError(`replay: --from must be earliest or an ISO time like 2026-01-05T00:00:00Z, got ${JSON.stringify(raw)}`);
  return t;
}

export const replayCommand: Command = {
  name: 'replay',
  usage: 'replay --from earliest|<iso time> [--to-topic T]',
  summary: 'rebuild klines from retained trades',
  async run(argv) {
    const args = parseCommandArgs('replay', argv, { from: { type: 'string' }, 'to-topic': { type: 'string' } });
    if (args.values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const from = parseFrom(stringOption(args, 'from'));
    const config = loadConfig(process.env, args.configFlags);
    const names = topicNames(config.topicPrefix);
    const toTopic = stringOption(args, 'to-topic') ?? `${config.topicPrefix}klines-replay`;
    if (!/^[A-Za-z0-9._-]{1,249}$/.test(toTopic)) throw new UsageError(`replay: --to-topic ${JSON.stringify(toTopic)} is not a valid topic name`);
    if (toTopic === names.klines) throw new UsageError(`replay: --to-topic ${toTopic} is the live klines topic; choose another (the live app keeps publishing there)`);
    const log = createLogger({ level: config.logLevel, bindings: { cmd: 'replay' } });
    const connection = await resolveConnection(config, log);
    const id = `${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${randomBytes(3).toString('hex')}`;
    const groupId = `${config.topicPrefix}klinestream-replay-${id}`;
    const stateTopic = `${config.topicPrefix}kline-state-replay-${id}`;
    const registry = createRegistry('replay');
    const metrics = await serveMetrics(registry, config.metricsPort, log);
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let lastProgress = 0;
    try {
      const worker = new Worker({
        config, connection, log, registry, signal: abort.signal, untilCaughtUp: true, groupId, klinesTopic: toTopic, klineStateTopic: stateTopic,
        dlqTopic: `${toTopic}-dlq`,
        publishFrom: from, fromBeginning: true,
        onProgress: (p) => {
          if (Date.now() - lastProgress < 2000) return;
          lastProgress = Date.now();
          process.stderr.write(`replay: ${p.tradesApplied} trades applied, ${p.finals} final klines, lag ${p.lag}\n`);
        },
      });
      const s = await worker.run();
      if (s.caughtUp === false) {
        process.stderr.write(`replay: interrupted before catching up (lag ${s.lag ?? 'unknown'} trades); ${s.tradesApplied} trades, ${s.finalKlines} final klines into ${toTopic} so far\n`);
        return 3;
      }
      process.stderr.write(`replay: done: ${s.tradesApplied} trades, ${s.finalKlines} final klines into ${toTopic} in ${(s.elapsedMs / 1000).toFixed(1)} s\n`);
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await metrics.close();
      // The replay's own group and state are of no use afterwards.
      const admin = kafkaClient(config, connection, log, { clientId: 'klinestream-replay-cleanup' }).admin();
      await admin.connect();
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await admin.deleteTopics({ topics: [stateTopic] }).catch(() => undefined);
      await admin.disconnect();
    }
  },
};
