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
  let createError: unknown;
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
      // Not kafkajs' own wait for leaders: it gives up at the first UNKNOWN_TOPIC_OR_PARTITION, which is
      // what a broker of a multi-broker cluster answers until it has applied the new topic's metadata.
      await admin.createTopics({ topics, waitForLeaders: false });
    } catch (e) {
      // Another process may have created them between listTopics and createTopics: fine if they show up.
      createError = e;
    }
    for (const s of missing) created.push(s.name);
    log.info('created topics', { topics: missing.map((s) => ({ topic: s.name, partitions: s.partitions, ...s.configs })) });
  }
  // One answer for every topic, with a leader for each partition: the broker asked may be another than the
  // one that answered listTopics, and a broker that has not applied a new topic yet does not know it.
  const ready = await waitForTopicLeaders(admin, specs.map((s) => s.name), createError === undefined ? LEADERS_TIMEOUT_MS : RACE_TIMEOUT_MS);
  if (ready.problem !== undefined) {
    const what = created.length > 0 ? `cannot create topics ${created.join(', ')}` : `topics ${specs.map((s) => s.name).join(', ')} are not ready`;
    const why = createError instanceof Error ? createError.message : ready.problem;
    throw new KlinestreamError('KAFKA_UNAVAILABLE', `${what}: ${why}`, {}, createError === undefined ? {} : { cause: createError });
  }
  const { partitions } = ready;
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

/** How long topics just created may take to have a leader for every partition on every broker asked. */
const LEADERS_TIMEOUT_MS = 30_000;
/** After a failed create (another process creating the same topics at once): how long they may take to show. */
const RACE_TIMEOUT_MS = 10_000;

export type TopicsReady = { partitions: Record<string, number>; problem?: undefined } | { partitions?: undefined; problem: string };

/**
 * Polls the metadata until one answer shows every partition of every topic in `names` with a leader, and
 * returns the partition counts of that answer; after `timeoutMs`, what was last seen instead. A broker of a
 * multi-broker cluster that has not applied a new topic yet answers UNKNOWN_TOPIC_OR_PARTITION for a moment,
 * so a failed request is waited out like a missing leader.
 */
export async function waitForTopicLeaders(admin: Pick<Admin, 'fetchTopicMetadata'>, names: string[], timeoutMs: number, everyMs = 100): Promise<TopicsReady> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let last: string;
    try {
      const meta = await admin.fetchTopicMetadata({ topics: names });
      const found = new Map(meta.topics.map((t) => [t.name, t.partitions]));
      const waiting = names.filter((n) => {
        const partitions = found.get(n);
        return partitions === undefined || partitions.length === 0 || partitions.some((p) => p.leader < 0);
      });
      if (waiting.length === 0) return { partitions: Object.fromEntries(names.map((n) => [n, found.get(n)!.length])) };
      last = `no leader yet for every partition of ${waiting.join(', ')}`;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    if (Date.now() >= deadline) return { problem: `${last} (after ${timeoutMs} ms)` };
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Partition count per topic, once every partition has a leader (bounded: see waitForTopicLeaders, which
 * also waits out a broker that does not know a topic just created yet).
 */
export async function partitionCounts(admin: Pick<Admin, 'fetchTopicMetadata'>, topics: string[], timeoutMs = LEADERS_TIMEOUT_MS): Promise<Record<string, number>> {
  const ready = await waitForTopicLeaders(admin, topics, timeoutMs);
  if (ready.problem !== undefined) throw new KlinestreamError('KAFKA_UNAVAILABLE', `topics ${topics.join(', ')} are not ready: ${ready.problem}`);
  return ready.partitions;
}
