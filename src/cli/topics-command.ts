/**
 * `klinestream topics create|describe [--partitions N]` (`scale --partitions N` is not implemented yet):
 * the topics of SPEC section 2 with their settings, and one screen of facts about them: partitions, settings,
 * symbols placed per partition, end offsets and the worker group's lag per partition.
 */
import type { Admin } from 'kafkajs';
import { loadConfig, topicNames, type Config } from '../config/config';
import { KlinestreamError, UsageError } from '../errors';
import { kafkaClient } from '../kafka/client';
import { ensureTopics, topicSpecs } from '../kafka/topics';
import { createLogger, type Logger } from '../observability/log';
import { resolveConnection, type Connection } from '../stack/stack';
import { parseCommandArgs } from './args';
import type { Command } from './commands';

const USAGE = `Usage: klinestream topics create [--partitions N]
       klinestream topics describe
       klinestream topics scale --partitions N

  create    creates the topics that do not exist (trades, symbols, klines, kline-state, trades-dlq and the
            producer's internal producer-state) with their settings; existing ones are left as they are
  describe  partitions and settings of each topic, symbols placed per partition, and the worker group's
            committed offset and lag per trades partition
  scale     not implemented yet: growing trades and kline-state on a running system needs the symbol
            migration protocol; until then the partition count is set at creation (KLINESTREAM_PARTITIONS)`;

export interface PartitionFacts {
  partition: number;
  end: number;
  committed: number | undefined;
  lag: number;
}

export interface TopicFacts {
  topic: string;
  role: string;
  partitions: number;
  configs: Record<string, string>;
  exists: boolean;
}

export async function describeTopics(admin: Admin, config: Config): Promise<{ topics: TopicFacts[]; trades: PartitionFacts[] }> {
  const names = topicNames(config.topicPrefix);
  const specs = topicSpecs(config);
  const existing = new Set(await admin.listTopics());
  const present = specs.filter((s) => existing.has(s.name));
  const meta = present.length === 0 ? { topics: [] } : await admin.fetchTopicMetadata({ topics: present.map((s) => s.name) });
  const partitions = new Map(meta.topics.map((t) => [t.name, t.partitions.length]));
  const configs = new Map<string, Record<string, string>>();
  if (present.length > 0) {
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: present.map((s) => ({ type: 2 /* TOPIC */, name: s.name, configNames: Object.keys(s.configs) })),
    });
    for (const r of described.resources) configs.set(r.resourceName, Object.fromEntries(r.configEntries.map((c) => [c.configName, c.configValue])));
  }
  const topics = specs.map((s) => ({
    topic: s.name, role: s.role, exists: existing.has(s.name), partitions: partitions.get(s.name) ?? 0, configs: configs.get(s.name) ?? {},
  }));
  const trades: PartitionFacts[] = [];
  if (existing.has(names.trades)) {
    const ends = await admin.fetchTopicOffsets(names.trades);
    const group = await admin.fetchOffsets({ groupId: names.workerGroup, topics: [names.trades] }).catch(() => []);
    const committed = new Map((group[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    for (const e of ends.sort((a, b) => a.partition - b.partition)) {
      const c = committed.get(e.partition);
      const end = Number(e.high);
      const known = c !== undefined && c >= 0 ? c : undefined;
      trades.push({ partition: e.partition, end, committed: known, lag: known === undefined ? end - Number(e.low) : Math.max(0, end - known) });
    }
  }
  return { topics, trades };
}

export function formatDescription(d: { topics: TopicFacts[]; trades: PartitionFacts[] }, placement: number[] | undefined): string {
  const lines: string[] = [];
  for (const t of d.topics) {
    if (!t.exists) {
      lines.push(`${t.topic}  (missing: klinestream topics create)`);
      continue;
    }
    const settings = Object.entries(t.configs).map(([k, v]) => `${k}=${v}`).join(' ');
    lines.push(`${t.topic}  ${t.partitions} partition${t.partitions === 1 ? '' : 's'}  ${settings}`);
  }
  if (d.trades.length > 0) {
    lines.push('', 'trades partition  symbols  end offset  committed  lag');
    for (const p of d.trades) {
      const symbols = placement === undefined ? '-' : String(placement[p.partition] ?? 0);
      lines.push(`${String(p.partition).padStart(16)}  ${symbols.padStart(7)}  ${String(p.end).padStart(10)}  ${String(p.committed ?? '-').padStart(9)}  ${String(p.lag).padStart(3)}`);
    }
    lines.push(`total lag of the worker group: ${d.trades.reduce((a, p) => a + p.lag, 0)}`);
  }
  return lines.join('\n');
}

/** Symbols per trades partition, from the symbols topic (optional: describe works without the registry). */
export type PlacementReader = (config: Config, connection: Connection, log: Logger, partitions: number) => Promise<number[] | undefined>;

export function topicsCommand(placement: PlacementReader, scale?: (config: Config, connection: Connection, log: Logger, partitions: number) => Promise<string>): Command {
  return {
    name: 'topics',
    usage: 'topics create|describe|scale --partitions N',
    summary: 'manage the topics',
    async run(argv) {
      const args = parseCommandArgs('topics', argv, {}, true);
      if (args.values.help) {
        process.stdout.write(USAGE + '\n');
        return 0;
      }
      const [sub, ...extra] = args.positionals;
      if (sub !== 'create' && sub !== 'describe' && sub !== 'scale') throw new UsageError('topics: expected create, describe or scale');
      if (extra.length > 0) throw new UsageError(`topics ${sub}: unexpected argument ${JSON.stringify(extra[0])}`);
      if (sub === 'scale' && args.configFlags.partitions === undefined) throw new UsageError('topics scale: --partitions N is required');
      const config = loadConfig(process.env, args.configFlags);
      const log = createLogger({ level: config.logLevel, bindings: { cmd: `topics ${sub}` } });
      const connection = await resolveConnection(config, log);
      if (sub === 'scale') {
        if (scale === undefined) {
          throw new KlinestreamError('NOT_IMPLEMENTED', 'topics scale is not implemented yet: symbols cannot be moved to new partitions on a running system; create the topics with the partition count you need (KLINESTREAM_PARTITIONS)', {}, { exitCode: 2 });
        }
        process.stdout.write((await scale(config, connection, log, config.partitions)) + '\n');
        return 0;
      }
      const kafka = kafkaClient(config, connection, log, { clientId: 'klinestream-topics' });
      const admin = kafka.admin();
      await admin.connect();
      try {
        if (sub === 'create') {
          const r = await ensureTopics(admin, config, log);
          for (const s of topicSpecs(config)) {
            process.stdout.write(`${s.name}: ${r.created.includes(s.name) ? 'created' : 'exists'}, ${r.partitions[s.name]} partition(s)\n`);
          }
          return 0;
        }
        const d = await describeTopics(admin, config);
        const tradesPartitions = d.topics.find((t) => t.role === 'trades')?.partitions ?? 0;
        const counts = tradesPartitions > 0 ? await placement(config, connection, log, tradesPartitions).catch(() => undefined) : undefined;
        process.stdout.write(formatDescription(d, counts) + '\n');
        return 0;
      } finally {
        await admin.disconnect();
      }
    },
  };
}
