/**
 * The five topics of SPEC section 2 (plus the producer's internal checkpoint topic): their settings in one
 * table, creation on a fresh cluster (the producer, the workers and `topics create` all call ensureTopics),
 * and the facts `topics describe` shows. See docs/kafka-design.md for why each setting is what it is.
 */
import type { Admin, ITopicConfig } from 'kafkajs';
import type { Config } from '../config/config';
import { topicNames } from '../config/config';
import { KlinestreamError } from '../errors';
import type { Logger } from '../observability/log';

export type TopicRole = 'trades' | 'symbols' | 'klines' | 'klineState' | 'tradesDlq' | 'producerState';

export interface TopicSpec {
  role: TopicRole;
  name: string;
  partitions: number;
  /** Topic-level configs set at creation (and checked by describe). */
  configs: Record<string, string>;
  /** Partitions follow `trades` (co-partitioned): grown together by `topics scale`. */
  followsTrades: boolean;
}

const DAY_MS = 24 * 3600_000;

export function topicSpecs(config: Config): TopicSpec[] {
  const n = topicNames(config.topicPrefix);
  const compacted = { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0', 'segment.ms': String(DAY_MS) };
  return [
    { role: 'trades', name: n.trades, partitions: config.partitions, followsTrades: true, configs: { 'cleanup.policy': 'delete', 'retention.ms': String(config.tradesRetentionMs) } },
    // One partition: a total order of symbol assignments, read whole by every producer and worker.
    { role: 'symbols', name: n.symbols, partitions: 1, followsTrades: false, configs: { ...compacted } },
    { role: 'klines', name: n.klines, partitions: config.partitions, followsTrades: false, configs: { 'cleanup.policy': 'delete', 'retention.ms': String(config.klinesRetentionMs) } },
    // Restore reads a partition of `kline-state` whole, so its uncompacted tail must stay short: every flush
    // writes the state of every changed symbol, and only closed segments are compacted. One-minute segments
    // and an eager cleaner keep a restore at about (symbols + one minute of state records), not all since
    // the last daily roll.
    {
      role: 'klineState', name: n.klineState, partitions: config.partitions, followsTrades: true,
      configs: { ...compacted, 'segment.ms': '60000', 'min.cleanable.dirty.ratio': '0.1' },
    },
    { role: 'tradesDlq', name: n.tradesDlq, partitions: 1, followsTrades: false, configs: { 'cleanup.policy': 'delete', 'retention.ms': String(30 * DAY_MS) } },
    { role: 'producerState', name: n.producerState, partitions: 1, followsTrades: false, configs: { ...compacted } },
  ];
}

export interface EnsureResult {
  created: string[];
  /** Partition count per topic as found (or created). */
  partitions: Record<string, number>;
}

/**
 * Creates the topics that do not exist yet and reports
 * the partition counts of all of them. `trades` and `kline-state` must have the same count: a worker
 * restores partition p of `trades` from partition p of `kline-state`.
 */
export async function ensureTopics(admin: Admin, config: Config, log: Logger, roles?: readonly TopicRole[]): Promise<EnsureResult> {
  const specs = topicSpecs(config).filter((s) => roles === undefined || roles.includes(s.role));
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((s) => !existing.has(s.name));
  const created: string[] = [];
  if (missing.length > 0) {
    // kafkajs speaks CreateTopics v3, which has no "broker default" (-1) replication factor: 3 where the
    // cluster has 3 brokers or more (with acks=all and the usual min.insync.replicas=2), else all of them.
    const brokers = (await admin.describeCluster()).brokers.length;
    const replicationFactor = Math.max(1, Math.min(3, brokers));
    const topics: ITopicConfig[] = missing.map((s) => ({
      topic: s.name,
      numPartitions: s.partitions,
      replicationFactor,
      configEntries: Object.entries(s.configs).map(([name, value]) => ({ name, value })),
    }));
    try {
      await admin.createTopics({ topics, waitForLeaders: true });
    } catch (e) {
      // Another process created them between listTopics and createTopics: fine, unless they are still missing.
      const after = new Set(await admin.listTopics());
      if (missing.some((s) => !after.has(s.name))) {
        throw new KlinestreamError('KAFKA_UNAVAILABLE', `cannot create topics ${missing.map((s) => s.name).join(', ')}: ${(e as Error).message}`, {}, { cause: e });
      }
    }
    for (const s of missing) created.push(s.name);
    log.info('created topics', { topics: missing.map((s) => ({ topic: s.name, partitions: s.partitions, ...s.configs })) });
  }
  const partitions = await partitionCounts(admin, specs.map((s) => s.name));
  const trades = specs.find((s) => s.role === 'trades');
  const state = specs.find((s) => s.role === 'klineState');
  if (trades && state && partitions[trades.name] !== partitions[state.name]) {
    throw new KlinestreamError(
      'TOPIC_MISMATCH',
      `${trades.name} has ${partitions[trades.name]} partitions but ${state.name} has ${partitions[state.name]}; they must match (grow both with \`klinestream topics scale --partitions N\`)`,
      { trades: partitions[trades.name], klineState: partitions[state.name] },
    );
  }
  return { created, partitions };
}

export async function partitionCounts(admin: Admin, topics: string[]): Promise<Record<string, number>> {
  const meta = await admin.fetchTopicMetadata({ topics });
  const out: Record<string, number> = {};
  for (const t of meta.topics) out[t.name] = t.partitions.length;
  return out;
}
