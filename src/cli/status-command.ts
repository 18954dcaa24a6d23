/**
 * `klinestream status`: one screen on the running system. The processes come from the process registry
 * (`<cacheDir>/run/processes/`, see src/observability/process-registry.ts), their rates, errors, gaps, DLQ
 * and restores from their Prometheus metrics (scraped twice, a second apart, for rates), the topics,
 * partitions and the worker group's lag per partition from Kafka (describeTopics of `topics describe`).
 * Never starts anything: a local stack that is down is reported as down.
 */
import type { Config } from '../config/config';
import { loadConfig } from '../config/config';
import { kafkaClient } from '../kafka/client';
import { createLogger, type Logger } from '../observability/log';
import { listProcesses, type ProcessEntry } from '../observability/process-registry';
import { stackStatus, type Connection } from '../stack/stack';
import { kafkaAddress, registryUrl } from '../stack/layout';
import { StatusTracker, defaultFetcher, scrape, summarize, type MetricsTarget, type SystemStatus } from '../web/system-status';
import { parseCommandArgs } from './args';
import type { Command } from './commands';
import { describeTopics, formatDescription, type PartitionFacts, type TopicFacts } from './topics-command';

const USAGE = `Usage: klinestream status [--json]

One screen on the running system: the klinestream processes on this machine (producer, workers, run) with
their rates, errors, gaps, DLQ records and restores from their /metrics, and the topics with their
partitions and the worker group's lag per trades partition. Without KLINESTREAM_TOPIC_PREFIX, the topics of
every application that has a running process are shown (a demo runs under its own prefix).
  --json   the same facts as one JSON object`;

const RATE_WINDOW_MS = 1000;

export interface StatusReport {
  at: string;
  connection: { kind: 'configured' | 'embedded'; brokers: string[]; schemaRegistryUrl: string; up: boolean; detail?: string };
  processes: Array<ProcessEntry & { up?: boolean; error?: string }>;
  metrics: SystemStatus | undefined;
  applications: Array<{ topicPrefix: string; topics: TopicFacts[]; trades: PartitionFacts[]; error?: string }>;
}

function prefixExplicit(env: NodeJS.ProcessEnv, flags: Record<string, string>): boolean {
  return flags['topic-prefix'] !== undefined || (env.KLINESTREAM_TOPIC_PREFIX !== undefined && env.KLINESTREAM_TOPIC_PREFIX !== '');
}

async function connectionOf(config: Config): Promise<StatusReport['connection'] & { connection?: Connection }> {
  if (config.brokers !== undefined && config.schemaRegistryUrl !== undefined) {
    const c = { brokers: config.brokers, schemaRegistryUrl: config.schemaRegistryUrl, embedded: false };
    return { kind: 'configured', brokers: c.brokers, schemaRegistryUrl: c.schemaRegistryUrl, up: true, connection: c };
  }
  const brokers = [kafkaAddress(config)];
  const url = registryUrl(config);
  const services = await stackStatus(config);
  const up = services.every((s) => s.state === 'up' || s.state === 'foreign');
  const detail = services.map((s) => `${s.label} ${s.state}`).join(', ');
  return { kind: 'embedded', brokers, schemaRegistryUrl: url, up, detail, ...(up ? { connection: { brokers, schemaRegistryUrl: url, embedded: true } } : {}) };
}

export async function collectStatus(config: Config, explicitPrefix: boolean, log: Logger, windowMs = RATE_WINDOW_MS): Promise<StatusReport> {
  const entries = listProcesses(config.cacheDir).filter((p) => !explicitPrefix || p.topicPrefix === config.topicPrefix);
  const targets: MetricsTarget[] = entries
    .filter((p) => p.metricsUrl !== undefined && (p.role === 'producer' || p.role === 'worker'))
    .map((p) => ({ name: `${p.role} ${p.pid}`, role: p.role, url: p.metricsUrl!, pid: p.pid }));
  const tracker = new StatusTracker();
  let metrics: SystemStatus | undefined;
  if (targets.length > 0) {
    tracker.next(summarize(targets, await scrape(targets)));
    await new Promise((r) => setTimeout(r, windowMs));
    metrics = tracker.next(summarize(targets, await scrape(targets)));
    metrics.klinesPerSecond = undefined;
    // A running `run` has watched the restores happen: it knows when the last one was.
    const run = entries.find((p) => p.role === 'run' && p.pageUrl !== undefined);
    if (run !== undefined) {
      try {
        const page = JSON.parse(await defaultFetcher(`${run.pageUrl}api/status`, 1500)) as { status?: SystemStatus | null };
        if (page.status?.lastRestoreAt !== undefined) metrics.lastRestoreAt = page.status.lastRestoreAt;
      } catch {
        // the page is optional here
      }
    }
  }
  const up = new Map((metrics?.processes ?? []).map((p) => [p.pid, p]));
  const processes = entries.map((p) => ({ ...p, ...(up.has(p.pid) ? { up: up.get(p.pid)!.up, ...(up.get(p.pid)!.error ? { error: up.get(p.pid)!.error } : {}) } : {}) }));

  const conn = await connectionOf(config);
  const { connection, ...connectionFacts } = conn;
  const prefixes = explicitPrefix ? [config.topicPrefix] : [...new Set(entries.map((p) => p.topicPrefix))];
  if (prefixes.length === 0) prefixes.push(config.topicPrefix);
  const applications: StatusReport['applications'] = [];
  if (connection !== undefined) {
    // The client's own connection errors would garble the screen; an unreachable Kafka is reported below.
    const quiet = config.logLevel === 'debug' ? log : createLogger({ level: 'error', sink: { write: () => undefined } });
    const admin = kafkaClient(config, connection, quiet, { clientId: 'klinestream-status', retry: { retries: 1, initialRetryTime: 200 }, connectionTimeoutMs: 3000, requestTimeoutMs: 10_000 }).admin();
    try {
      await admin.connect();
      for (const topicPrefix of prefixes) {
        const d = await describeTopics(admin, { ...config, topicPrefix });
        applications.push({ topicPrefix, ...d });
      }
    } catch (e) {
      applications.push({ topicPrefix: prefixes.join(', '), topics: [], trades: [], error: `Kafka at ${connection.brokers.join(',')} cannot be reached: ${(e as Error).message}` });
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
  return { at: new Date().toISOString(), connection: connectionFacts, processes, metrics, applications };
}

const n = (x: number | undefined, digits = 0) => (x === undefined ? '-' : x.toFixed(digits));

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatStatus(r: StatusReport): string {
  const lines: string[] = [`klinestream status at ${r.at}`, ''];
  const c = r.connection;
  lines.push(c.kind === 'configured'
    ? `Kafka ${c.brokers.join(',')}, registry ${c.schemaRegistryUrl} (configured)`
    : `local stack: Kafka ${c.brokers.join(',')}, registry ${c.schemaRegistryUrl}: ${c.up ? 'up' : `not running (${c.detail}); start it with klinestream stack up, or everything with npm start`}`);
  lines.push('', 'processes');
  if (r.processes.length === 0) lines.push('  none registered on this machine (start them with npm start, npm run demo, or klinestream produce / work)');
  for (const p of r.processes) {
    const where = p.role === 'run' ? `page ${p.pageUrl ?? '-'}` : `metrics ${p.metricsUrl ?? '-'}`;
    const state = p.up === false ? `  NOT ANSWERING: ${p.error ?? ''}` : '';
    const source = p.source ? `  source ${p.source}` : '';
    lines.push(`  ${p.role.padEnd(8)} pid ${String(p.pid).padEnd(7)} up ${age(Date.now() - p.startedAt).padEnd(7)} prefix ${JSON.stringify(p.topicPrefix)}  ${where}${source}${state}`);
  }
  const m = r.metrics;
  if (m !== undefined) {
    lines.push('');
    lines.push(`rates     ${n(m.tradesPerSecond, 1)} trades/s produced, ${n(m.appliedPerSecond, 1)} trades/s applied by the workers (${n(m.tradesTotal)} written, ${n(m.appliedTotal)} applied in total)`);
    lines.push(`errors    bad frames ${n(m.badFrames)}, late trades ${n(m.lateTrades)}, DLQ records ${n(m.dlq)}, Kafka ${m.kafkaHealthy === undefined ? '-' : m.kafkaHealthy ? 'healthy' : 'UNAVAILABLE to the producer'}`);
    lines.push(`gaps      found ${n(m.gapsFound)}, filled ${n(m.gapsFilled)}, unfillable ${n(m.unfillableGaps)}; duplicates dropped ${n(m.duplicatesDropped)}`);
    lines.push(`restores  ${n(m.restores)} partition restores (${n(m.restoredSymbols)} symbols), mean ${m.restoreMeanSeconds === undefined ? '-' : `${m.restoreMeanSeconds.toFixed(2)} s`}, last ${m.lastRestoreAt === undefined ? 'not seen' : new Date(m.lastRestoreAt).toISOString()}`);
    if (m.lag.length > 0) lines.push(`lag       ${m.lag.map((l) => `p${l.partition} ${l.lag}`).join(', ')} (workers' view, total ${m.totalLag})`);
  }
  for (const a of r.applications) {
    lines.push('', `topics of prefix ${JSON.stringify(a.topicPrefix)}`);
    if (a.error !== undefined) {
      lines.push(`  ${a.error}`);
      continue;
    }
    for (const l of formatDescription(a, undefined).split('\n')) lines.push(`  ${l}`);
  }
  return lines.join('\n');
}

export const statusCommand: Command = {
  name: 'status',
  usage: 'status [--json]',
  summary: 'one screen: processes, topics, partitions, lag, rates, errors, gaps, DLQ',
  async run(argv) {
    const args = parseCommandArgs('status', argv, { json: { type: 'boolean' } });
    if (args.values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    const config = loadConfig(process.env, args.configFlags);
    const log = createLogger({ level: config.logLevel === 'debug' ? 'debug' : 'error', bindings: { cmd: 'status' } });
    const report = await collectStatus(config, prefixExplicit(process.env, args.configFlags), log);
    process.stdout.write((args.values.json === true ? JSON.stringify(report) : formatStatus(report)) + '\n');
    return 0;
  },
};
