/**
 * Shared parts of the worker benchmarks (worker.bench.ts, worker-latency.ts): connection settings, the
 * synthetic market (frames file for the real producer), child processes (the CLI, worker-child.js) and the
 * clean-up of the benchmark's topics, groups and schema subjects.
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { Admin, Kafka } from 'kafkajs';
import { loadConfig, type Config } from '../../src/config/config';
import { kafkaClient } from '../../src/kafka/client';
import { createLogger, type Logger } from '../../src/observability/log';
import type { Connection } from '../../src/stack/stack';
import { prng } from './bench-input';

export { prng };

export const PARTITIONS = 4;
export const CLI = path.resolve(__dirname, '../../src/cli/main.js');
export const CHILD = path.resolve(__dirname, 'worker-child.js');

/** Zipf-like activity (exponent 1) over n symbols: draws a symbol number. */
export function zipf(n: number, rnd: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let s = 0; s < n; s++) cdf[s] = total += 1 / (s + 1);
  for (let s = 0; s < n; s++) cdf[s]! /= total;
  return () => {
    const u = rnd();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export const symbolName = (s: number): string => `WB${String(s).padStart(4, '0')}USDT`;

export interface BenchConnection {
  brokers: string;
  registry: string;
}

export function benchConnection(brokers: string | undefined, registry: string | undefined): BenchConnection {
  return {
    brokers: brokers ?? process.env.KAFKA_BROKERS ?? '127.0.0.1:19092',
    registry: registry ?? process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:18081/apis/ccompat/v7',
  };
}

/** The environment of every klinestream process of the benchmark: the app of topic prefix `prefix`. */
export function appEnv(conn: BenchConnection, prefix: string, cacheDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KAFKA_BROKERS: conn.brokers, SCHEMA_REGISTRY_URL: conn.registry, KLINESTREAM_TOPIC_PREFIX: prefix,
    KLINESTREAM_PARTITIONS: String(PARTITIONS), KLINESTREAM_METRICS_PORT: '0', KLINESTREAM_LOG_LEVEL: 'info',
    // The benchmark's processes are not the user's running system: keep them out of `klinestream status`.
    KLINESTREAM_CACHE_DIR: cacheDir,
    ...extra,
  };
}

/** Config, connection and a kafkajs client for the benchmark process itself. */
export function benchKafka(env: NodeJS.ProcessEnv, clientId: string): { config: Config; connection: Connection; kafka: Kafka; log: Logger } {
  const config = loadConfig(env);
  const log = createLogger({ level: 'warn', bindings: { cmd: 'bench' } });
  const connection: Connection = { brokers: config.brokers!, schemaRegistryUrl: config.schemaRegistryUrl!, embedded: false };
  return { config, connection, kafka: kafkaClient(config, connection, log, { clientId }), log };
}

export interface FramesSpec {
  trades: number;
  symbols: number;
  /** Trades per second of event time. */
  rate: number;
  start: number;
  seed: number;
}

/**
 * A gzipped frames file (combined-stream aggTrade frames, one per line, as `produce --source file:` reads
 * them): Zipf-like activity over `symbols` symbols, random-walk prices, ids contiguous per symbol. Every
 * symbol trades once at the start, so that all of them exist whatever their activity.
 */
export async function writeFramesFile(file: string, spec: FramesSpec): Promise<void> {
  const rnd = prng(spec.seed);
  const pick = zipf(spec.symbols, rnd);
  const names = Array.from({ length: spec.symbols }, (_, s) => symbolName(s));
  const streams = names.map((n) => `${n.toLowerCase()}@aggTrade`);
  const price = Float64Array.from({ length: spec.symbols }, () => 10 + rnd() * 1000);
  const nextId = new Float64Array(spec.symbols).fill(1_000_000);
  const gz = zlib.createGzip({ level: 1 });
  const out = fs.createWriteStream(file);
  const done = new Promise<void>((resolve, reject) => {
    out.on('finish', resolve);
    out.on('error', reject);
    gz.on('error', reject);
  });
  gz.pipe(out);
  const msPerTrade = 1000 / spec.rate;
  let lines: string[] = [];
  for (let i = 0; i < spec.trades; i++) {
    const s = i < spec.symbols ? i : pick();
    const t = Math.floor(spec.start + i * msPerTrade);
    price[s] = Math.max(0.01, Math.round(price[s]! * (1 + (rnd() - 0.5) * 0.001) * 100) / 100);
    const a = nextId[s]!++;
    const n = 1 + Math.floor(rnd() * 3);
    const q = (Math.round(rnd() * 10_000) / 1000 + 0.001).toFixed(3);
    lines.push(
      `{"stream":"${streams[s]}","data":{"e":"aggTrade","E":${t + 5},"s":"${names[s]}","a":${a},"p":"${price[s]!.toFixed(2)}","q":"${q}",` +
        `"f":${a * 4},"l":${a * 4 + n - 1},"T":${t},"m":${rnd() < 0.5}}}`,
    );
    if (lines.length === 10_000) {
      if (!gz.write(lines.join('\n') + '\n')) await new Promise((r) => gz.once('drain', r));
      lines = [];
    }
  }
  if (lines.length > 0) gz.write(lines.join('\n') + '\n');
  gz.end();
  await done;
}

export interface ChildResult {
  code: number | null;
  stderr: string;
}

/** Runs the CLI with `args` under `env`; resolves with the exit code and the (tail of the) stderr. */
export function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<ChildResult> {
  return watch(fork(CLI, args, { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }));
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

function watch(child: ChildProcess): Promise<ChildResult> {
  live.add(child);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-20_000);
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      live.delete(child);
      resolve({ code, stderr });
    });
  });
}

/** What worker-child.js is asked to run. */
export type ChildTask =
  | { mode: 'worker'; groupId: string; klinesTopic: string; klineStateTopic: string; dlqTopic: string; untilCaughtUp: boolean }
  | { mode: 'bare'; groupId: string; topic: string; ends: Record<number, number> };

/** Messages from worker-child.js: log events of interest, progress marks, the summary. */
export type ChildMessage =
  | { type: 'log'; time: number; msg: string; fields: Record<string, unknown> }
  | { type: 'mark'; time: number; name: string; value: number }
  | { type: 'done'; time: number; summary: Record<string, unknown>; rss: number; heapUsed: number; maxRss: number };

export interface ChildHandle {
  child: ChildProcess;
  messages: ChildMessage[];
  /** Resolves with the exit code once the child exited. */
  exited: Promise<ChildResult>;
  /** Resolves when a log message `msg` has been seen. */
  waitFor(msg: string, timeoutMs?: number): Promise<ChildMessage>;
  stop(): Promise<ChildResult>;
}

export function startChild(task: ChildTask, env: NodeJS.ProcessEnv): ChildHandle {
  // WBENCH_CHILD_NODE_ARGS: extra node flags for the contenders, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const extra = (process.env.WBENCH_CHILD_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = fork(CHILD, [JSON.stringify(task)], { env, execArgv: ['--expose-gc', ...extra], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const messages: ChildMessage[] = [];
  const waiters: Array<{ msg: string; resolve: (m: ChildMessage) => void }> = [];
  child.on('message', (m: ChildMessage) => {
    messages.push(m);
    if (m.type !== 'log') return;
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.msg === m.msg) waiters.splice(i, 1)[0]!.resolve(m);
    }
  });
  const exited = watch(child);
  return {
    child, messages, exited,
    waitFor(msg, timeoutMs = 60_000) {
      const seen = messages.find((m) => m.type === 'log' && m.msg === msg);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`worker child: no "${msg}" within ${timeoutMs} ms`)), timeoutMs);
        void exited.then((r) => reject(new Error(`worker child exited (${r.code}) before "${msg}":\n${r.stderr.slice(-3000)}`)));
        waiters.push({ msg, resolve: (m) => (clearTimeout(t), resolve(m)) });
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

export async function expectExit(what: string, p: Promise<ChildResult>): Promise<ChildResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} exited with ${r.code}:\n${r.stderr.slice(-4000)}`);
  return r;
}

/** Sum of the end offsets of `topic` (markers of transactions included) and each partition's end. */
export async function topicEnds(admin: Admin, topic: string): Promise<{ total: number; ends: Record<number, number> }> {
  const ends: Record<number, number> = {};
  let total = 0;
  for (const o of await admin.fetchTopicOffsets(topic)) {
    ends[o.partition] = Number(o.high);
    total += Number(o.high) - Number(o.low);
  }
  return { total, ends };
}

/** Deletes every topic, consumer group and registry subject whose name starts with `prefix`. */
export async function cleanup(admin: Admin, registryUrl: string, prefix: string): Promise<{ topics: number; groups: number; subjects: number }> {
  const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
  const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(prefix));
  if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
  if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 }).catch(() => undefined);
  let subjects = 0;
  try {
    const res = await fetch(`${registryUrl}/subjects`);
    const all = (await res.json()) as string[];
    for (const s of all.filter((x) => x.startsWith(prefix))) {
      await fetch(`${registryUrl}/subjects/${encodeURIComponent(s)}`, { method: 'DELETE' });
      await fetch(`${registryUrl}/subjects/${encodeURIComponent(s)}?permanent=true`, { method: 'DELETE' });
      subjects++;
    }
  } catch {
    // The registry keeps a few benchmark subjects; harmless.
  }
  return { topics: topics.length, groups: groups.length, subjects };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The q-quantile (0..1) of sorted values, nearest rank. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(0)} MB`;
