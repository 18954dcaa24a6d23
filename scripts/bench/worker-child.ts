/**
 * A child process of the worker benchmarks (forked by worker-bench-support.ts, not run by hand), one of:
 *
 *   worker: the Worker of `klinestream work` (src/worker/worker.ts), with the group and output topics given
 *           the way `klinestream replay` gives them (a fresh group and fresh kline-state / klines / DLQ topics
 *           over the existing trades), until caught up or SIGTERM;
 *   bare:   a kafkajs eachBatch consumer with the worker's fetch settings that only counts the messages of the
 *           topic, until every partition reached the end offsets it was given.
 *
 * The task comes as JSON in argv[2]. Log lines go to stderr as usual; the ones the benchmark times (group
 * join, restores, caught up) are also sent to the parent over IPC with the time they were written, and the
 * summary with the process's memory at the end.
 */
// As the CLI does, before kafkajs loads: the linear message grouping (src/kafka/kafkajs-patch.ts).
import '../../src/kafka/kafkajs-patch';
import { loadConfig } from '../../src/config/config';
import { kafkaClient } from '../../src/kafka/client';
import { createLogger } from '../../src/observability/log';
import { createRegistry } from '../../src/observability/metrics';
import type { Connection } from '../../src/stack/stack';
import { Worker } from '../../src/worker/worker';
import type { ChildMessage, ChildTask } from './worker-bench-support';

const FORWARDED = new Set([
  'worker running', 'partitions assigned', 'partition restored from kline-state', 'partition given up', 'caught up: the group has no lag',
  'flush failed: fetching paused, retrying (nothing is committed past unpublished klines)',
]);

function send(m: ChildMessage): void {
  process.send?.(m);
}

const task = JSON.parse(process.argv[2] ?? '{}') as ChildTask;
const config = loadConfig(process.env);
const connection: Connection = { brokers: config.brokers!, schemaRegistryUrl: config.schemaRegistryUrl!, embedded: false };
const log = createLogger({
  level: config.logLevel,
  bindings: { cmd: `bench-${task.mode}`, pid: process.pid },
  sink: {
    write(line) {
      process.stderr.write(line);
      const time = Date.now();
      const r = JSON.parse(line) as { msg: string };
      if (FORWARDED.has(r.msg)) send({ type: 'log', time, msg: r.msg, fields: { ...r, rss: process.memoryUsage.rss() } });
    },
  },
});
const abort = new AbortController();
process.on('SIGTERM', () => abort.abort());
process.on('SIGINT', () => abort.abort());

function memory(): { rss: number; heapUsed: number; maxRss: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, maxRss: process.resourceUsage().maxRSS * 1024 };
}

async function runWorker(t: Extract<ChildTask, { mode: 'worker' }>): Promise<Record<string, unknown>> {
  const worker = new Worker({
    config, connection, log, registry: createRegistry('worker'), signal: abort.signal, untilCaughtUp: t.untilCaughtUp,
    groupId: t.groupId, klinesTopic: t.klinesTopic, klineStateTopic: t.klineStateTopic, dlqTopic: t.dlqTopic, fromBeginning: true,
  });
  return { ...(await worker.run()) };
}

async function runBare(t: Extract<ChildTask, { mode: 'bare' }>): Promise<Record<string, unknown>> {
  const kafka = kafkaClient(config, connection, log, { clientId: 'wbench-bare' });
  // The worker's consumer settings (src/worker/worker.ts), so that only the processing differs.
  const consumer = kafka.consumer({
    groupId: t.groupId, allowAutoTopicCreation: false, sessionTimeout: 10_000, heartbeatInterval: 1000, maxBytesPerPartition: 4 << 20, maxWaitTimeInMs: 100,
  });
  const ends = new Map(Object.entries(t.ends).map(([p, e]) => [Number(p), e]));
  let endTotal = 0;
  for (const e of ends.values()) endTotal += e;
  const position = new Map<number, number>();
  let messages = 0;
  let trades = 0;
  let progressed = 0;
  let nextMark = 0;
  const marks = [0.1, 0.5, 0.9];
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const advance = (p: number, next: number) => {
    const before = position.get(p) ?? 0;
    if (next <= before) return;
    position.set(p, next);
    progressed += next - before;
    while (nextMark < marks.length && progressed >= marks[nextMark]! * endTotal) {
      send({ type: 'mark', time: Date.now(), name: `p${marks[nextMark]! * 100}`, value: messages });
      nextMark++;
    }
    let done = true;
    for (const [q, e] of ends) if ((position.get(q) ?? 0) < e) done = false;
    if (done) finish();
  };
  consumer.on(consumer.events.GROUP_JOIN, () => send({ type: 'log', time: Date.now(), msg: 'partitions assigned', fields: {} }));
  // Batches of transaction markers only never reach eachBatch; their end offsets arrive here.
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => advance(e.payload.partition, Number(e.payload.lastOffset) + 1));
  await consumer.connect();
  await consumer.subscribe({ topic: t.topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 1,
    eachBatch: async ({ batch }) => {
      const ms = batch.messages;
      messages += ms.length;
      for (let i = 0; i < ms.length; i++) if (ms[i]!.key !== null) trades++;
    },
  });
  await Promise.race([finished, new Promise((resolve) => abort.signal.addEventListener('abort', resolve, { once: true }))]);
  const end = Date.now();
  send({ type: 'log', time: end, msg: 'caught up: the group has no lag', fields: {} });
  await consumer.disconnect();
  return { messages, trades, endMs: end };
}

async function main(): Promise<void> {
  const summary = task.mode === 'worker' ? await runWorker(task) : await runBare(task);
  const m = memory();
  await new Promise<void>((resolve) => process.send!({ type: 'done', time: Date.now(), summary, ...m } satisfies ChildMessage, () => resolve()));
  process.exit(0);
}

main().catch((e: unknown) => {
  process.stderr.write(`worker-child: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
